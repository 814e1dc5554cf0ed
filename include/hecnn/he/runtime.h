// Server side: evaluate a Plan on encrypted inputs with the evaluation (relinearisation)
// key only — no API here takes a secret key.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/he/plan.h"

namespace hecnn::he {

// What happened at one step (compared with the simulator's prediction in the tests).
struct StepTrace {
    int level = -1;               // level of the step's outputs
    int size = 2;                 // polynomials per output ciphertext
    std::size_t outputs = 0;      // ciphertexts produced
    std::size_t live = 0;         // ciphertexts held after the step (freed ones excluded)
    std::size_t live_bytes = 0;   // their bytes
    double min_scale = 0, max_scale = 0;
    double seconds = 0;
};

class Runtime {
public:
    // The plan, the parameters and the relinearisation key are kept by reference.
    Runtime(const Plan& plan, ckks::ContextPtr ctx, const ckks::RelinKey& rk);

    // inputs: plan.input_count ciphertexts at one level ≥ plan.depth, size 2. Returns one
    // ciphertext per plan output. Parallel across independent ciphertexts (OpenMP).
    std::vector<ckks::Ciphertext> run(std::vector<ckks::Ciphertext> inputs, std::vector<StepTrace>* trace = nullptr,
                                      const std::function<void(std::size_t step, const StepTrace&)>& progress = {}) const;

private:
    void run_group(const LinearGroup& g, std::vector<ckks::Ciphertext>& wire, int top, double delta) const;

    const Plan& plan_;
    ckks::ContextPtr ctx_;
    const ckks::RelinKey& rk_;
    ckks::Evaluator eval_;
};

}  // namespace hecnn::he
