// Exact modular matrix product with small signed-integer weights: the conv/dense kernel.
//
// Under element-wise packing a linear layer is, per RNS limb q, OUT (O x n) = W (O x K) .
// IN (K x n) mod q, where W holds signed integers (the quantised weights, identical in every
// limb) and the rows of IN are residue polynomials. ModGemm evaluates it exactly through
// FP64 fused multiply-adds: residues (and, if needed, weights) are split into balanced
// signed digits small enough that every partial sum is an integer below 2^51, the digit
// products are accumulated by a register-blocked SIMD kernel (Highway, dynamic dispatch),
// and the pieces are recombined with one modular reduction per output. The digit sizes are
// chosen per call from K, the weight magnitudes and q (see ModGemmPlan); the result is
// bit-identical to modgemm_reference for every input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "hecnn/math/modulus.h"

namespace hecnn::math {

// How ModGemm::apply evaluates a product for one modulus (exposed for tests and benchmarks).
//
// Residues x in [0, q) are taken in balanced form (|x| <= (q-1)/2) and split into
// x_digits balanced digits of x_digit_bits bits. Two modes:
//  * direct (folded == false): the weights (if some |w| > (q-1)/2: their smallest-magnitude
//    representatives mod q) are split into w_digits balanced digits of w_digit_bits bits;
//    piece (i, j) = sum_k x_digit_i[k] * w_digit_j[k], recombined with weight 2^(i*xb + j*wb).
//  * folded (folded == true): the digit scale is folded into the weights,
//    w'[k][i] = w[k] * 2^(i*xb) mod q (balanced), which are split into w_digits digits;
//    piece j = sum_{k,i} x_digit_i[k] * w'_digit_j[k][i], recombined with weight 2^(j*wb).
//  * Karatsuba (karatsuba == true; direct, 2 x 2 digits, x_digit_bits == w_digit_bits == b):
//    with x = x1 2^b + x0 and w = w1 2^b + w0 (w as in direct mode), three pieces
//    P_hi = sum_k x1 w1, P_lo = sum_k x0 w0, P_mid = sum_k (x1 + x0)(w1 + w0), recombined as
//    P_hi 2^(2b) + (P_mid - P_hi - P_lo) 2^b + P_lo: 3 FMAs per MAC instead of 4. The digit
//    sums are one bit larger, which the exactness bound of P_mid accounts for.
// fp64_macs_per_mac = FP64 multiply-adds spent per residue multiply-accumulate.
struct ModGemmPlan {
    bool folded = false;
    bool karatsuba = false;
    int x_digits = 0, x_digit_bits = 0;
    int w_digits = 0, w_digit_bits = 0;
    std::size_t pieces = 0;
    std::size_t fp64_macs_per_mac = 0;
    double max_piece_bound = 0;  // largest bound on |partial sum| of any piece (< 2^51)
};

// Integer weights prepared once per layer, reused for every limb and tile.
class ModGemm {
public:
    // w: rows*cols signed integers, row-major, |w| < 2^62. Throws std::invalid_argument on
    // bad sizes (rows or cols zero, w.size() != rows*cols) or out-of-range weights.
    ModGemm(std::span<const std::int64_t> w, std::size_t rows, std::size_t cols);

    std::size_t rows() const { return rows_; }
    std::size_t cols() const { return cols_; }

    // out[o][c] = (sum_k w[o][k] * in[k][c]) mod q, in [0, q), for c in [0, n).
    // in: cols pointers, each to n residues in [0, q); out: rows pointers to n residues
    // (must not alias in). Single-threaded; const and thread-safe (callers run it
    // concurrently for different limbs / column tiles). Columns are tiled internally.
    // The first call for a modulus prepares the weight digits for it (O(rows*cols)); they
    // are cached in the object (up to 64 moduli) for later calls, tiles and copies.
    void apply(const Modulus& q, const u64* const* in, u64* const* out, std::size_t n) const;

    // The digit plan apply() uses for modulus q.
    ModGemmPlan plan(const Modulus& q) const;

private:
    struct Prepared;  // plan and weight digits for one modulus
    struct Cache;     // preparations by modulus (thread-safe; shared by copies)
    std::shared_ptr<const Prepared> prepare(const Modulus& q) const;

    std::size_t rows_ = 0, cols_ = 0;
    std::vector<std::int64_t> w_;  // row-major rows_ x cols_
    std::uint64_t max_abs_ = 0;    // max |w|
    std::shared_ptr<Cache> cache_;
};

// Straightforward reference (128-bit accumulation, one reduction per output for K <= 32,
// one per 32 terms beyond) for tests and baselines. Same contract as ModGemm::apply.
void modgemm_reference(const Modulus& q, std::span<const std::int64_t> w, std::size_t rows, std::size_t cols,
                       const u64* const* in, u64* const* out, std::size_t n);

}  // namespace hecnn::math
