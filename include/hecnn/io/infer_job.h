// One server-side job: a batch file in, a result file out, with the evaluation keys only —
// nothing here can take a secret key. Shared by `hecnn infer` (offline) and `hecnn serve`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hecnn/he/compiler.h"
#include "hecnn/he/execution.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/ranks.h"
#include "hecnn/he/simulator.h"
#include "hecnn/he/step_record.h"
#include "hecnn/he/rates.h"
#include "hecnn/io/batch_file.h"
#include "hecnn/io/keyset.h"
#include "hecnn/nn/model.h"

namespace hecnn::io {

struct JobProgress {
    std::size_t step = 0, steps = 0;  // steps finished in plan order (step 0: nothing evaluated yet)
    std::size_t units = 0, units_total = 0;  // units run (he::RunOptions::waves): how far the run is
    double elapsed = 0;               // seconds since the evaluation started
    double remaining = 0;             // estimate: before any unit has run, the simulator's
                                      // prediction; then the elapsed time extrapolated by units
};

// Thrown when JobOptions::cancelled answers true (checked after each wave of units).
class JobCancelled : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct JobOptions {
    std::function<void(const JobProgress&)> progress;
    std::function<bool()> cancelled;
    std::size_t max_batch_bytes = 0;  // 0: the exact size of a full batch for the plan at the top level
    std::uint64_t model_id = 0;       // PlanFile::model_id() of the served model: a batch bound to
                                      // another model is refused (0: not checked)
    bool replace_result = false;      // an existing result file is refused unless set
    // Budget, spill directory, threads, waves, order. Resolved once per job: the progress
    // estimate predicts the run under the same budget it runs under.
    he::ExecutionOptions exec;
    // The simulator's rates for the progress estimate and the prediction (unset: this
    // machine's, he::Rates::for_machine).
    std::optional<he::Rates> rates;
    // Ciphertext bytes this process has held before (he::WarmMemory: a server's pre-fault,
    // earlier jobs): the prediction's first touch is the peak beyond them. 0: a cold process.
    std::size_t warm_bytes = 0;
    // Several ranks running this job together (he::Ranks, e.g. `mpirun -np R hecnn infer`):
    // every rank calls infer_batch_file with the same plan, batch and resolved exec.memory
    // (the schedule and its partition must agree); each computes its share, and rank 0
    // alone writes the result. nullptr: this process does everything.
    he::Ranks* ranks = nullptr;
};

struct JobResult {
    double seconds = 0;       // evaluation (he::Runtime::run, inputs read on demand)
    double load_seconds = 0;  // verifying the batch file (one streaming pass)
    std::size_t result_bytes = 0;
    std::size_t samples = 0;
    he::MemoryBudget memory_budget;  // the budget the job ran under (resolved)
    // The simulator's figure for `seconds`, first touch of memory this process had not held
    // included (predicted_first_touch_seconds of it), and the rates it used.
    double predicted_seconds = 0, predicted_first_touch_seconds = 0;
    std::size_t predicted_peak_bytes = 0;  // for the caller's he::WarmMemory
    std::size_t predicted_spill_disk_bytes = 0;  // spill_disk_bytes of the prediction: checked free before the run
    std::string rates_source;
    bool recomputed_first_layer = false;  // the plan run recomputed its first layer (he/recompute.h)
    BatchInfo batch, result;  // result: rank 0's (the other ranks write none)
    // With JobOptions::ranks: the bytes this rank sent, and per rank the bytes predicted
    // from the plan and the partition (he::predict_exchange).
    std::uint64_t sent_bytes = 0;
    std::vector<std::uint64_t> predicted_sent;
    // Step by step, what the runtime did and what the simulator predicted for the plan
    // that ran (the same steps; step_report prints them side by side).
    std::vector<he::StepRecord> steps, predicted_steps;
};

// The disk a prediction's spill needs at once, in file bytes (an upper estimate: the
// prediction counts in-memory bytes, files hold residues at their bit length).
// infer_batch_file refuses a run whose spill directory has less free space, before it starts.
std::size_t spill_disk_bytes(const he::Prediction& pred, const ckks::Context& ctx);
// Throws std::runtime_error (saying what to do) if `spill_dir` (empty: the temporary
// directory) has less than need_bytes free. A run that fills its disk fails hours in.
void check_spill_space(std::size_t need_bytes, const std::filesystem::path& spill_dir);

// The measured steps of a job next to the predicted ones, one line per step: time, the
// ratio, held and peak memory, spill written (measured and predicted). For a long run
// the table says where the time went and where the prediction was off.
std::string step_report(const JobResult& r);

// The model a server runs, from its ONNX file (at most kMaxOnnxBytes): parsed, compiled
// (`options`: lazy_relin as the plan file says, level_budget the levels the client's
// parameters have), with its digest and the id batches bound to it carry
// (JobOptions::model_id). Throws as io::parse_onnx and ckks::read_file do.
struct ServedModel {
    nn::Model model;
    he::Plan plan;
    std::string digest;         // model_digest of the file's bytes
    std::uint64_t model_id = 0; // model_id_of(digest)
};
ServedModel load_served_model(const std::filesystem::path& onnx_path, const he::CompileOptions& options);
ServedModel served_model(std::string_view onnx_bytes, const he::CompileOptions& options);  // the file's bytes, read elsewhere

// Verifies the batch (kind, parameters, key set, one ciphertext per plan input, level ≥
// the plan's depth, checksum), runs the plan, writes the result atomically (bound to the
// batch by its checksum). Throws ckks::FormatError for a bad batch, JobCancelled.
JobResult infer_batch_file(const he::Plan& plan, const EvalKeys& keys, const std::filesystem::path& batch,
                           const std::filesystem::path& result, const JobOptions& opt = {});

}  // namespace hecnn::io
