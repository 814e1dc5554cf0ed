// Small element-wise kernels over RNS limbs shared by the ckks sources (internal). The limb
// operations forward to the vector kernels of hecnn/math/elementwise.h; their inputs are
// canonical residues.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/context.h"
#include "hecnn/math/csprng.h"

namespace hecnn::ckks::detail {

inline constexpr double kErrorSigma = 3.2;

// Signed small integers (errors, ternary values) → residues mod q, one limb.
template <class Int>
void signed_to_limb(std::span<const Int> v, const Modulus& q, u64* out) {
    const u64 qv = q.value();
    for (std::size_t k = 0; k < v.size(); ++k) {
        const std::int64_t x = v[k];
        out[k] = x >= 0 ? static_cast<u64>(x) : qv - static_cast<u64>(-x);
    }
}

void add_limb(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
void sub_limb(const u64* a, const u64* b, u64* out, std::size_t n, u64 q);
void negate_limb(const u64* a, u64* out, std::size_t n, u64 q);
void mul_limb(const u64* a, const u64* b, u64* out, std::size_t n, const Modulus& q);
// out += a * b (mod q)
void mul_add_limb(const u64* a, const u64* b, u64* out, std::size_t n, const Modulus& q);
void mul_scalar_limb(const u64* a, u64 w, u64* out, std::size_t n, u64 q);

// Residues of round(x) for a real x of any magnitude (exact for |x| < 2^1023).
void real_to_residues(double x, std::span<const Modulus> moduli, std::span<u64> out);

// Adds round(value) to the first polynomial as a constant polynomial: to the constant
// coefficient in coefficient form, to every slot in NTT form (a constant evaluates to
// itself everywhere). value is already at the block's scale.
void add_constant(PolyBlock& a, double value);

}  // namespace hecnn::ckks::detail
