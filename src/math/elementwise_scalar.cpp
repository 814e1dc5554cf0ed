// Scalar reference of the element-wise kernels (hecnn/math/elementwise.h): the plain loops
// the engine ran before the vector kernels, kept as the fallback of targets without wide
// vectors, for the tails of the vector loops, and as the reference the tests compare with.
#include <stdexcept>

#include "hecnn/math/elementwise.h"

namespace hecnn::math::ew::scalar {
namespace {

// Rounds a product on its own: a compiler allowed to contract (GCC's default for C++ with
// FMA available, e.g. under -march=native) must not fuse it with the following addition,
// or the result would depend on the build flags.
inline double opaque(double v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__("" : "+x"(v));
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__("" : "+w"(v));
#endif
    return v;
}

}  // namespace

void add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    for (std::size_t k = 0; k < n; ++k) {
        const u64 s = a[k] + b[k];
        out[k] = s >= q ? s - q : s;
    }
}

void sub(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    for (std::size_t k = 0; k < n; ++k) out[k] = a[k] >= b[k] ? a[k] - b[k] : a[k] + q - b[k];
}

void negate(const u64* a, u64* out, std::size_t n, u64 q) {
    for (std::size_t k = 0; k < n; ++k) out[k] = a[k] == 0 ? 0 : q - a[k];
}

void mul_scalar(const u64* a, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    for (std::size_t k = 0; k < n; ++k) out[k] = mul_shoup(a[k], w, w_shoup, q);
}

void mul(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    const Modulus m(q);
    for (std::size_t k = 0; k < n; ++k) out[k] = m.mul(a[k], b[k]);
}

void mul_add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    const Modulus m(q);
    for (std::size_t k = 0; k < n; ++k) out[k] = m.add(out[k], m.mul(a[k], b[k]));
}

void sub_mul_scalar(const u64* a, const u64* v, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    for (std::size_t k = 0; k < n; ++k) out[k] = mul_shoup(a[k] + q - v[k], w, w_shoup, q);
}

namespace {
// The residue mod q of the centred v (v < q_l): v - q_l when v > q_l/2.
inline u64 centred(const Modulus& q, u64 v, u64 half, u64 ql_mod_q) {
    const u64 rv = q.reduce(v), qv = q.value();
    return v > half ? (rv >= ql_mod_q ? rv - ql_mod_q : rv + qv - ql_mod_q) : rv;
}
}  // namespace

void rescale(const u64* x, const u64* last, u64* out, std::size_t n, const RescaleConstants& k) {
    const Modulus q(k.q);
    const u64 half = k.ql >> 1;
    for (std::size_t c = 0; c < n; ++c)
        out[c] = mul_shoup(x[c] + k.q - centred(q, last[c], half, k.ql_mod_q), k.inv, k.inv_shoup, k.q);
}

void centred_residue(const u64* last, u64* out, std::size_t n, u64 q, u64 ql, u64 ql_mod_q) {
    const Modulus m(q);
    const u64 half = ql >> 1;
    for (std::size_t c = 0; c < n; ++c) out[c] = centred(m, last[c], half, ql_mod_q);
}

void inner_product(const u64* const* a, const u64* const* k0, const u64* const* k1, std::size_t digits,
                   const u64* e0, const u64* e1, u64 w, u64* out0, u64* out1, std::size_t n, u64 q) {
    const Modulus m(q);
    for (std::size_t x = 0; x < n; ++x) {
        u128 s0 = e0 ? static_cast<u128>(e0[x]) * w : 0;
        u128 s1 = out1 && e1 ? static_cast<u128>(e1[x]) * w : 0;
        for (std::size_t j = 0; j < digits; ++j) {
            const u64 v = a[j][x];
            s0 += static_cast<u128>(v) * k0[j][x];
            if (out1) s1 += static_cast<u128>(v) * k1[j][x];
        }
        out0[x] = m.reduce128(s0);
        if (out1) out1[x] = m.reduce128(s1);
    }
}

void convert_count(const u64* y, std::size_t stride, std::size_t s, const double* inv_q, u64* count, std::size_t len) {
    for (std::size_t c = 0; c < len; ++c) {
        double v = 0.5;
        for (std::size_t i = 0; i < s; ++i) v += opaque(static_cast<double>(y[i * stride + c]) * inv_q[i]);
        count[c] = static_cast<u64>(v);
    }
}

void convert_sum(const u64* y, std::size_t stride, std::size_t s, const u64* pm, const u64* pm_shoup, const u64* count,
                 u64 q_mod_t, u64 q_mod_t_shoup, u64* out, std::size_t len, u64 t) {
    const u64 two_t = 2 * t;
    // Shoup products in [0, 2t), summed with one conditional subtraction each: the running
    // sum stays below 4t < 2^63.
    for (std::size_t c = 0; c < len; ++c) {
        u64 acc = 0;
        for (std::size_t i = 0; i < s; ++i) {
            acc += mul_shoup_lazy(y[i * stride + c], pm[i], pm_shoup[i], t);
            if (acc >= two_t) acc -= two_t;
        }
        if (count) {
            const u64 sub = mul_shoup_lazy(count[c], q_mod_t, q_mod_t_shoup, t);  // [0, 2t)
            acc = acc + two_t - sub;                                              // (0, 4t)
            if (acc >= two_t) acc -= two_t;
        }
        out[c] = acc >= t ? acc - t : acc;
    }
}

}  // namespace hecnn::math::ew::scalar
