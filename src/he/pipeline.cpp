#include "hecnn/he/pipeline.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/packing.h"
#include "hecnn/he/recompute.h"
#include "hecnn/he/runtime.h"

namespace hecnn::he {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

CompiledModel compile_for_batch(const nn::Model& model, std::span<const double> calib, std::size_t calib_samples, const PipelineOptions& opt) {
    // The plan for a level budget and its parameters; the server compiles with the
    // parameters' max level as budget, which makes the same plan (choose_parameters gives
    // exactly depth + 1 data primes).
    auto build = [&](int level_budget, double scale_bits) {
        CompiledModel c;
        auto copt = opt.compile;
        copt.level_budget = level_budget;
        c.plan = compile(model, copt);
        if (calib_samples) run_plaintext(c.plan, calib, calib_samples, &c.wire_max_abs);
        auto params = opt.params;
        params.scale_bits = scale_bits;
        c.choice = choose_parameters(c.plan, c.wire_max_abs, params);
        return c;
    };
    const double scale = opt.params.scale_bits;
    CompiledModel best = build(0, scale);
    const int folded = best.plan.depth;
    if (opt.pools == PoolSteps::Fold) {
        best.pools = "folded into the next linear step (asked)";
        return best;
    }
    if (opt.pools == PoolSteps::Separate) {
        CompiledModel c = build(std::numeric_limits<int>::max(), scale);
        c.pools = std::to_string(c.plan.depth - folded) + " on their own step (asked): depth " + std::to_string(c.plan.depth) + " instead of " +
                  std::to_string(folded);
        return c;
    }
    const auto exec = opt.exec.resolved();
    auto seconds = [&](const CompiledModel& c) {
        const auto ctx = ckks::Context::create(c.choice.literal);
        SimulateOptions so;
        so.exec = exec;
        const Rates rates = opt.rates ? *opt.rates : Rates::for_machine(ctx->log_n(), exec.threads);
        return simulate(c.plan, *ctx, rates, so).seconds;
    };
    double best_s = seconds(best);
    char line[200];
    std::snprintf(line, sizeof line, "all folded (depth %d): %.1f s", folded, best_s);
    std::string tried = line;
    int chosen = 0;
    const int log_n = best.choice.literal.log_n;
    for (int k = 1;; ++k) {
        std::optional<CompiledModel> c;
        for (double cut = 0; cut <= kMaxScaleCut; ++cut) {
            try {
                c = build(folded + k, scale - cut);
            } catch (const std::runtime_error&) {  // no ring holds it
                c.reset();
                break;
            }
            if (c->plan.depth < folded + k || c->choice.literal.log_n <= log_n) break;
            c.reset();
        }
        if (!c || c->plan.depth < folded + k) break;  // no more pools to separate, or none fits this ring
        const double s = seconds(*c);
        std::snprintf(line, sizeof line, "; %d on their own step (depth %d, scale 2^%g): %.1f s", k, c->plan.depth, c->choice.literal.log_scale, s);
        tried += line;
        if (s < best_s) best_s = s, best = std::move(*c), chosen = k;
    }
    best.pools = (chosen ? std::to_string(chosen) + " on their own step" : std::string("folded into the next linear step")) +
                 ", the fastest predicted of: " + tried;
    return best;
}

PipelineReport run_pipeline(const nn::Model& model, const CompiledModel& compiled, std::span<const double> batch, std::size_t samples,
                            std::span<const int> labels, const PipelineOptions& opt, const PipelineHooks& hooks) {
    WarmMemory fresh;
    return run_pipeline(model, compiled, batch, samples, labels, opt, fresh, hooks);
}

PipelineReport run_pipeline(const nn::Model& model, const CompiledModel& compiled, std::span<const double> batch, std::size_t samples,
                            std::span<const int> labels, const PipelineOptions& opt, WarmMemory& warm, const PipelineHooks& hooks) {
    const Plan& plan = compiled.plan;
    const auto F = static_cast<std::size_t>(plan.input_count);
    const std::size_t K = plan.outputs.size();
    if (batch.size() != samples * F) throw std::invalid_argument("run_pipeline: batch is not samples × features");
    if (!labels.empty() && labels.size() != samples) throw std::invalid_argument("run_pipeline: one label per sample");
    auto stage = [&](const char* s) {
        if (hooks.stage) hooks.stage(s);
    };

    PipelineReport r;
    r.samples = samples;
    r.features = F;
    r.outputs = K;
    r.depth = plan.depth;
    r.parameter_explain = compiled.choice.explain;

    // ---------------- client: parameters and keys ----------------
    stage("keygen");
    auto t = Clock::now();
    const auto ctx = ckks::Context::create(compiled.choice.literal);
    if (samples > ctx->slots())
        throw std::invalid_argument("run_pipeline: " + std::to_string(samples) + " samples exceed the " + std::to_string(ctx->slots()) + " slots");
    r.parameters = ctx->describe();
    r.log_n = ctx->log_n();
    r.secure_128 = ctx->secure_128();
    auto keygen = opt.insecure_test_only_key_seed ? ckks::KeyGenerator::insecure_test_only_from_seed(ctx, *opt.insecure_test_only_key_seed)
                                                  : ckks::KeyGenerator(ctx);
    std::vector<std::uint8_t> params_bytes = ckks::serialize(*ctx);
    std::vector<std::uint8_t> rk_bytes;
    {
        const auto rk = keygen.create_relin_key();
        rk_bytes = ckks::serialize(rk, {.seeded = true});
        r.relin_key_bytes_full = ckks::serialize(rk).size();
    }
    r.relin_key_bytes_seeded = rk_bytes.size();
    r.keygen_seconds = since(t);

    // ---------------- client: pack, seeded encryption, serialisation ----------------
    stage("encrypt");
    t = Clock::now();
    std::vector<std::vector<std::uint8_t>> upload(F);
    {
        const ckks::Encoder encoder(ctx);
        const ckks::Encryptor enc(ctx, keygen.secret_key());
        const int lvl = ctx->max_level();
#pragma omp parallel for schedule(dynamic)
        for (std::size_t f = 0; f < F; ++f)  // (one at a time: the batch's ciphertexts are never all held)
            upload[f] = ckks::serialize(enc.encrypt_seeded(encoder.encode(feature_slots(batch, samples, F, f), ctx->scale(), lvl)));
    }
    r.encrypt_seconds = since(t);
    for (const auto& u : upload) r.upload_bytes += u.size();

    // ---------------- server: relinearisation key only ----------------
    stage("server");
    const ExecutionOptions exec = opt.exec.resolved();  // once: the prediction and the run share it
    if (reset_peak_rss()) r.server_peak_rss_bytes = 1;  // marker: measured below
    t = Clock::now();
    const bool insecure = compiled.choice.literal.insecure_test_only_allow_below_128_bits;
    const auto sctx = ckks::load_parameters(params_bytes, insecure);
    const ckks::RelinKey srk = ckks::load_relin_key(sctx, rk_bytes);
    // The received bytes are consumed as they are deserialised.
    auto receive = [&](std::size_t f) {
        auto c = ckks::load_ciphertext(sctx, upload[f]);
        std::vector<std::uint8_t>().swap(upload[f]);
        return c;
    };
    std::vector<ckks::Ciphertext> in;
    if (!exec.lazy_inputs) {
        in.resize(F);
#pragma omp parallel for schedule(dynamic)
        for (std::size_t f = 0; f < F; ++f) in[f] = receive(f);
    }
    r.load_seconds = since(t);

    // The prediction, with this process's memory history: memory it has held before is
    // reused (warm), the rest is touched for the first time (cold).
    r.memory_budget = exec.memory;
    SimulateOptions so;
    so.exec = exec;
    so.warm_bytes = warm.bytes();
    const Rates rates = opt.rates ? *opt.rates : Rates::for_machine(sctx->log_n(), exec.threads);
    // The server's plan: this one, or with its first layer recomputed where that beats
    // spilling (recompute.h); the same outputs either way.
    const auto chosen = choose_execution_plan(plan, *sctx, rates, so);
    const auto& pred = chosen.prediction;
    r.recomputed_first_layer = chosen.recomputed;
    r.predicted_server_seconds = pred.seconds;
    r.predicted_first_touch_seconds = pred.first_touch_seconds;
    r.cold = pred.first_touch_seconds > 0;
    r.predicted_peak_bytes = pred.peak_bytes;
    r.predicted_spill_bytes = pred.spill_bytes;
    warm.note_peak(pred.peak_bytes);

    Runtime rt(chosen.plan, sctx, srk);
    std::vector<StepRecord> trace;
    const auto t_server = Clock::now();
    double predicted_done = 0;
    RunOptions ro;
    ro.exec = exec;
    ro.progress = [&](std::size_t i, const StepRecord& tr) {
        StepReport s{.measured = tr, .predicted = i < pred.steps.size() ? pred.steps[i] : StepRecord{}};
        if (i == 0) s.predicted.seconds += pred.first_touch_seconds;  // shown with the first step
        predicted_done += s.predicted.seconds;
        const double elapsed = since(t_server);
        const double left = pred.seconds - predicted_done;
        const double ratio = predicted_done > 0 ? elapsed / predicted_done : 1;
        r.steps.push_back(s);
        r.peak_ciphertext_bytes = std::max(r.peak_ciphertext_bytes, tr.peak_bytes);
        r.spill_bytes += tr.spill_bytes;
        if (hooks.step) hooks.step(r.steps.back(), i, plan.steps.size(), elapsed, std::max(0.0, left * ratio));
    };
    auto out = exec.lazy_inputs ? rt.run(InputProvider(receive), ro, &trace) : rt.run(std::move(in), ro, &trace);
    r.server_seconds = since(t_server);
    std::vector<std::vector<std::uint8_t>> download(out.size());
    for (std::size_t k = 0; k < out.size(); ++k) download[k] = ckks::serialize(out[k]);
    out.clear();
    for (const auto& d : download) r.result_bytes += d.size();
    r.server_peak_rss_bytes = r.server_peak_rss_bytes ? vm_hwm_bytes() : 0;

    // ---------------- client: decrypt + unpack ----------------
    stage("decrypt");
    t = Clock::now();
    std::vector<double> got;
    {
        const ckks::Encoder encoder(ctx);
        const ckks::Decryptor dec(ctx, keygen.secret_key());
        std::vector<ckks::Ciphertext> res(download.size());
        for (std::size_t k = 0; k < download.size(); ++k) res[k] = ckks::load_ciphertext(ctx, download[k]);
        got = decrypt_batch(encoder, dec, res, samples);
    }
    r.decrypt_seconds = since(t);
    r.peak_rss_bytes = peak_rss_bytes();

    // ---------------- check against the reference runner ----------------
    stage("reference");
    const auto Ks = static_cast<std::size_t>(nn::element_count(model.output_shape()));
    if (Ks != K) throw std::logic_error("run_pipeline: plan and model disagree on the output size");
    std::vector<double> want;
    r.check = check_against_reference(model, batch, samples, got, labels, &want);
    if (opt.keep_logits) r.logits_he = std::move(got), r.logits_ref = std::move(want);
    return r;
}

}  // namespace hecnn::he
