// Hybrid key switching (internal): ModUp per digit, inner product with the key in NTT
// form over Q_l·P, ModDown back to Q_l.
#pragma once

#include "hecnn/ckks/keys.h"

namespace hecnn::ckks::detail {

// For d at `level` (l+1 limbs, given in coefficient form and in NTT form), computes
// (u0, u1) with u0 + u1·s ≈ d·s² + add0 + add1·s in NTT form... precisely:
//   out_k = ModDown(Σ_j ModUp(d_j)·key_j[k] + P·extra_k)   (k = 0, 1)
// where extra_k (NTT form, l+1 limbs, may be null) is folded in before ModDown so that
// adding it costs no extra transform. Outputs are in coefficient form, l+1 limbs each.
void key_switch(const Context& ctx, int level, const u64* d_coeff, const u64* d_ntt, const RelinKey& key,
                const u64* extra0, const u64* extra1, u64* out0, u64* out1);

// ModDown: acc holds l+1+k limbs (data primes 0..l, then the special primes) in coefficient
// form; writes round-ish(acc / P) on the l+1 data limbs to out. `scratch` has (l+1)·N words.
void mod_down(const Context& ctx, int level, const u64* acc, u64* scratch, u64* out);

}  // namespace hecnn::ckks::detail
