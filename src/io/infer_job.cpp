// The server-side job: verified batch in, result out (see infer_job.h).
#include "hecnn/io/infer_job.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "container.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/partition.h"
#include "hecnn/he/recompute.h"
#include "hecnn/he/runtime.h"
#include "hecnn/he/simulator.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/format.h"
#include "hecnn/io/plan_file.h"

namespace hecnn::io {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

namespace fs = std::filesystem;

}  // namespace

ServedModel load_served_model(const std::filesystem::path& onnx_path, const he::CompileOptions& options) {
    const auto onnx = ckks::read_file(onnx_path, kMaxOnnxBytes);
    return served_model({reinterpret_cast<const char*>(onnx.data()), onnx.size()}, options);
}

ServedModel served_model(std::string_view bytes, const he::CompileOptions& options) {
    ServedModel m;
    m.model = parse_onnx(bytes);
    m.plan = he::compile(m.model, options);
    m.digest = model_digest(bytes);
    m.model_id = model_id_of(m.digest);
    return m;
}

JobResult infer_batch_file(const he::Plan& plan, const EvalKeys& keys, const std::filesystem::path& batch, const std::filesystem::path& result,
                           const JobOptions& opt) {
    const auto& ctx = keys.ctx;
    const auto F = static_cast<std::size_t>(plan.input_count);
    const std::string file = batch.string();
    JobResult r;
    auto t = Clock::now();
    const BatchReader reader(batch, ctx, opt.max_batch_bytes ? opt.max_batch_bytes : batch_file_bytes(*ctx, F), BatchKind::batch);
    const auto& info = reader.info();
    if (info.keyset_id != keys.keyset_id)
        detail::bad(file + ": encrypted for key set " + detail::hex64(info.keyset_id) + ", the evaluation keys are key set " +
                    detail::hex64(keys.keyset_id) + " — give the eval.keys of the key directory that encrypted it");
    if (info.count != F)
        detail::bad(file + ": holds " + std::to_string(info.count) + " ciphertexts, the model takes " + std::to_string(F) +
                    " (one per input feature): was it encrypted for another model?");
    if (info.level < plan.depth)
        detail::bad(file + ": ciphertexts at level " + std::to_string(info.level) + ", the model needs " + std::to_string(plan.depth) + " levels");
    if (opt.model_id && info.model_id && info.model_id != opt.model_id)
        detail::bad(file + ": encrypted for another model (model id " + detail::hex64(info.model_id) + ", served " + detail::hex64(opt.model_id) + ")");
    r.batch = info;
    r.samples = info.samples;
    r.load_seconds = since(t);  // verification; the ciphertexts load during the run

    he::SimulateOptions so;
    so.input_level = info.level;
    so.exec = opt.exec.resolved();  // once: predicted and run under the same budget and threads
    so.exec.lazy_inputs = true;     // inputs read from the file on first use
    r.memory_budget = so.exec.memory;
    // With this process's memory history: what it held before is reused (a server's
    // pre-fault, an earlier job), the rest is touched for the first time.
    so.warm_bytes = opt.warm_bytes;
    const he::Rates rates = opt.rates ? *opt.rates : he::Rates::for_machine(ctx->log_n(), so.exec.threads);
    // The plan executed: the given one, or with its first layer recomputed where that beats
    // spilling (recompute.h), the same outputs either way. MPI ranks keep the given plan:
    // each rank's rates could choose differently, and they must run one partition.
    const auto chosen = opt.ranks && opt.ranks->size() > 1 ? he::ExecutionPlan{plan, false, he::simulate(plan, *ctx, rates, so)}
                                                           : he::choose_execution_plan(plan, *ctx, rates, so);
    const he::Plan& run_plan = chosen.plan;
    const auto& pred = chosen.prediction;
    r.predicted_spill_disk_bytes = spill_disk_bytes(pred, *ctx);
    check_spill_space(r.predicted_spill_disk_bytes, so.exec.spill_dir);
    r.recomputed_first_layer = chosen.recomputed;
    r.predicted_peak_bytes = pred.peak_bytes;
    r.predicted_seconds = pred.seconds;
    r.predicted_first_touch_seconds = pred.first_touch_seconds;
    r.rates_source = rates.source;
    t = Clock::now();
    std::size_t steps_done = 0, units = 0, units_total = 0;
    auto report = [&] {
        if (!opt.progress) return;
        const double elapsed = since(t);
        // Units, not steps: a depth-first order finishes its first step near the end.
        const double f = units_total ? static_cast<double>(units) / static_cast<double>(units_total) : 0;
        const double remaining = f > 0 ? elapsed * (1 - f) / f : std::max(0.0, pred.seconds - elapsed);
        opt.progress({steps_done, plan.steps.size(), units, units_total, elapsed, remaining});
    };
    report();
    he::RunOptions run;
    run.exec = so.exec;
    run.ranks = opt.ranks;
    if (opt.ranks && opt.ranks->size() > 1) {  // the runtime's own schedule (lazy inputs, this budget) and partition
        const he::Schedule sch(run_plan, info.level, ctx->n(), so.exec);
        r.predicted_sent = he::predict_exchange(run_plan, sch, he::Partition(run_plan, sch, opt.ranks->size()), *ctx, info.level).sent;
    }
    const std::uint64_t sent0 = opt.ranks ? opt.ranks->bytes_sent() : 0;
    run.input_level = info.level;
    r.predicted_steps = pred.steps;
    run.progress = [&](std::size_t i, const he::StepRecord& rec) {
        r.steps.push_back(rec);
        steps_done = i + 1;
        report();
    };
    run.waves = [&](std::size_t done, std::size_t total) {
        units = done, units_total = total;
        report();
        if (opt.cancelled && opt.cancelled())
            throw JobCancelled("job cancelled after " + std::to_string(done) + " of " + std::to_string(total) + " units");
    };
    // Inputs are read from the verified file when first needed (each object re-checks its
    // own checksum), so the batch never has to be in memory at once.
    const he::Runtime runtime(run_plan, ctx, keys.relin);
    auto outputs = runtime.run([&](std::size_t i) { return reader.ciphertext(i); }, run);
    r.seconds = since(t);
    if (opt.ranks) r.sent_bytes = opt.ranks->bytes_sent() - sent0;
    if (opt.ranks && opt.ranks->rank() != 0) return r;  // rank 0 writes the result

    // One level and two polynomials for every output: the result format's invariant.
    const ckks::Evaluator eval(ctx);
    int level = ctx->max_level();
    for (auto& ct : outputs) {
        if (ct.size() == 3) eval.relinearize_inplace(ct, keys.relin);
        level = std::min(level, ct.level());
    }
    BatchInfo out;
    out.is_result = true;
    out.keyset_id = keys.keyset_id;
    out.samples = info.samples;
    out.count = outputs.size();
    out.level = level;
    out.model_id = info.model_id;
    out.source = info.checksum;
    BatchWriter writer(result, *ctx, out);
    for (auto& ct : outputs) {
        if (ct.level() > level) eval.drop_to_level_inplace(ct, level);
        writer.add(ct);
    }
    r.result = writer.commit(opt.replace_result);
    r.result_bytes = r.result.file_bytes;
    return r;
}

