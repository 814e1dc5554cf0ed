// Recomputing the first layer instead of holding it: the server's choice of the plan it
// executes under its memory budget.
//
// A CNN's first layer is its largest value (SqueezeNet's 64×28×28 squares are 50,176
// ciphertexts of 15 MiB at N = 2^15) and its cheapest to make again: a few MACs of the
// input ciphertexts, one rescale, one square. Each of its squares is read by several
// groups of the next linear step (a 3×3/2 pool reads 9, each read by up to 4 windows), and
// in a depth-first order those groups come far apart (the next row of windows), so a held
// square waits for them, or is spilled and read back. Recomputed, every group gets its own
// copy of the squares it reads, made right before it and freed right after.
//
// The copies are the same operations on the same ciphertexts, so the outputs are the
// same, bit for bit; only the count of first-layer MACs, rescales and squares grows (by
// the overlap of the windows, ~2.25× for a 3×3/2 pool). The client never sees the
// difference: the inputs and outputs are the plan's own.
#pragma once

#include <cstddef>

#include "hecnn/ckks/context.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/rates.h"
#include "hecnn/he/simulator.h"

namespace hecnn::he {

// The plan with a private copy of each first-layer square (and of the linear output it
// squares, one output alone) for every linear group that reads it, the originals removed:
// each copy is made when its reader needs it, not with the 63 other channels of its
// position. A first-layer square: the square of a Linear output whose group reads plan
// inputs only, read by Linear groups only, neither being a plan output. `copies`: squares
// copied (0: the plan unchanged; a square already private to its one reader is not).
struct RecomputedPlan {
    Plan plan;
    std::size_t copies = 0;
};
RecomputedPlan recompute_first_layer(const Plan& plan);

// The plan to execute under so.exec (resolved): `plan`, or its recompute_first_layer when
// the simulator predicts that faster (it spills; the copies cost less than the spill
// traffic they save). The prediction is of the plan returned.
struct ExecutionPlan {
    Plan plan;
    bool recomputed = false;
    Prediction prediction;
};
ExecutionPlan choose_execution_plan(const Plan& plan, const ckks::Context& ctx, const Rates& rates, const SimulateOptions& so);

}  // namespace hecnn::he
