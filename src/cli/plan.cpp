#include "plan.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "execution_options.h"
#include "format.h"
#include "preprocessing_options.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/memory.h"
#include "hecnn/io/planner.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/plan_file.h"

namespace hecnn::cli {
namespace {

struct PlanOptions {
    std::string model, json, rates, out;
    std::vector<std::string> calib{"random"};
    std::size_t batch = 0, calib_samples = 256;
    he::MemoryBudget memory;
    int log_n = 0, threads = 1;
    double scale_bits = 40;
    bool no_lazy = false;
    he::PoolSteps pools = he::PoolSteps::Auto;
    nn::PreprocessingOverride preprocessing;
};

std::string join(const std::vector<double>& v, const char* none) {
    if (v.empty()) return none;
    std::string s;
    for (double x : v) {
        char b[32];
        std::snprintf(b, sizeof b, "%s%.6g", s.empty() ? "" : ",", x);
        s += b;
    }
    return s;
}

// "scale 1/255, mean 0.286, std 0.353 (given on the command line)": what clients will apply.
std::string describe(const nn::Preprocessing& p, const nn::Model& m, const nn::PreprocessingOverride& given) {
    char scale[32];
    if (std::fabs(p.scale * 255 - 1) < 1e-12) std::snprintf(scale, sizeof scale, "1/255");
    else std::snprintf(scale, sizeof scale, "%.6g", p.scale);
    std::string s = std::string("scale ") + scale + ", mean " + join(p.mean, "0") + ", std " + join(p.std, "1") + "; " +
                    (p.classes.empty() ? "no class names" : std::to_string(p.classes.size()) + " class names");
    const bool meta = m.metadata.count(io::kMetaMean) || m.metadata.count(io::kMetaScale);
    if (!given.empty()) s += " (command line over " + std::string(meta ? "the model's metadata)" : "the defaults)");
    else s += meta ? " (the model's metadata)" : " (defaults: the model names no preprocessing; give --mean/--std if it was trained on standardised inputs)";
    return s;
}

void run_plan(const PlanOptions& o) {
    io::PlanRequest req;
    req.preprocessing = o.preprocessing;
    req.calib = o.calib;
    req.calib_samples = o.calib_samples;
    req.pipeline.compile.lazy_relin = !o.no_lazy;
    req.pipeline.pools = o.pools;
    req.pipeline.params.batch = o.batch;
    req.pipeline.params.log_n = o.log_n;
    req.pipeline.params.scale_bits = o.scale_bits;
    req.server.threads = o.threads;
    req.server.memory = o.memory;  // resolved once, recorded in the plan file
    req.server.lazy_inputs = true;  // a server reads the uploaded batch as the schedule needs it (he::InputProvider)
    req.rates_file = o.rates;
    const auto made = io::make_plan(o.model, req);
    const auto& m = made.model;
    const auto& planned = made.planned;
    const auto& plan = planned.compiled.plan;
    const auto& ch = planned.compiled.choice;
    const auto& ctx = made.context;
    const auto& rates = made.rates;
    const auto& pred = made.prediction;
    const double cold_seconds = pred.seconds + pred.cold_first_touch_seconds;  // the first run touches its memory first
    const std::size_t batch = made.file.batch;
    if (!o.out.empty()) {
        // The contract clients (keygen, encrypt) and `hecnn serve` work from.
        io::save_plan(o.out, made.file);
        std::printf("wrote       %s (plan file for hecnn keygen / hecnn serve)\n", o.out.c_str());
    }

    std::printf("model       %s: input %s, output %s, %.2f M MACs per image\n", o.model.c_str(), nn::to_string(m.input_shape()).c_str(),
                nn::to_string(m.output_shape()).c_str(), m.macs_per_sample() / 1e6);
    std::printf("parameters  %s\n            %s\n", ctx->describe().c_str(), ch.explain.c_str());
    std::printf("pools       %s\n", planned.compiled.pools.c_str());
    std::printf("inputs      %s\n", describe(planned.preprocessing, m, o.preprocessing).c_str());
    std::printf("calibration %s; rates: %s (%d thread(s), predicting %d)\n\n", planned.calib_source.c_str(), rates.source.c_str(),
                rates.threads, o.threads);
    // max |v|: the calibrated range of the step's outputs; room: bits they may grow before
    // they overflow q_0 (he::value_headroom).
    std::printf("%-3s %-7s %-28s %5s %4s %7s %9s %9s %6s %9s %10s %10s %10s %11s %7s %10s\n", "#", "step", "from", "level", "size", "log2 Δ",
                "outputs", "max |v|", "room", "live", "held", "peak mem", "spilled", "MACs", "relins", "time");
    const auto& in = planned.ranges.front();
    std::printf("%-3s %-7s %-28s %5d %4d %7s %9d %9.3g %6.1f\n", "-", "input", "(preprocessed images)", ctx->max_level(), 2, "", plan.input_count,
                in.max_abs, in.headroom_bits);
    std::size_t tightest = 0;
    for (std::size_t i = 1; i < planned.ranges.size(); ++i)
        if (planned.ranges[i].headroom_bits < planned.ranges[tightest].headroom_bits) tightest = i;
    for (std::size_t i = 0; i < pred.steps.size(); ++i) {
        const auto& s = pred.steps[i];
        std::string name = s.name.size() > 28 ? s.name.substr(0, 25) + "..." : s.name;
        const std::string kind = s.kind + (plan.steps[i].lazy_relin ? "*" : "");
        const auto& r = planned.ranges.at(i + 1);
        std::printf("%-3zu %-7s %-28s %5d %4d %7.3f %9zu %9.3g %6.1f %9zu %10s %10s %10s %11lld %7lld %10s\n", i, kind.c_str(), name.c_str(), s.level,
                    s.size, std::log2(s.min_scale), s.outputs, r.max_abs, r.headroom_bits, s.live, human_bytes(static_cast<double>(s.live_bytes)).c_str(),
                    human_bytes(static_cast<double>(s.peak_bytes)).c_str(), human_bytes(static_cast<double>(s.spill_bytes)).c_str(),
                    static_cast<long long>(s.macs), static_cast<long long>(s.relins), human_ms(s.seconds * 1e3).c_str());
    }
    std::printf("(* relinearisation and rescale deferred into the next linear step; held = ciphertexts in memory after the step; "
                "spilled = written to disk during the step)\n");
    const auto& t = planned.ranges[tightest];
    std::printf("headroom    q_0 %d bits, Δ 2^%g: values decrypt correctly up to |v| < 2^%.1f; the calibrated values leave at least %.1f bits "
                "(%s), %g asked for\n",
                ch.q0_bits, ch.literal.log_scale, ch.q0_bits - 1 - ch.literal.log_scale, t.headroom_bits,
                t.step < 0 ? "the inputs" : ("step " + std::to_string(t.step) + " '" + plan.steps[static_cast<std::size_t>(t.step)].name + "'").c_str(),
                req.pipeline.params.margin_bits);
    std::printf("total       depth %d, %lld ciphertext MACs, %lld squares, %lld relinearisations, %lld rescales\n", plan.depth,
                static_cast<long long>(pred.macs), static_cast<long long>(pred.squares), static_cast<long long>(pred.relins),
                static_cast<long long>(pred.rescales));
    std::printf("memory      budget %s: peak %s of ciphertexts (inputs read on demand, %s order); spill traffic %s written, %s read back, "
                "at most %s on disk at once\n",
                pred.memory_budget.describe().c_str(),
                human_bytes(static_cast<double>(pred.peak_bytes)).c_str(), pred.depth_first ? "depth-first" : "step-by-step",
                human_bytes(static_cast<double>(pred.spill_bytes)).c_str(), human_bytes(static_cast<double>(pred.load_bytes)).c_str(),
                human_bytes(static_cast<double>(pred.max_spilled_bytes)).c_str());
    std::printf("time        %s = %s per image (batch %zu, %d thread(s), warm); first run of a process %s\n", human_ms(pred.seconds * 1e3).c_str(),
                human_ms(pred.seconds * 1e3 / static_cast<double>(batch)).c_str(), batch, o.threads, human_ms(cold_seconds * 1e3).c_str());
    std::printf("client      %zu input ciphertexts: %s (%s seeded); %zu output ciphertexts: %s\n", pred.input_ciphertexts,
                human_bytes(static_cast<double>(pred.input_bytes)).c_str(), human_bytes(static_cast<double>(pred.input_bytes_seeded)).c_str(),
                pred.output_ciphertexts, human_bytes(static_cast<double>(pred.output_bytes)).c_str());

    if (!o.json.empty()) {
        nlohmann::json j;
        j["model"] = o.model;
        j["parameters"] = {{"log_n", ch.literal.log_n},
                           {"data_prime_bits", ch.literal.data_prime_bits},
                           {"special_prime_bits", ch.literal.special_prime_bits},
                           {"log_scale", ch.literal.log_scale},
                           {"log_qp", ch.log_qp},
                           {"max_log_qp_128", ch.max_log_qp},
                           {"secure_128", ctx->secure_128()},
                           {"explain", ch.explain}};
        j["pools"] = planned.compiled.pools;
        const auto& pp = planned.preprocessing;
        j["preprocessing"] = {{"scale", pp.scale}, {"mean", pp.mean}, {"std", pp.std}, {"classes", pp.classes}};
        j["calibration"] = planned.calib_source;
        j["inputs"] = {{"max_abs", in.max_abs}, {"headroom_bits", in.headroom_bits}};
        j["depth"] = plan.depth;
        j["batch"] = batch;
        j["rates"] = {{"source", rates.source}, {"threads", rates.threads}};
        auto steps = nlohmann::json::array();
        for (std::size_t i = 0; i < pred.steps.size(); ++i) {
            const auto& s = pred.steps[i];
            steps.push_back({{"kind", s.kind}, {"name", s.name}, {"level", s.level}, {"size", s.size}, {"log2_scale", std::log2(s.min_scale)},
                             {"outputs", s.outputs}, {"groups", plan.steps[i].groups.size()}, {"live", s.live}, {"live_bytes", s.live_bytes},
                             {"peak_bytes", s.peak_bytes}, {"macs", s.macs}, {"squares", s.squares}, {"relins", s.relins},
                             {"rescales", s.rescales}, {"drops", s.drops}, {"lazy_relin", plan.steps[i].lazy_relin},
                             {"spilled", s.spilled}, {"spill_bytes", s.spill_bytes}, {"load_bytes", s.load_bytes},
                             {"seconds", s.seconds}, {"max_abs", planned.ranges.at(i + 1).max_abs},
                             {"headroom_bits", planned.ranges.at(i + 1).headroom_bits}});
        }
        j["steps"] = steps;
        j["totals"] = {{"macs", pred.macs}, {"squares", pred.squares}, {"relins", pred.relins}, {"rescales", pred.rescales},
                       {"memory_budget", budget_json(pred.memory_budget)}, {"peak_bytes", pred.peak_bytes}, {"spill_bytes", pred.spill_bytes},
                       {"load_bytes", pred.load_bytes}, {"max_spilled_bytes", pred.max_spilled_bytes}, {"depth_first", pred.depth_first}, {"seconds", pred.seconds}, {"cold_seconds", cold_seconds},
                       {"seconds_per_image", pred.seconds / batch},
                       {"input_ciphertexts", pred.input_ciphertexts}, {"input_bytes", pred.input_bytes},
                       {"input_bytes_seeded", pred.input_bytes_seeded}, {"output_bytes", pred.output_bytes}};
        std::ofstream(o.json) << j.dump(2) << "\n";
        std::printf("wrote %s\n", o.json.c_str());
    }
}

}  // namespace

void add_plan(CLI::App& app) {
    auto o = std::make_shared<PlanOptions>();
    auto* cmd = app.add_subcommand("plan", "Compile an ONNX model to an HE plan: folding, levels, parameters, predicted cost per layer");
    cmd->add_option("model", o->model, "ONNX model")->required()->check(CLI::ExistingFile);
    cmd->add_option("--batch", o->batch, "Images per batch (0: all slots of the smallest ring)");
    add_memory_option(cmd, o->memory, "The server's (the prediction assumes it; stored in the plan file)");
    cmd->add_option("--log-n", o->log_n, "Ring degree 2^n (0: automatic)");
    cmd->add_option("--scale-bits", o->scale_bits, "log2 of the scale Δ")->capture_default_str();
    cmd->add_option("--calib", o->calib,
                    "Calibration data, always its TRAINING part: fashion-mnist [DIR] | cifar10 DIR | folder DIR (its training split, as "
                    "`hecnn train`) | image FILES | random (uniform in [-3, 3], no data)")
        ->expected(1, -1)->capture_default_str();
    cmd->add_option("--calib-samples", o->calib_samples, "Calibration images (a stratified sample of the training part)")->capture_default_str();
    add_preprocessing_options(cmd, o->preprocessing, "stored in the plan: keygen, encrypt and client apply exactly these");
    cmd->add_option("--rates", o->rates, "Kernel rates for the prediction: a file of `hecnn bench rates --out` or `hecnn bench ckks --json` (default: this machine's, measured by `hecnn bench rates`, else built-in)");
    cmd->add_option("--threads", o->threads, "Threads the time prediction assumes")->capture_default_str();
    cmd->add_flag("--no-lazy-relin", o->no_lazy, "Never defer relinearisation");
    add_pools_option(cmd, o->pools);
    cmd->add_option("--json", o->json, "Write the plan and prediction as JSON");
    cmd->add_option("--out", o->out, "Write the plan file PLAN.json for `hecnn keygen` and `hecnn serve` (calibrate on the data it will see: --calib)");
    cmd->callback([o] { run_plan(*o); });
}

}  // namespace hecnn::cli