void check_spill_space(std::size_t need_bytes, const fs::path& spill_dir) {
    const auto need = static_cast<double>(need_bytes);
    if (need == 0) return;
    const fs::path dir = spill_dir.empty() ? fs::temp_directory_path() : spill_dir;
    std::error_code ec;
    const auto space = fs::space(dir, ec);
    if (ec) return;  // the runtime reports an unusable directory itself
    if (need > static_cast<double>(space.available))
        throw std::runtime_error("this run would spill up to " + human_bytes(need) + " to " + dir.string() + " at once, which has " +
                                 human_bytes(static_cast<double>(space.available)) +
                                 " free: give it a larger --memory budget, or a --spill-dir on a disk with room");
}

std::size_t spill_disk_bytes(const he::Prediction& pred, const ckks::Context& ctx) {
    if (!pred.max_spilled_bytes) return 0;
    // Files keep residues at their bit length (he::serialized_bytes); a level-1
    // ciphertext's ratio is the largest but level 0's when q_0 is the widest prime.
    const int l = std::min(1, ctx.max_level());
    const double ratio = static_cast<double>(he::serialized_bytes(ctx, l, 2)) / static_cast<double>(he::Schedule::bytes(l, 2, ctx.n()));
    return static_cast<std::size_t>(std::ceil(1.05 * ratio * static_cast<double>(pred.max_spilled_bytes)));
}

std::string step_report(const JobResult& r) {
    std::string out;
    char line[320];
    std::snprintf(line, sizeof(line), "%-3s %-7s %-26s %11s %11s %6s %11s %11s %23s\n", "#", "step", "name", "time", "predicted",
                  "ratio", "peak mem", "held", "spilled (pred.)");
    out += line;
    double total = 0, total_pred = 0;
    std::size_t spill = 0, spill_pred = 0;
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
        const auto& m = r.steps[i];
        const he::StepRecord none;
        const auto& p = i < r.predicted_steps.size() ? r.predicted_steps[i] : none;
        total += m.seconds, total_pred += p.seconds, spill += m.spill_bytes, spill_pred += p.spill_bytes;
        const std::string spilled = human_bytes(static_cast<double>(m.spill_bytes)) + " (" + human_bytes(static_cast<double>(p.spill_bytes)) + ")";
        std::snprintf(line, sizeof(line), "%-3zu %-7s %-26.26s %11s %11s %6.2f %11s %11s %23s\n", i, m.kind.c_str(), m.name.c_str(),
                      human_ms(m.seconds * 1e3).c_str(), human_ms(p.seconds * 1e3).c_str(), p.seconds > 0 ? m.seconds / p.seconds : 0.0,
                      human_bytes(static_cast<double>(m.peak_bytes)).c_str(), human_bytes(static_cast<double>(m.live_bytes)).c_str(),
                      spilled.c_str());
        out += line;
    }
    const std::string spilled = human_bytes(static_cast<double>(spill)) + " (" + human_bytes(static_cast<double>(spill_pred)) + ")";
    std::snprintf(line, sizeof(line), "%-38s %11s %11s %6.2f %11s %11s %23s\n", "all steps", human_ms(total * 1e3).c_str(),
                  human_ms(total_pred * 1e3).c_str(), total_pred > 0 ? total / total_pred : 0.0, "", "", spilled.c_str());
    out += line;
    return out;
}

}  // namespace hecnn::io
