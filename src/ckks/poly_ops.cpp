#include "poly_ops.h"

#include <cmath>
#include <stdexcept>

#include "hecnn/math/elementwise.h"

namespace hecnn::ckks::detail {

// The limb kernels are the vector ones of hecnn/math/elementwise.h (bit-identical to the
// scalar loops they replaced).
void add_limb(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { math::ew::add(a, b, out, n, q); }

void sub_limb(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { math::ew::sub(a, b, out, n, q); }

void negate_limb(const u64* a, u64* out, std::size_t n, u64 q) { math::ew::negate(a, out, n, q); }

void mul_limb(const u64* a, const u64* b, u64* out, std::size_t n, const Modulus& q) { math::ew::mul(a, b, out, n, q.value()); }

void mul_add_limb(const u64* a, const u64* b, u64* out, std::size_t n, const Modulus& q) {
    math::ew::mul_add(a, b, out, n, q.value());
}

void mul_scalar_limb(const u64* a, u64 w, u64* out, std::size_t n, u64 q) {
    math::ew::mul_scalar(a, w, math::shoup_precompute(w, q), out, n, q);
}

void real_to_residues(double x, std::span<const Modulus> moduli, std::span<u64> out) {
    if (!std::isfinite(x)) throw std::invalid_argument("cannot encode a non-finite value (NaN or infinity)");
    const double r = std::nearbyint(x);
    if (std::fabs(r) < 9.2e18) {
        const auto v = static_cast<std::int64_t>(r);
        for (std::size_t i = 0; i < moduli.size(); ++i) out[i] = moduli[i].reduce_signed(v);
        return;
    }
    // |r| = m · 2^e with a 53-bit integer m: residues of m times 2^e mod q.
    int e = 0;
    const double m = std::frexp(std::fabs(r), &e);  // |r| = m·2^e, m in [0.5, 1)
    const auto mant = static_cast<std::uint64_t>(std::ldexp(m, 53));
    const int shift = e - 53;  // >= 10 here
    for (std::size_t i = 0; i < moduli.size(); ++i) {
        u64 v = moduli[i].mul(moduli[i].reduce(mant), moduli[i].pow(2, static_cast<u64>(shift)));
        out[i] = r < 0 ? moduli[i].neg(v) : v;
    }
}

void add_constant(PolyBlock& a, double value) {
    const Context& ctx = *a.context();
    std::vector<u64> v(a.limbs());
    real_to_residues(value, {ctx.data_moduli().data(), a.limbs()}, v);
    const std::size_t n = a.n();
    for (std::size_t i = 0; i < a.limbs(); ++i) {
        const Modulus& q = ctx.modulus(i);
        u64* c0 = a.limb(0, i);
        if (a.is_ntt())
            for (std::size_t x = 0; x < n; ++x) c0[x] = q.add(c0[x], v[i]);
        else
            c0[0] = q.add(c0[0], v[i]);
    }
}

}  // namespace hecnn::ckks::detail
