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
#include "hecnn/he/network.h"
#include "hecnn/io/planner.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/io/plan_report.h"

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
    std::vector<int> ranks;                 // --ranks: predict R ranks (he::predict_ranks)
    std::vector<std::string> nets;          // empty: he::Network's default
    std::string net_latency;                // empty: he::Network's default
};

// A usage error before the (long) planning when a --net or --net-latency value is garbage.
template <double (*parse)(std::string_view)>
CLI::Validator network_check(const char* name) {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            try {
                parse(text);
                return {};
            } catch (const std::invalid_argument& e) {
                return e.what();
            }
        },
        "", name);
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

    std::fputs(io::plan_report(made, req, o.model).c_str(), stdout);
    if (!o.ranks.empty()) {
        std::vector<he::Network> nets;
        for (const auto& n : o.nets) nets.push_back(he::Network::parse(n, o.net_latency));
        if (nets.empty()) nets.push_back(he::Network::parse({}, o.net_latency));
        std::fputs(io::ranks_report(made, req, o.ranks, nets).c_str(), stdout);
    }
    const auto& in = planned.ranges.front();

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
    cmd->add_option("--ranks", o->ranks,
                    "Also predict the plan run by R MPI ranks (`mpirun -np R hecnn infer`), one per machine, each with --threads and "
                    "--memory: a list, e.g. 1,2,4,8,16,32,64 (time, speedup, per-rank peak memory, bytes exchanged; docs/MPI.md)")
        ->delimiter(',')->check(CLI::Range(1, 65536))->type_name("R,...");
    const he::Network net;  // the defaults
    cmd->add_option("--net", o->nets, "With --ranks: the network between the machines, each rank's link per direction, a list: 10Gbit, 100Gbit/s, 800Mbit, … (default: " + net.name() + ")")
        ->delimiter(',')->check(network_check<&he::Network::parse_bandwidth>("BANDWIDTH"))->type_name("BANDWIDTH,...");
    cmd->add_option("--net-latency", o->net_latency, "With --ranks: the time per message on top of its bytes: 20us, 2us, 1.5ms, 0 (default: " + net.latency_name() + ", MPI over TCP)")
        ->check(network_check<&he::Network::parse_latency>("LATENCY"))->type_name("LATENCY");
    cmd->add_option("--json", o->json, "Write the plan and prediction as JSON");
    cmd->add_option("--out", o->out, "Write the plan file PLAN.json for `hecnn keygen` and `hecnn serve` (calibrate on the data it will see: --calib)");
    cmd->callback([o] { run_plan(*o); });
}

}  // namespace hecnn::cli
