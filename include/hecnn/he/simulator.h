// The simulator: predicts, without encrypting, what the runtime does at each step of a
// plan under given parameters — level, scale, ciphertext counts, memory, operation
// counts — and the time, from kernel rates measured by `hecnn bench ckks`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/he/plan.h"

namespace hecnn::he {

// Kernel times (milliseconds) at a reference ring degree and limb count, and the thread
// count they were measured with. Costs scale with the work: a ciphertext MAC, rescale or
// level drop ∝ N·limbs·polynomials; a square, relinearisation ∝ N·log N·limbs.
struct Rates {
    int log_n = 14;
    int limbs = 9;         // data primes of the reference parameters
    int threads = 1;
    double mac_ms = 0.0;   // one ciphertext × scalar MAC (bench "linear_per_mac")
    double square_relin_rescale_ms = 0.0;
    double square_ms = 0.0;    // bench "mul"
    double relin_ms = 0.0;
    double rescale_ms = 0.0;
    std::string source = "built-in defaults";

    // Built-in figures measured on the development machine (docs/INFERENCE.md).
    static Rates defaults();
    // The JSON written by `hecnn bench ckks --json` (the entry closest to log_n).
    static Rates from_bench_json(const std::string& path, int log_n = 0);
};

struct StepPrediction {
    std::string kind, name;
    int level = 0;                 // outputs' level
    int size = 2;                  // outputs' polynomials
    double min_scale = 0, max_scale = 0;  // outputs' exact scales
    std::size_t outputs = 0;       // ciphertexts produced
    std::size_t live = 0;          // ciphertexts held after the step
    std::size_t live_bytes = 0;
    std::size_t peak_bytes = 0;    // during the step (before inputs are freed)
    std::int64_t macs = 0, squares = 0, relins = 0, rescales = 0, drops = 0;
    double seconds = 0;
};

struct Prediction {
    std::vector<StepPrediction> steps;
    std::size_t input_ciphertexts = 0, input_bytes = 0, input_bytes_seeded = 0;
    std::size_t output_ciphertexts = 0, output_bytes = 0;
    std::size_t peak_bytes = 0;
    std::int64_t macs = 0, squares = 0, relins = 0, rescales = 0;
    double seconds = 0;
};

// The inputs are encrypted at `input_level` (−1: the context's top level); times assume
// the work divides evenly over `threads` threads.
Prediction simulate(const Plan& plan, const ckks::Context& ctx, const Rates& rates, int input_level = -1, int threads = 1);

}  // namespace hecnn::he
