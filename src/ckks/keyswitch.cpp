#include "keyswitch.h"

#include <algorithm>
#include <vector>

#include "hecnn/math/aligned_vector.h"
#include "hecnn/math/elementwise.h"
#include "automorphism.h"
#include "poly_ops.h"
#include "precomp.h"

namespace hecnn::ckks::detail {
namespace {

// Run f(begin, end) over [0, n) split into chunks, in parallel.
template <class F>
void parallel_columns(std::size_t n, F&& f) {
    const std::size_t chunk = std::max<std::size_t>(1024, n / 8);
#pragma omp parallel for schedule(static)
    for (std::size_t c0 = 0; c0 < n; c0 += chunk) f(c0, std::min(n, c0 + chunk));
}

}  // namespace

namespace {

// Digits and limbs of Q_l·P at a level. Local limb t: data prime t for t < l+1, special
// prime t - (l+1) after.
struct Layout {
    std::size_t n, l1, k, data_count, alpha, digits;
    Layout(const Context& ctx, int level)
        : n(ctx.n()),
          l1(static_cast<std::size_t>(level) + 1),
          k(ctx.special_count()),
          data_count(ctx.data_count()),
          alpha(static_cast<std::size_t>(ctx.digit_size())),
          digits(static_cast<std::size_t>(ctx.digits_at_level(level))) {}
    std::size_t ext_index(std::size_t t) const { return t < l1 ? t : data_count + (t - l1); }
    std::size_t digit_start(std::size_t j) const { return j * alpha; }
    std::size_t digit_size(std::size_t j) const { return std::min(alpha, l1 - j * alpha); }
    bool in_digit(std::size_t t, std::size_t j) const { return t >= digit_start(j) && t < digit_start(j) + digit_size(j); }
};

// ModUp, first step: every data limb scaled by its digit's (Q_j/q_i)^{-1} (l1 limbs).
math::AlignedVector<u64> modup_scaled(const Context& ctx, const Layout& g, const u64* d_coeff) {
    const auto& pre = ctx.precomp();
    math::AlignedVector<u64> y(g.l1 * g.n);
#pragma omp parallel for schedule(dynamic)
    for (std::size_t i = 0; i < g.l1; ++i) {
        const std::size_t j = i / g.alpha;
        pre.modup[j][g.digit_size(j) - 1]->scale(i - g.digit_start(j), d_coeff + i * g.n, y.data() + i * g.n, g.n);
    }
    return y;
}

// Limb t of digit j's ModUp in NTT form into u (digit j's own limbs are d's NTT form).
const u64* modup_limb(const Context& ctx, const Layout& g, const u64* y, const u64* d_ntt, std::size_t t, std::size_t j, u64* u) {
    if (g.in_digit(t, j)) return d_ntt + t * g.n;
    const std::size_t e = g.ext_index(t);
    ctx.precomp().modup[j][g.digit_size(j) - 1]->convert_scaled(y + g.digit_start(j) * g.n, g.n, e, u, g.n);
    ctx.ntt(e).forward(u);
    return u;
}

// The inner product of the decomposed d with the key, plus P·extra, then ModDown to the
// output. digit_limb(t, j, scratch) gives limb t of digit j's ModUp in NTT form (it may
// write the N words at scratch).
//
// Output limb t of both sums is made in coefficient form one limb at a time while its data
// stay in the cache: the digits' limbs; the inner product with the key plus P·extra on the
// data limbs (ModDown then returns ... + extra exactly, so the ciphertext's other
// components cost no transform), summed exactly over the digits and reduced once; the
// inverse NTTs.
template <class DigitLimb>
void inner_product_mod_down(const Context& ctx, const Layout& g, const KeySwitchKey& key, const u64* extra0, const u64* extra1,
                            u64* out0, u64* out1, DigitLimb&& digit_limb) {
    const auto& pre = ctx.precomp();
    const math::BaseConverter& moddown = *pre.moddown;
    const std::size_t n = g.n, l1 = g.l1, k = g.k, digits = g.digits;
    auto sum_limb = [&](std::size_t t, u64* up, u64* a0, u64* a1) {
        const std::size_t e = g.ext_index(t);
        std::vector<const u64*> ups(digits), kb(digits), ka(digits);
        for (std::size_t j = 0; j < digits; ++j) {
            ups[j] = digit_limb(t, j, up + j * n);
            kb[j] = key.b(j, e);
            ka[j] = key.a(j, e);
        }
        const u64 pm = t < l1 ? pre.p_mod_q[t] : 0;
        const u64* ex0 = t < l1 && extra0 ? extra0 + t * n : nullptr;
        const u64* ex1 = t < l1 && extra1 ? extra1 + t * n : nullptr;
        math::ew::inner_product(ups.data(), kb.data(), ka.data(), digits, ex0, ex1, pm, a0, a1, n, ctx.modulus(e).value());
        ctx.ntt(e).inverse(a0);
        ctx.ntt(e).inverse(a1);
    };

    // The special limbs first: ModDown converts them onto every data limb. Scaled (ys) and
    // with the count of P's of the centred conversion (cnt), for both sums.
    math::AlignedVector<u64> special(2 * k * n), ys(2 * k * n), cnt(2 * n);
#pragma omp parallel
    {
        math::AlignedVector<u64> up(digits * n);
#pragma omp for schedule(dynamic)
        for (std::size_t i = 0; i < k; ++i) sum_limb(l1 + i, up.data(), special.data() + i * n, special.data() + (k + i) * n);
    }
#pragma omp parallel for
    for (std::size_t i = 0; i < 2 * k; ++i) moddown.scale(i % k, special.data() + i * n, ys.data() + i * n, n);
    parallel_columns(n, [&](std::size_t c0, std::size_t c1) {
        for (std::size_t c = 0; c < 2; ++c) moddown.centred_count(ys.data() + c * k * n + c0, n, cnt.data() + c * n + c0, c1 - c0);
    });

    // Then each data limb, straight to the output: (sum - special part)·P^{-1} (ModDown).
#pragma omp parallel
    {
        math::AlignedVector<u64> up(digits * n), a0(n), a1(n), v(n);
#pragma omp for schedule(dynamic)
        for (std::size_t t = 0; t < l1; ++t) {
            sum_limb(t, up.data(), a0.data(), a1.data());
            const u64 q = ctx.modulus(t).value(), w = pre.p_inv_mod_q[t], ws = pre.p_inv_mod_q_shoup[t];
            for (std::size_t c = 0; c < 2; ++c) {
                moddown.convert_scaled(ys.data() + c * k * n, n, t, v.data(), n, cnt.data() + c * n);
                math::ew::sub_mul_scalar((c == 0 ? a0 : a1).data(), v.data(), w, ws, (c == 0 ? out0 : out1) + t * n, n, q);
            }
        }
    }
}

}  // namespace

void key_switch(const Context& ctx, int level, const u64* d_coeff, const u64* d_ntt, const KeySwitchKey& key,
                const u64* extra0, const u64* extra1, u64* out0, u64* out1) {
    const Layout g(ctx, level);
    const auto y = modup_scaled(ctx, g, d_coeff);
    inner_product_mod_down(ctx, g, key, extra0, extra1, out0, out1,
                           [&](std::size_t t, std::size_t j, u64* u) { return modup_limb(ctx, g, y.data(), d_ntt, t, j, u); });
}

Decomposition decompose(const Context& ctx, int level, const u64* d_coeff, const u64* d_ntt) {
    const Layout g(ctx, level);
    const auto y = modup_scaled(ctx, g, d_coeff);
    Decomposition dec;
    dec.level = level;
    dec.digits = g.digits;
    dec.limbs = g.l1 + g.k;
    dec.n = g.n;
    dec.data.resize(dec.digits * dec.limbs * g.n);
#pragma omp parallel for schedule(dynamic)
    for (std::size_t jt = 0; jt < dec.digits * dec.limbs; ++jt) {
        const std::size_t j = jt / dec.limbs, t = jt % dec.limbs;
        u64* dst = dec.data.data() + jt * g.n;
        const u64* src = modup_limb(ctx, g, y.data(), d_ntt, t, j, dst);
        if (src != dst) std::copy(src, src + g.n, dst);
    }
    return dec;
}

void key_switch_hoisted(const Context& ctx, const Decomposition& dec, const std::uint32_t* perm, const KeySwitchKey& key,
                        const u64* extra0, const u64* extra1, u64* out0, u64* out1) {
    const Layout g(ctx, dec.level);
    inner_product_mod_down(ctx, g, key, extra0, extra1, out0, out1, [&](std::size_t t, std::size_t j, u64* u) {
        galois_ntt_limb(dec.limb(j, t), u, perm, g.n);
        return static_cast<const u64*>(u);
    });
}

void mod_down(const Context& ctx, int level, const u64* acc, u64* scratch, u64* out) {
    const auto& pre = ctx.precomp();
    const std::size_t n = ctx.n(), l1 = static_cast<std::size_t>(level) + 1, k = ctx.special_count();
    std::vector<std::size_t> data_targets(l1);
    for (std::size_t i = 0; i < l1; ++i) data_targets[i] = i;
    // Per chunk of columns: the special part converted onto the data primes (into scratch),
    // then (acc - v)·P^{-1} mod q_i while the chunk is still in the cache.
    parallel_columns(n, [&](std::size_t c0, std::size_t c1) {
        std::vector<const u64*> s(k);
        std::vector<u64*> d(l1);
        for (std::size_t i = 0; i < k; ++i) s[i] = acc + (l1 + i) * n + c0;
        for (std::size_t i = 0; i < l1; ++i) d[i] = scratch + i * n + c0;
        pre.moddown->convert_centred(s.data(), d, data_targets, c1 - c0);
        for (std::size_t i = 0; i < l1; ++i)
            math::ew::sub_mul_scalar(acc + i * n + c0, scratch + i * n + c0, pre.p_inv_mod_q[i], pre.p_inv_mod_q_shoup[i],
                                     out + i * n + c0, c1 - c0, ctx.modulus(i).value());
    });
}

}  // namespace hecnn::ckks::detail
