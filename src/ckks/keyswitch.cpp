#include "keyswitch.h"

#include <algorithm>
#include <vector>

#include "hecnn/math/aligned_vector.h"
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
    const std::size_t n = ctx.n(), l1 = static_cast<std::size_t>(level) + 1, k = ctx.special_count();
    const std::size_t total = l1 + k, data_count = ctx.data_count();
    const int alpha = ctx.digit_size();
    // Local limb t: data prime t for t < l1, special prime t - l1 after.
    auto ext_index = [&](std::size_t t) { return t < l1 ? t : data_count + (t - l1); };

    math::AlignedVector<u64> acc0(total * n), acc1(total * n);
    const int digits = ctx.digits_at_level(level);
    // ModUp of every digit first (digit j's own limbs are d2's NTT form, not copied), so the
    // inner product below can accumulate all digits in 128 bits and reduce once.
    math::AlignedVector<u64> up(static_cast<std::size_t>(digits) * total * n);
    std::vector<const u64*> limb_of(static_cast<std::size_t>(digits) * total);
    for (int j = 0; j < digits; ++j) {
        const std::size_t start = static_cast<std::size_t>(j) * alpha;
        const std::size_t size = std::min<std::size_t>(alpha, l1 - start);
        const math::BaseConverter& conv = *pre.modup[j][size - 1];
        u64* base = up.data() + static_cast<std::size_t>(j) * total * n;
        std::vector<std::size_t> targets, locals;
        for (std::size_t t = 0; t < total; ++t) {
            const bool inside = t >= start && t < start + size;
            limb_of[j * total + t] = inside ? d_ntt + t * n : base + t * n;
            if (!inside) targets.push_back(ext_index(t)), locals.push_back(t);
        }
        parallel_columns(n, [&](std::size_t c0, std::size_t c1) {
            std::vector<const u64*> s(size);
            std::vector<u64*> d(locals.size());
            for (std::size_t i = 0; i < size; ++i) s[i] = d_coeff + (start + i) * n + c0;
            for (std::size_t i = 0; i < locals.size(); ++i) d[i] = base + locals[i] * n + c0;
            conv.convert(s.data(), d, targets, c1 - c0);
        });
#pragma omp parallel for schedule(dynamic)
        for (std::size_t i = 0; i < locals.size(); ++i) ctx.ntt(targets[i]).forward(base + locals[i] * n);
    }

    // Inner product with the key, plus P·extra on the data limbs (ModDown then returns
    // ... + extra exactly, so the ciphertext's other components cost no transform).
#pragma omp parallel for schedule(dynamic)
    for (std::size_t t = 0; t < total; ++t) {
        const std::size_t e = ext_index(t);
        const Modulus& q = ctx.modulus(e);
        const u64 pm = t < l1 ? pre.p_mod_q[t] : 0;
        const u64* ex0 = t < l1 && extra0 ? extra0 + t * n : nullptr;
        const u64* ex1 = t < l1 && extra1 ? extra1 + t * n : nullptr;
        u64* a0 = acc0.data() + t * n;
        u64* a1 = acc1.data() + t * n;
        for (std::size_t x = 0; x < n; ++x) {
            math::u128 s0 = ex0 ? static_cast<math::u128>(ex0[x]) * pm : 0;
            math::u128 s1 = ex1 ? static_cast<math::u128>(ex1[x]) * pm : 0;
            for (int j = 0; j < digits; ++j) {
                const u64 v = limb_of[j * total + t][x];
                s0 += static_cast<math::u128>(v) * key.b(j, e)[x];
                s1 += static_cast<math::u128>(v) * key.a(j, e)[x];
            }
            a0[x] = q.reduce128(s0);
            a1[x] = q.reduce128(s1);
        }
    }

    // ModDown: all limbs to coefficient form, subtract the special part's conversion, ×P^{-1}.
#pragma omp parallel for schedule(dynamic)
    for (std::size_t tc = 0; tc < 2 * total; ++tc) {
        const std::size_t t = tc % total;
        u64* a = (tc < total ? acc0 : acc1).data() + t * n;
        ctx.ntt(ext_index(t)).inverse(a);
    }
    mod_down(ctx, level, acc0.data(), up.data(), out0);
    mod_down(ctx, level, acc1.data(), up.data(), out1);
}

void mod_down(const Context& ctx, int level, const u64* acc, u64* scratch, u64* out) {
    const auto& pre = ctx.precomp();
    const std::size_t n = ctx.n(), l1 = static_cast<std::size_t>(level) + 1, k = ctx.special_count();
    std::vector<std::size_t> data_targets(l1);
    for (std::size_t i = 0; i < l1; ++i) data_targets[i] = i;
    // scratch receives the special part converted onto the data primes.
    parallel_columns(n, [&](std::size_t c0, std::size_t c1) {
        std::vector<const u64*> s(k);
        std::vector<u64*> d(l1);
        for (std::size_t i = 0; i < k; ++i) s[i] = acc + (l1 + i) * n + c0;
        for (std::size_t i = 0; i < l1; ++i) d[i] = scratch + i * n + c0;
        pre.moddown->convert_centred(s.data(), d, data_targets, c1 - c0);
    });
#pragma omp parallel for
    for (std::size_t i = 0; i < l1; ++i) {
        const u64 q = ctx.modulus(i).value(), w = pre.p_inv_mod_q[i], ws = pre.p_inv_mod_q_shoup[i];
        const u64* a = acc + i * n;
        const u64* v = scratch + i * n;
        u64* o = out + i * n;
        for (std::size_t x = 0; x < n; ++x) o[x] = math::mul_shoup(a[x] + q - v[x], w, ws, q);
    }
}

}  // namespace hecnn::ckks::detail
