// The compiler: nn::Model → he::Plan (folding, depth, lazy relinearisation), and the
// automatic choice of CKKS parameters for a plan.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/he/plan.h"
#include "hecnn/nn/model.h"

namespace hecnn::he {

struct CompileOptions {
    // Defer relinearisation of a square step past its consuming linear step when that
    // saves work: (squares − linear outputs)·relin_cost_macs > linear MACs / 2 (the
    // linear step then works on 3-polynomial ciphertexts: 1.5× its MAC cost).
    bool lazy_relin = true;
    double relin_cost_macs = 120;  // one relinearisation in ciphertext MACs (bench: 9.4 ms / 77 µs)
    // Complete the square of quadratic activations, α·x² + β·x = α·(x + β/2α)² − β²/4α, so
    // that the next linear step reads one wire per element instead of two (half its MACs
    // and of the wires held for it); only where |β/2α| ≤ max_square_shift. Decided from the
    // weights alone: a server compiling the same model makes the same plan.
    bool complete_squares = true;
    double max_square_shift = 8;
    // Levels the plan may consume: the parameters' max level (0: as few as possible). An
    // average pool is folded into the linear step after it, which saves the level its own
    // step would take but multiplies that step's MACs (a 3×3/2 pool before a 3×3 conv
    // makes it a 7×7 conv). Given levels to spare, the pools whose own step saves the most
    // MACs get one, as long as the depth stays within the budget. The server compiles with
    // the budget of the client's parameters, so both sides make the same plan.
    int level_budget = 0;
};

// Throws nn::ModelError naming the node for a product the plan cannot hold: one of degree
// above 2 between two layers that mix elements (x·x·x), or of two values whose linear
// parts are not proportional. The model must have passed infer_shapes().
Plan compile(const nn::Model& model, const CompileOptions& opt = {});

// What parameter selection needs to know and what it decided.
struct ParamOptions {
    std::size_t batch = 0;     // images per batch (0: fill the slots of the smallest N)
    int log_n = 0;             // 0: automatic
    double scale_bits = 40;    // log2 of the scale Δ (= bits of each rescaling prime)
    double margin_bits = 4;    // headroom above the calibrated max |value|
    double precision_bits = 20;  // fractional bits wanted at the output (q_0 ≥ range+precision)
    bool insecure_test_only_allow_below_128_bits = false;
    int min_log_n = 10;        // automatic search start (tests may use small N)
};

struct ParamChoice {
    ckks::ParametersLiteral literal;
    double value_bits = 0;     // log2 of the largest calibrated |value| (+ margin)
    int q0_bits = 0;
    double log_qp = 0;         // sum of prime bits
    int max_log_qp = 0;        // 128-bit bound at the chosen N (0 if insecure test)
    std::string explain;       // how each choice was made
};

// wire_max_abs: from run_plaintext over calibration data (empty: assume |value| ≤ 1).
// Throws std::runtime_error if no N up to 2^16 fits under the 128-bit bound.
ParamChoice choose_parameters(const Plan& plan, std::span<const double> wire_max_abs, const ParamOptions& opt);

// How close each step's calibrated values come to overflowing under the chosen parameters.
// A value v at scale Δ must stay below q_0/2 at the last level: headroom = log2(q_0/(2Δ)) −
// log2 max|v|, the bits by which the values could grow (on other data than the calibration
// set) before decryption wraps around. A square's input x must also keep x²·Δ² below Q_l/2
// at its level l; a square step's headroom is the smaller of the two. Never below
// ParamOptions::margin_bits for the calibrated values (choose_parameters makes it so).
struct StepRange {
    int step = -1;             // −1: the model's (preprocessed) inputs
    double max_abs = 0;        // calibrated max |value| of the step's outputs
    double headroom_bits = 0;
};
std::vector<StepRange> value_headroom(const Plan& plan, std::span<const double> wire_max_abs, const ParamChoice& choice);

}  // namespace hecnn::he
