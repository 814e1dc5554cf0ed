// The report of a plan (plan_report.h): what `hecnn plan` prints and Plan.describe() returns.
#include "hecnn/io/plan_report.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "hecnn/he/scaling.h"
#include "hecnn/io/format.h"
#include "hecnn/io/json.h"
#include "hecnn/io/onnx.h"

namespace hecnn::io {
namespace {

[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
    va_list a, b;
    va_start(a, fmt);
    va_copy(b, a);
    const int n = std::vsnprintf(nullptr, 0, fmt, a);
    va_end(a);
    if (n > 0) {
        const std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(n) + 1);
        std::vsnprintf(out.data() + at, static_cast<std::size_t>(n) + 1, fmt, b);
        out.resize(at + static_cast<std::size_t>(n));
    }
    va_end(b);
}

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

}  // namespace

std::string plan_report(const ModelPlan& made, const PlanRequest& r, const std::string& model_label) {
    std::string out;
    const auto& m = made.model;
    const auto& planned = made.planned;
    const auto& plan = planned.compiled.plan;
    const auto& ch = planned.compiled.choice;
    const auto& ctx = made.context;
    const auto& rates = made.rates;
    const auto& pred = made.prediction;
    const double cold_seconds = pred.seconds + pred.cold_first_touch_seconds;  // the first run touches its memory first
    const std::size_t batch = made.file.batch;
    appendf(out, "model       %s: input %s, output %s, %.2f M MACs per image\n", model_label.c_str(), nn::to_string(m.input_shape()).c_str(),
                nn::to_string(m.output_shape()).c_str(), m.macs_per_sample() / 1e6);
    appendf(out, "parameters  %s\n            %s\n", ctx->describe().c_str(), ch.explain.c_str());
    appendf(out, "pools       %s\n", planned.compiled.pools.c_str());
    appendf(out, "inputs      %s\n", describe(planned.preprocessing, m, r.preprocessing).c_str());
    appendf(out, "calibration %s; rates: %s (%d thread(s), predicting %d)\n\n", planned.calib_source.c_str(), rates.source.c_str(),
                rates.threads, r.server.threads);
    // max |v|: the calibrated range of the step's outputs; room: bits they may grow before
    // they overflow q_0 (he::value_headroom).
    appendf(out, "%-3s %-7s %-28s %5s %4s %7s %9s %9s %6s %9s %10s %10s %10s %11s %7s %10s\n", "#", "step", "from", "level", "size", "log2 Δ",
                "outputs", "max |v|", "room", "live", "held", "peak mem", "spilled", "MACs", "relins", "time");
    const auto& in = planned.ranges.front();
    appendf(out, "%-3s %-7s %-28s %5d %4d %7s %9d %9.3g %6.1f\n", "-", "input", "(preprocessed images)", ctx->max_level(), 2, "", plan.input_count,
                in.max_abs, in.headroom_bits);
    std::size_t tightest = 0;
    for (std::size_t i = 1; i < planned.ranges.size(); ++i)
        if (planned.ranges[i].headroom_bits < planned.ranges[tightest].headroom_bits) tightest = i;
    for (std::size_t i = 0; i < pred.steps.size(); ++i) {
        const auto& s = pred.steps[i];
        std::string name = s.name.size() > 28 ? s.name.substr(0, 25) + "..." : s.name;
        const std::string kind = s.kind + (plan.steps[i].lazy_relin ? "*" : "");
        const auto& r = planned.ranges.at(i + 1);
        appendf(out, "%-3zu %-7s %-28s %5d %4d %7.3f %9zu %9.3g %6.1f %9zu %10s %10s %10s %11lld %7lld %10s\n", i, kind.c_str(), name.c_str(), s.level,
                    s.size, std::log2(s.min_scale), s.outputs, r.max_abs, r.headroom_bits, s.live, human_bytes(static_cast<double>(s.live_bytes)).c_str(),
                    human_bytes(static_cast<double>(s.peak_bytes)).c_str(), human_bytes(static_cast<double>(s.spill_bytes)).c_str(),
                    static_cast<long long>(s.macs), static_cast<long long>(s.relins), human_ms(s.seconds * 1e3).c_str());
    }
    appendf(out, "(* relinearisation and rescale deferred into the next linear step; held = ciphertexts in memory after the step; "
                "spilled = written to disk during the step)\n");
    const auto& t = planned.ranges[tightest];
    appendf(out, "headroom    q_0 %d bits, Δ 2^%g: values decrypt correctly up to |v| < 2^%.1f; the calibrated values leave at least %.1f bits "
                "(%s), %g asked for\n",
                ch.q0_bits, ch.literal.log_scale, ch.q0_bits - 1 - ch.literal.log_scale, t.headroom_bits,
                t.step < 0 ? "the inputs" : ("step " + std::to_string(t.step) + " '" + plan.steps[static_cast<std::size_t>(t.step)].name + "'").c_str(),
                r.pipeline.params.margin_bits);
    appendf(out, "total       depth %d, %lld ciphertext MACs, %lld squares, %lld relinearisations, %lld rescales\n", plan.depth,
                static_cast<long long>(pred.macs), static_cast<long long>(pred.squares), static_cast<long long>(pred.relins),
                static_cast<long long>(pred.rescales));
    appendf(out, "memory      budget %s: peak %s of ciphertexts (inputs read on demand, %s order%s); spill traffic %s written, %s read back, "
                "at most %s on disk at once\n",
                pred.memory_budget.describe().c_str(),
                human_bytes(static_cast<double>(pred.peak_bytes)).c_str(), pred.depth_first ? "depth-first" : "step-by-step",
                made.recomputed_first_layer ? ", first layer recomputed per consumer" : "",
                human_bytes(static_cast<double>(pred.spill_bytes)).c_str(), human_bytes(static_cast<double>(pred.load_bytes)).c_str(),
                human_bytes(static_cast<double>(pred.max_spilled_bytes)).c_str());
    appendf(out, "time        %s = %s per image (batch %zu, %d thread(s), warm); first run of a process %s\n", human_ms(pred.seconds * 1e3).c_str(),
                human_ms(pred.seconds * 1e3 / static_cast<double>(batch)).c_str(), batch, r.server.threads, human_ms(cold_seconds * 1e3).c_str());
    appendf(out, "client      %zu input ciphertexts: %s (%s seeded); %zu output ciphertexts: %s\n", pred.input_ciphertexts,
                human_bytes(static_cast<double>(pred.input_bytes)).c_str(), human_bytes(static_cast<double>(pred.input_bytes_seeded)).c_str(),
                pred.output_ciphertexts, human_bytes(static_cast<double>(pred.output_bytes)).c_str());

    return out;
}

