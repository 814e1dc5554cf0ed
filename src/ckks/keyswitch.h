// Hybrid key switching (internal): ModUp per digit, inner product with the key in NTT
// form over Q_l·P, ModDown back to Q_l.
#pragma once

#include <cstdint>

#include "hecnn/ckks/keys.h"
#include "hecnn/math/aligned_vector.h"

namespace hecnn::ckks::detail {

// For d at `level` (l+1 limbs, given in coefficient form and in NTT form), computes
// (u0, u1) with u0 + u1·s ≈ d·s² + add0 + add1·s in NTT form... precisely:
//   out_k = ModDown(Σ_j ModUp(d_j)·key_j[k] + P·extra_k)   (k = 0, 1)
// where extra_k (NTT form, l+1 limbs, may be null) is folded in before ModDown so that
// adding it costs no extra transform. Outputs are in coefficient form, l+1 limbs each.
void key_switch(const Context& ctx, int level, const u64* d_coeff, const u64* d_ntt, const KeySwitchKey& key,
                const u64* extra0, const u64* extra1, u64* out0, u64* out1);

// Hoisting: the ModUp of d (every digit over all l+1+k limbs of Q_l·P, NTT form), computed
// once and shared by the key switches of many automorphisms of d. Limb t of digit j at
// ((j·(l+1+k)) + t)·N; limbs t < l+1 are data primes, then the special primes.
struct Decomposition {
    int level = -1;
    std::size_t digits = 0, limbs = 0, n = 0;  // limbs = l+1+k
    math::AlignedVector<u64> data;
    const u64* limb(std::size_t j, std::size_t t) const { return data.data() + (j * limbs + t) * n; }
};
Decomposition decompose(const Context& ctx, int level, const u64* d_coeff, const u64* d_ntt);

// key_switch of σ(d) given d's decomposition: each limb of it permuted by `perm` (the NTT
// permutation of σ) on the way into the inner product. Equal to key_switch(σ(d)) up to
// the key-switching error: σ commutes with the exact digit limbs, but the fast base
// conversion of σ(d) differs from σ of d's by multiples of the digit modulus where σ
// negates a coefficient; the key's gadget cancels those except for their product with
// the key's error.
void key_switch_hoisted(const Context& ctx, const Decomposition& dec, const std::uint32_t* perm, const KeySwitchKey& key,
                        const u64* extra0, const u64* extra1, u64* out0, u64* out1);

// ModDown: acc holds l+1+k limbs (data primes 0..l, then the special primes) in coefficient
// form; writes round-ish(acc / P) on the l+1 data limbs to out. `scratch` has (l+1)·N words.
void mod_down(const Context& ctx, int level, const u64* acc, u64* scratch, u64* out);

}  // namespace hecnn::ckks::detail
