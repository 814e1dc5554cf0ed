// Server side: evaluate a Plan on encrypted inputs with the evaluation (relinearisation)
// key only — no API here takes a secret key.
//
// The evaluation follows a he::Schedule (schedule.h): units in plan order, wires freed
// after their last consumer, levels dropped early, and — under the memory budget — wires
// spilled to files in the spill directory and loaded back when needed. The simulator
// follows the same schedule, so its predictions of levels, sizes, counts and bytes are
// the runtime's.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/he/backend.h"
#include "hecnn/he/execution.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/ranks.h"
#include "hecnn/he/schedule.h"
#include "hecnn/he/step_record.h"

namespace hecnn::he {

// Called with the index of an input ciphertext (0 … plan.input_count−1) when the runtime
// first needs it, e.g. to read it from a batch file and expand a seeded ciphertext on the
// fly. Called once per input, possibly from several threads at once (for different
// inputs: the loads of one wave run in parallel), so it must be thread-safe.
using InputProvider = std::function<ckks::Ciphertext(std::size_t input_index)>;

struct RunOptions {
    // Budget, spill directory, threads, waves and order (execution.h). A default budget is
    // resolved when run() starts; a caller that also predicts resolves first
    // (ExecutionOptions::resolved) so that both use the same bytes. exec.lazy_inputs is
    // set by the form of run() called. exec.threads > 0: the run's OpenMP threads.
    ExecutionOptions exec;
    // After each step: its index and record (the fields the simulator predicts, measured,
    // and the bytes written to spill files).
    std::function<void(std::size_t step, const StepRecord&)> progress{};
    // After each wave: the units run so far and in all. A depth-first order (schedule.h)
    // finishes its first step near the end of the run, so steps say little about how far
    // a long run is; units do (and a caller can stop between waves by throwing).
    std::function<void(std::size_t units_done, std::size_t units_total)> waves{};
    int input_level = -1;         // provider form: the inputs' level (−1: the top level)
    // Several ranks evaluating the plan together (ranks.h): this rank computes its units of
    // each wave (he::Partition) and sends the outputs to the ranks that read them; rank 0
    // returns the plan outputs, the others empty ciphertexts where they do not hold one.
    // nullptr or one rank: this process computes everything.
    Ranks* ranks = nullptr;
};

class Runtime {
public:
    // The plan and the relinearisation key are kept by reference. On the CPU backend.
    Runtime(const Plan& plan, ckks::ContextPtr ctx, const ckks::RelinKey& rk);
    // On another backend (backend.h): every ciphertext operation, buffer, spill and
    // parallel loop of the run goes through it.
    Runtime(const Plan& plan, std::shared_ptr<const Backend> backend, const ckks::RelinKey& rk);

    // inputs: plan.input_count ciphertexts at one level ≥ plan.depth, size 2, held from
    // the start. Returns one ciphertext per plan output. Parallel across independent
    // ciphertexts (the backend's parallel_for).
    std::vector<ckks::Ciphertext> run(std::vector<ckks::Ciphertext> inputs, const RunOptions& opt,
                                      std::vector<StepRecord>* trace = nullptr) const;
    // Inputs fetched on first use (each at opt.input_level, size 2).
    std::vector<ckks::Ciphertext> run(const InputProvider& inputs, const RunOptions& opt, std::vector<StepRecord>* trace = nullptr) const;
    // Default options (the default memory budget) with a progress callback.
    std::vector<ckks::Ciphertext> run(std::vector<ckks::Ciphertext> inputs, std::vector<StepRecord>* trace = nullptr,
                                      const std::function<void(std::size_t step, const StepRecord&)>& progress = {}) const;

private:
    struct Source;
    struct GroupSums;
    struct Ops;
    class Execution;
    std::vector<ckks::Ciphertext> execute(Source& src, int top, const RunOptions& opt, std::vector<StepRecord>* trace) const;
    // One square or product; returns the operations it made.
    Ops run_square(const Step& st, std::size_t i, std::vector<ckks::Ciphertext>& wire) const;
    // One unit of a linear group; `sums` carries a split group's partial sums across its parts.
    Ops run_group(const LinearGroup& g, const Unit& u, std::vector<ckks::Ciphertext>& wire, int top, GroupSums& sums) const;

    const Plan& plan_;
    ckks::ContextPtr ctx_;
    const ckks::RelinKey& rk_;
    std::shared_ptr<const Backend> be_;
};

}  // namespace hecnn::he
