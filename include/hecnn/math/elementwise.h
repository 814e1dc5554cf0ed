// Element-wise RNS kernels over one limb of n residues modulo a prime q < 2^61.
//
// Every function in hecnn::math::ew dispatches at run time (Google Highway) to the best
// vector kernel the CPU supports (AVX-512, AVX2) and falls back to the scalar reference in
// hecnn::math::ew::scalar, which has the same signatures. Vector and scalar results are
// bit-identical on the documented input ranges: every output is the canonical residue in
// [0, q) of an exactly defined integer, however it is computed.
//
// Unless stated otherwise inputs are canonical (in [0, q)), an output may alias an input
// element for element (out == a; partially overlapping ranges are not allowed), and
// pointers need no particular alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hecnn/math/modulus.h"

namespace hecnn::math::ew {

// Constants of the coefficient-form rescale of limb i by the dropped prime q_l.
struct RescaleConstants {
    u64 q;          // q_i
    u64 ql;         // q_l, the dropped prime (odd, < 2^61)
    u64 ql_mod_q;   // q_l mod q_i
    u64 inv;        // q_l^{-1} mod q_i
    u64 inv_shoup;  // shoup_precompute(inv, q_i)
};

// out = a + b mod q
void add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
// out = a - b mod q
void sub(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
// out = -a mod q
void negate(const u64* a, u64* out, std::size_t n, u64 q);
// out = a·w mod q for ANY 64-bit a; w < q and w_shoup = shoup_precompute(w, q).
void mul_scalar(const u64* a, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q);
// out = a·b mod q
void mul(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
// out = out + a·b mod q
void mul_add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
// out = (a + q - v)·w mod q: the last step of ModDown (w = P^{-1}) and of the NTT-form
// rescale. w < q with its Shoup quotient.
void sub_mul_scalar(const u64* a, const u64* v, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q);
// Rounded division by the dropped prime q_l in coefficient form. With
//   c(v) = v mod q if v <= q_l/2 (integer division), else (v - q_l) mod q
// (the residue mod q of the centred last limb), out = (x + q - c(last))·q_l^{-1} mod q.
// x < q, last < q_l.
void rescale(const u64* x, const u64* last, u64* out, std::size_t n, const RescaleConstants& k);
// out = c(last) as defined for rescale (the NTT-form rescale transforms it, then calls
// sub_mul_scalar). last < q_l.
void centred_residue(const u64* last, u64* out, std::size_t n, u64 q, u64 ql, u64 ql_mod_q);
// Key-switching inner product over `digits` terms:
//   out0 = Σ_j a[j]·k0[j] + e0·w mod q,   out1 = Σ_j a[j]·k1[j] + e1·w mod q.
// e0 / e1 may be null (no extra term); out1 may be null: one product only (k1, e1 unused).
// All a[j], k0[j], k1[j], e0, e1, w < q, and the exact sums below 2^128 (true for up to 64
// terms). Outputs must not alias inputs.
void inner_product(const u64* const* a, const u64* const* k0, const u64* const* k1, std::size_t digits,
                   const u64* e0, const u64* e1, u64 w, u64* out0, u64* out1, std::size_t n, u64 q);
// The two steps of fast base conversion after y_i = x_i·(Q/q_i)^{-1} mod q_i (mul_scalar),
// with y_i at y + i·stride (s <= 64 source primes):
// count[c] = (u64)(0.5 + Σ_{i<s} (double)y_i[c]·inv_q[i]), products and sums rounded
// separately in i order (no fused multiply-add): the number of Q's in the fast conversion.
// Requires y_i < 2^63 and a sum below 2^52: true for residues y_i < q_i with inv_q[i] =
// 1/q_i (the sum is then below s).
void convert_count(const u64* y, std::size_t stride, std::size_t s, const double* inv_q, u64* count, std::size_t len);
// out[c] = Σ_{i<s} y_i[c]·pm[i] - count[c]·q_mod_t mod t for any 64-bit y and count (count
// may be null: no subtraction); pm[i] and q_mod_t below t with their Shoup quotients.
void convert_sum(const u64* y, std::size_t stride, std::size_t s, const u64* pm, const u64* pm_shoup, const u64* count,
                 u64 q_mod_t, u64 q_mod_t_shoup, u64* out, std::size_t len, u64 t);

// The scalar reference: plain loops over Modulus / Shoup arithmetic, as the engine ran
// before the vector kernels. Same contracts as above.
namespace scalar {
void add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
void sub(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
void negate(const u64* a, u64* out, std::size_t n, u64 q);
void mul_scalar(const u64* a, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q);
void mul(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
void mul_add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
void sub_mul_scalar(const u64* a, const u64* v, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q);
void rescale(const u64* x, const u64* last, u64* out, std::size_t n, const RescaleConstants& k);
void centred_residue(const u64* last, u64* out, std::size_t n, u64 q, u64 ql, u64 ql_mod_q);
void inner_product(const u64* const* a, const u64* const* k0, const u64* const* k1, std::size_t digits,
                   const u64* e0, const u64* e1, u64 w, u64* out0, u64* out1, std::size_t n, u64 q);
void convert_count(const u64* y, std::size_t stride, std::size_t s, const double* inv_q, u64* count, std::size_t len);
void convert_sum(const u64* y, std::size_t stride, std::size_t s, const u64* pm, const u64* pm_shoup, const u64* count,
                 u64 q_mod_t, u64 q_mod_t_shoup, u64* out, std::size_t len, u64 t);
}  // namespace scalar

// Highway target (HWY_AVX3, HWY_AVX2, ...) the dispatched kernels currently run on.
std::int64_t dispatched_target();
// Every Highway target compiled into the kernels that this CPU can run, best first; tests
// and benchmarks pin each with hwy::SetSupportedTargetsForTest.
std::vector<std::int64_t> runnable_targets();

}  // namespace hecnn::math::ew
