// Internal entry points of the NTT kernels, for the dispatcher, tests and benchmarks.
//
// NTTTables::forward/inverse dispatch at run time (Highway) to the best vector kernel the
// CPU supports; the scalar kernels are the reference the vector ones must match bit for
// bit, and the fallback for tiny transforms and for targets without vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "hecnn/math/ntt.h"

namespace hecnn::math::detail {

void ntt_forward_scalar(const NTTTables& t, u64* a);
void ntt_inverse_scalar(const NTTTables& t, u64* a);

// Highway target (HWY_AVX3, HWY_AVX2, ...) the dispatched kernels currently run on.
std::int64_t ntt_dispatched_target();

// Every Highway target compiled into the kernels that this CPU can run, best first.
// Tests pin each one with hwy::SetSupportedTargetsForTest to compare it with the scalar
// reference.
std::vector<std::int64_t> ntt_runnable_targets();

}  // namespace hecnn::math::detail
