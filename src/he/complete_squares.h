// A plan pass of the compiler (internal): completing the square of quadratic activations.
//
// A quadratic activation α·x² + β·x makes the next linear step read two wires per element,
// the square q = x² and x itself (kept at a lower level for the β·x term). With r = β/α,
//
//     α·x² + β·x = α·(x + r/2)² − α·r²/4,
//
// so when the linear step that makes x adds r/2 to its bias, the square of the shifted x
// carries both terms, and every consumer reads q alone (its bias absorbs −α·r²/4). The
// consumers' MACs and the wires held for them halve, and x is freed right after its
// square. The first-order error is unchanged: the noise e of x decrypts in the consumer as
// (2αx + β)·e either way. What grows is the range of q, by the shift (bounded here by
// `max_shift`; the calibration after compilation sees the new range and the parameters
// and headroom follow it).
//
// A square qualifies when x is a Linear output read only by that square, q is read only
// by Linear groups, neither is a plan output, and every row of every group reading them
// weighs them in one ratio r (rows with no q term have no x term). The decision uses the
// weights only, never data: the server, compiling the same model, makes the same plan.
#pragma once

#include <cstddef>

#include "hecnn/he/plan.h"

namespace hecnn::he::detail {

// Rewrites the qualifying squares of `plan` in place; returns how many it completed.
std::size_t complete_squares(Plan& plan, double max_shift);

}  // namespace hecnn::he::detail