nlohmann::json plan_json(const ModelPlan& made, const std::string& model_label) {
    const auto& planned = made.planned;
    const auto& plan = planned.compiled.plan;
    const auto& ch = planned.compiled.choice;
    const auto& ctx = made.context;
    const auto& rates = made.rates;
    const auto& pred = made.prediction;
    const double cold_seconds = pred.seconds + pred.cold_first_touch_seconds;  // the first run touches its memory first
    const std::size_t batch = made.file.batch;
    const auto& in = planned.ranges.front();
    nlohmann::json j;
    j["model"] = model_label;
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
    return j;
}

std::string ranks_report(const ModelPlan& made, const PlanRequest& r, std::span<const int> ranks, std::span<const he::Network> nets) {
    std::vector<int> rs{1};
    for (int k : ranks)
        if (k != 1) rs.push_back(k);
    he::SimulateOptions so;
    so.exec = r.server;
    so.exec.memory = made.prediction.memory_budget;  // resolved once, by make_plan
    const auto preds = he::predict_ranks(made.planned.compiled.plan, *made.context, made.rates, so, rs, nets);
    const double batch = static_cast<double>(made.file.batch);
    std::string out;
    appendf(out, "\nranks       predicted for R ranks, one per machine, each with %d thread(s) and a budget of %s; the plan as compiled "
                 "(ranks do not recompute the first layer); bulk synchronous: each wave computed, then its outputs exchanged, no overlap; "
                 "exchange = max(bytes out, bytes in) / bandwidth + messages x %s, per rank, the slowest rank's; one-unit: compute in waves of a single unit (a one-group layer, a split group's part), on one rank whatever R\n",
            r.server.threads, made.prediction.memory_budget.describe().c_str(), nets.front().latency_name().c_str());
    appendf(out, "%5s %-12s %12s %12s %8s %12s %12s %12s %14s %12s %12s\n", "R", "network", "time/batch", "time/image", "speedup", "compute",
            "(one-unit)", "exchange", "peak mem/rank", "spill/rank", "exchanged");
    for (std::size_t i = 0; i < preds.size(); ++i) {
        const auto& p = preds[i];
        const auto& base = preds[i % nets.size()];  // R = 1 on the same network
        std::size_t spill = 0;
        for (const auto& k : p.rank) spill = std::max(spill, k.spill_bytes);
        appendf(out, "%5d %-12s %12s %12s %7.2fx %12s %12s %12s %14s %12s %12s\n", p.ranks, p.net.name().c_str(), human_ms(p.seconds * 1e3).c_str(),
                human_ms(p.seconds * 1e3 / batch).c_str(), p.seconds > 0 ? base.seconds / p.seconds : 0.0, human_ms(p.compute_seconds * 1e3).c_str(),
                human_ms(p.single_unit_seconds * 1e3).c_str(), human_ms(p.exchange_seconds * 1e3).c_str(), human_bytes(static_cast<double>(p.peak_bytes)).c_str(),
                human_bytes(static_cast<double>(spill)).c_str(), human_bytes(static_cast<double>(p.bytes_exchanged)).c_str());
    }
    return out;
}

}  // namespace hecnn::io
