// One encrypted batch inference, client and server in one process, measured end to end:
//
//   client: keygen (secret key + relinearisation key, seeded for upload); pack the batch
//           (ciphertext f = feature f of every image) and encrypt it in SEEDED secret-key
//           form; serialise every ciphertext (the upload) and the seeded relin key.
//   server: deserialise the upload and the relin key, run the plan (he::Runtime) — it is
//           given the relinearisation key only, never the secret key.
//   client: decrypt + unpack the output ciphertexts.
//   check:  the plaintext reference runner (double precision, unfolded model) on the same
//           images: class agreement, max |logit error|, accuracy of both against labels.
//
// The objects cross the client/server boundary as serialised bytes (ckks::serialize),
// so the upload size is the real one and the server works on what it deserialised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hecnn/he/compiler.h"
#include "hecnn/he/execution.h"
#include "hecnn/he/memory.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/reference_check.h"
#include "hecnn/he/simulator.h"
#include "hecnn/he/step_record.h"
#include "hecnn/math/csprng.h"
#include "hecnn/nn/model.h"

namespace hecnn::he {

// How compile_for_batch spends levels on average pools (CompileOptions::level_budget):
//  - Fold: none, every pool folded into the next linear step (the fewest levels);
//  - Separate: every pool that saves MACs gets its own step, at the scale asked (the ring
//    may grow);
//  - Auto: of the plans with the k best pools separate (k = 0, 1, …), the one the
//    simulator predicts fastest under `exec`; a deeper plan that would need a larger ring
//    is tried with the scale lowered by up to kMaxScaleCut bits first.
enum class PoolSteps { Auto, Fold, Separate };
inline constexpr double kMaxScaleCut = 4;

struct PipelineOptions {
    CompileOptions compile;       // compile.level_budget is set by compile_for_batch
    PoolSteps pools = PoolSteps::Auto;
    ParamOptions params;          // params.batch = 0: the batch size given to run_pipeline
    std::optional<Rates> rates;   // the simulator's; unset: this machine's (Rates::for_machine)
    // Deterministic keys (tests only). Empty: keys from the OS CSPRNG.
    std::optional<math::Seed> insecure_test_only_key_seed;
    bool keep_logits = false;     // copy the HE and reference logits into the report
    // The server's execution: memory budget, spill directory, threads (the run's and the
    // prediction's), waves, order, and lazy_inputs: the server deserialises (and expands)
    // each uploaded ciphertext when the schedule first needs it (Runtime's provider form)
    // instead of all of them before the run; the deserialisation then counts in the
    // server time. Resolved once per run_pipeline: the prediction and the run share it.
    ExecutionOptions exec;
};

// One server step: what the run measured and what the simulator predicted of it, the
// same record (compare them with he::differences). The first step's predicted seconds
// include the prediction's first-touch seconds.
struct StepReport {
    StepRecord measured, predicted;
};

struct PipelineReport {
    // Setup
    std::string parameters;       // Context::describe()
    std::string parameter_explain;
    int log_n = 0, depth = 0;
    bool secure_128 = false;
    std::size_t samples = 0, features = 0, outputs = 0;
    // Client
    double keygen_seconds = 0, encrypt_seconds = 0, decrypt_seconds = 0;
    std::size_t upload_bytes = 0;             // all serialised seeded input ciphertexts
    std::size_t relin_key_bytes_seeded = 0;   // what the server receives
    std::size_t relin_key_bytes_full = 0;
    std::size_t result_bytes = 0;             // serialised output ciphertexts (download)
    // Server (relinearisation key only)
    bool server_had_secret_key = false;       // structural: always false (Runtime takes a RelinKey)
    double load_seconds = 0;                  // deserialising upload + key
    double server_seconds = 0;                // Runtime::run
    double predicted_server_seconds = 0;      // simulator, at `threads` (first-touch cost included when cold)
    double predicted_first_touch_seconds = 0; // the part for memory this process has not held before
    bool cold = false;                        // the process had not held the predicted peak before this run
    MemoryBudget memory_budget;               // the budget the schedule kept to (resolved)
    bool recomputed_first_layer = false;      // the server ran recompute_first_layer's plan (recompute.h)
    std::size_t predicted_peak_bytes = 0;
    std::size_t peak_ciphertext_bytes = 0;    // measured: held + running wave's outputs, max over steps
    std::size_t spill_bytes = 0, predicted_spill_bytes = 0;
    std::size_t peak_rss_bytes = 0;           // process peak (getrusage) at the end
    std::size_t server_peak_rss_bytes = 0;    // peak from just before the server loads its inputs (0 if unknown)
    std::vector<StepReport> steps;
    // Accuracy: the decrypted logits against the reference runner's
    ReferenceCheck check;
    std::vector<double> logits_he, logits_ref;   // samples × outputs (keep_logits)

    double server_ms_per_sample() const { return samples ? server_seconds * 1e3 / static_cast<double>(samples) : 0; }
    double upload_bytes_per_sample() const { return samples ? static_cast<double>(upload_bytes) / static_cast<double>(samples) : 0; }
};

struct PipelineHooks {
    std::function<void(const std::string& stage)> stage;  // "keygen", "encrypt", …
    // After each server step: its report, index, count, seconds since the server started,
    // and an estimate of the seconds left (the simulator's prediction of the remaining
    // steps, corrected by measured/predicted so far).
    std::function<void(const StepReport&, std::size_t i, std::size_t n, double elapsed, double remaining)> step;
};

// Compile + choose parameters (calibrated on `calib`, calib_samples × features) for a
// model; the same as `hecnn plan` does.
struct CompiledModel {
    Plan plan;
    ParamChoice choice;
    std::vector<double> wire_max_abs;  // calibrated max |value| per wire (empty: no calibration)
    std::string pools;                 // what compile_for_batch chose for the pools, and why
};
CompiledModel compile_for_batch(const nn::Model& model, std::span<const double> calib, std::size_t calib_samples,
                                const PipelineOptions& opt);

// Runs the whole pipeline on `samples` preprocessed images (samples × features,
// sample-major); labels may be empty. `warm`: the memory this process has held in the
// caller's earlier runs (memory.h); the prediction counts the rest of its peak as first
// touched, and the run's predicted peak is noted in it. A caller making several runs in
// one process (bench infer's batches) keeps one WarmMemory for all of them.
PipelineReport run_pipeline(const nn::Model& model, const CompiledModel& compiled, std::span<const double> batch, std::size_t samples,
                            std::span<const int> labels, const PipelineOptions& opt, WarmMemory& warm, const PipelineHooks& hooks = {});
// The same as the first run of a fresh process (nothing held before: cold).
PipelineReport run_pipeline(const nn::Model& model, const CompiledModel& compiled, std::span<const double> batch, std::size_t samples,
                            std::span<const int> labels, const PipelineOptions& opt, const PipelineHooks& hooks = {});


}  // namespace hecnn::he
