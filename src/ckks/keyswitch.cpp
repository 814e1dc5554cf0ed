#include "keyswitch.h"

#include <algorithm>
#include <vector>

#include "hecnn/math/aligned_vector.h"
#include "hecnn/math/elementwise.h"
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

void key_switch(const Context& ctx, int level, const u64* d_coeff, const u64* d_ntt, const RelinKey& key,
                const u64* extra0, const u64* extra1, u64* out0, u64* out1) {
    const auto& pre = ctx.precomp();
    const math::BaseConverter& moddown = *pre.moddown;
    const std::size_t n = ctx.n(), l1 = static_cast<std::size_t>(level) + 1, k = ctx.special_count();
    const std::size_t data_count = ctx.data_count();
    const std::size_t alpha = static_cast<std::size_t>(ctx.digit_size());
    const std::size_t digits = static_cast<std::size_t>(ctx.digits_at_level(level));
    // Local limb t: data prime t for t < l1, special prime t - l1 after.
    auto ext_index = [&](std::size_t t) { return t < l1 ? t : data_count + (t - l1); };
    auto digit_start = [&](std::size_t j) { return j * alpha; };
    auto digit_size = [&](std::size_t j) { return std::min(alpha, l1 - j * alpha); };
    auto modup = [&](std::size_t j) -> const math::BaseConverter& { return *pre.modup[j][digit_size(j) - 1]; };

    // ModUp, first step: every data limb scaled by its digit's (Q_j/q_i)^{-1} (l1 limbs).
    math::AlignedVector<u64> y(l1 * n);
#pragma omp parallel for schedule(dynamic)
    for (std::size_t i = 0; i < l1; ++i) {
        const std::size_t j = i / alpha;
        modup(j).scale(i - digit_start(j), d_coeff + i * n, y.data() + i * n, n);
    }

    // Output limb t of both sums, in coefficient form, one limb at a time while its data stay
    // in the cache: each digit's conversion to t (digit j's own limbs are d's NTT form) and
    // its forward NTT; the inner product with the key plus P·extra on the data limbs (ModDown
    // then returns ... + extra exactly, so the ciphertext's other components cost no
    // transform), summed exactly over the digits and reduced once; the inverse NTTs. `up`
    // holds `digits` limbs of scratch.
    auto sum_limb = [&](std::size_t t, u64* up, u64* a0, u64* a1) {
        const std::size_t e = ext_index(t);
        const math::NTTTables& ntt = ctx.ntt(e);
        std::vector<const u64*> ups(digits), kb(digits), ka(digits);
        for (std::size_t j = 0; j < digits; ++j) {
            const std::size_t start = digit_start(j);
            if (t >= start && t < start + digit_size(j)) {
                ups[j] = d_ntt + t * n;
            } else {
                u64* u = up + j * n;
                modup(j).convert_scaled(y.data() + start * n, n, e, u, n);
                ntt.forward(u);
                ups[j] = u;
            }
            kb[j] = key.b(j, e);
            ka[j] = key.a(j, e);
        }
        const u64 pm = t < l1 ? pre.p_mod_q[t] : 0;
        const u64* ex0 = t < l1 && extra0 ? extra0 + t * n : nullptr;
        const u64* ex1 = t < l1 && extra1 ? extra1 + t * n : nullptr;
        math::ew::inner_product(ups.data(), kb.data(), ka.data(), digits, ex0, ex1, pm, a0, a1, n, ctx.modulus(e).value());
        ntt.inverse(a0);
        ntt.inverse(a1);
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
