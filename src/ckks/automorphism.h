// The automorphism X -> X^g on RNS limbs (internal to the ckks layer): in coefficient form
// a signed permutation of the coefficients, in NTT form a permutation of the evaluation
// points (galois_ntt_permutation).
#pragma once

#include <cstdint>

#include "hecnn/ckks/context.h"

namespace hecnn::ckks::detail {

// out = σ_g(in) on one limb in coefficient form: coefficient i goes to i·g mod 2N, negated
// when that is ≥ N (X^N = -1). in and out must not overlap.
void galois_coeff_limb(const u64* in, u64* out, std::size_t n, std::uint32_t g, u64 q);
// out[k] = in[perm[k]] on one limb in NTT form. in and out must not overlap.
void galois_ntt_limb(const u64* in, u64* out, const std::uint32_t* perm, std::size_t n);

}  // namespace hecnn::ckks::detail
