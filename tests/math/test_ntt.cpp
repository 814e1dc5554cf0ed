// Negacyclic NTT: round trips, products against the schoolbook reference, the evaluation
// convention, linearity, and every compiled Highway target against the scalar reference.
#include <gtest/gtest.h>

#include "math/hwy_targets.h"

#include <hwy/targets.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/modulus.h"
#include "hecnn/math/ntt.h"
#include "hecnn/math/primes.h"
#include "math/ntt_kernels.h"

using namespace hecnn::math;

namespace {

constexpr int kPrimeBits[] = {30, 40, 50, 60, 61};

std::vector<u64> random_poly(Prng& prng, const Modulus& q, std::size_t n) {
    std::vector<u64> a(n);
    prng.uniform_mod(q, a);
    return a;
}

// Edge inputs: all zeros, all q - 1 (the largest canonical value, stressing the lazy
// bounds), and the monomial X^(N-1).
std::vector<std::vector<u64>> edge_polys(const Modulus& q, std::size_t n) {
    std::vector<u64> top(n, 0);
    top[n - 1] = 1;
    return {std::vector<u64>(n, 0), std::vector<u64>(n, q.value() - 1), top};
}

std::vector<u64> ntt_multiply(const NTTTables& t, std::vector<u64> a, std::vector<u64> b) {
    t.forward(a.data());
    t.forward(b.data());
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = t.modulus().mul(a[i], b[i]);
    t.inverse(a.data());
    return a;
}

u64 reverse_bits(u64 x, int bits) {
    u64 r = 0;
    for (int i = 0; i < bits; ++i, x >>= 1) r = (r << 1) | (x & 1);
    return r;
}

using hecnn::test::PinTarget;

}  // namespace

TEST(Ntt, ForwardThenInverseIsIdentity) {
    Prng prng(Seed{10});
    for (int bits : kPrimeBits) {
        for (int log_n = 1; log_n <= 16; ++log_n) {
            const Modulus q(generate_ntt_primes(bits, log_n, 1)[0]);
            const NTTTables t(log_n, q);
            auto polys = edge_polys(q, t.n());
            polys.push_back(random_poly(prng, q, t.n()));
            for (const auto& a : polys) {
                std::vector<u64> b = a;
                t.forward(b.data());
                ASSERT_TRUE(std::all_of(b.begin(), b.end(), [&](u64 v) { return v < q.value(); }))
                    << "forward output not reduced, bits=" << bits << " log_n=" << log_n;
                t.inverse(b.data());
                ASSERT_EQ(b, a) << "bits=" << bits << " log_n=" << log_n;
            }
        }
    }
}

TEST(Ntt, ProductMatchesSchoolbook) {
    Prng prng(Seed{11});
    for (int bits : {30, 61}) {
        for (int log_n = 1; log_n <= 10; ++log_n) {
            const Modulus q(generate_ntt_primes(bits, log_n, 1)[0]);
            const NTTTables t(log_n, q);
            auto polys = edge_polys(q, t.n());
            polys.push_back(random_poly(prng, q, t.n()));
            polys.push_back(random_poly(prng, q, t.n()));
            for (const auto& a : polys)
                for (const auto& b : polys)
                    ASSERT_EQ(ntt_multiply(t, a, b), negacyclic_multiply_schoolbook(a, b, q))
                        << "bits=" << bits << " log_n=" << log_n;
        }
    }
}

TEST(Ntt, MonomialSquareWrapsAroundNegated) {
    // X^(N-1) * X^(N-1) = X^(2N-2) = -X^(N-2) in Z_q[X]/(X^N + 1): pins the sign convention
    // independently of the schoolbook reference.
    for (int log_n : {2, 5, 12}) {
        const Modulus q(generate_ntt_primes(60, log_n, 1)[0]);
        const NTTTables t(log_n, q);
        const std::size_t n = t.n();
        std::vector<u64> a(n, 0), expected(n, 0);
        a[n - 1] = 1;
        expected[n - 2] = q.value() - 1;
        EXPECT_EQ(ntt_multiply(t, a, a), expected) << "log_n=" << log_n;
    }
}

TEST(Ntt, ForwardEvaluatesAtOddRootPowersInBitReversedOrder) {
    Prng prng(Seed{12});
    for (int log_n : {1, 3, 4, 5, 6}) {
        const Modulus q(generate_ntt_primes(61, log_n, 1)[0]);
        const NTTTables t(log_n, q);
        const std::vector<u64> a = random_poly(prng, q, t.n());
        std::vector<u64> b = a;
        t.forward(b.data());
        for (std::size_t i = 0; i < t.n(); ++i) {
            const u64 x = q.pow(t.root(), 2 * reverse_bits(i, log_n) + 1);
            u64 value = 0;  // Horner
            for (std::size_t k = t.n(); k-- > 0;) value = q.add(q.mul(value, x), a[k]);
            ASSERT_EQ(b[i], value) << "log_n=" << log_n << " i=" << i;
        }
    }
}

TEST(Ntt, TransformsAreLinear) {
    Prng prng(Seed{13});
    for (int log_n : {3, 4, 11, 14}) {
        const Modulus q(generate_ntt_primes(61, log_n, 1)[0]);
        const NTTTables t(log_n, q);
        const std::size_t n = t.n();
        std::vector<u64> a = random_poly(prng, q, n), b = random_poly(prng, q, n);
        std::vector<u64> c(1);
        prng.uniform_mod(q, c);
        std::vector<u64> combo(n);  // c*a + b
        for (std::size_t i = 0; i < n; ++i) combo[i] = q.add(q.mul(c[0], a[i]), b[i]);
        for (bool forward : {true, false}) {
            std::vector<u64> ta = a, tb = b, tcombo = combo;
            for (auto* v : {&ta, &tb, &tcombo}) forward ? t.forward(v->data()) : t.inverse(v->data());
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_EQ(tcombo[i], q.add(q.mul(c[0], ta[i]), tb[i]))
                    << (forward ? "forward" : "inverse") << " log_n=" << log_n << " i=" << i;
        }
    }
}

TEST(Ntt, DispatchPicksBestRunnableTarget) {
    const std::vector<std::int64_t> targets = detail::ntt_runnable_targets();
    ASSERT_FALSE(targets.empty());
    EXPECT_EQ(detail::ntt_dispatched_target(), targets.front())
        << "dispatched " << hwy::TargetName(detail::ntt_dispatched_target()) << ", best is "
        << hwy::TargetName(targets.front());
#if HWY_ARCH_X86_64
    // Every x86-64 CPU this runs on has at least SSSE3: a vector kernel must be compiled in
    // and chosen, or the per-target comparison below would only test the scalar fallback.
    EXPECT_NE(targets.front(), HWY_EMU128);
    EXPECT_NE(targets.front(), HWY_SCALAR);
#endif
}

TEST(Ntt, EveryTargetMatchesScalarReferenceBitForBit) {
    Prng prng(Seed{14});
    const std::vector<std::int64_t> targets = detail::ntt_runnable_targets();
    for (std::int64_t target : targets) {
        SCOPED_TRACE(hwy::TargetName(target));
        const PinTarget pin(target);
        ASSERT_EQ(detail::ntt_dispatched_target(), target);
        for (int bits : {30, 50, 61}) {
            for (int log_n = 1; log_n <= 13; ++log_n) {
                const Modulus q(generate_ntt_primes(bits, log_n, 1)[0]);
                const NTTTables t(log_n, q);
                auto polys = edge_polys(q, t.n());
                polys.push_back(random_poly(prng, q, t.n()));
                for (const auto& a : polys) {
                    std::vector<u64> vec = a, ref = a;
                    t.forward(vec.data());
                    detail::ntt_forward_scalar(t, ref.data());
                    ASSERT_EQ(vec, ref) << "forward bits=" << bits << " log_n=" << log_n;
                    // The inverse takes any canonical evaluations, including all q - 1.
                    vec = ref = a;
                    t.inverse(vec.data());
                    detail::ntt_inverse_scalar(t, ref.data());
                    ASSERT_EQ(vec, ref) << "inverse bits=" << bits << " log_n=" << log_n;
                }
            }
        }
    }
}

TEST(Ntt, RejectsUnsupportedParameters) {
    const u64 q = generate_ntt_primes(40, 10, 1)[0];
    EXPECT_THROW(NTTTables(0, Modulus(q)), std::invalid_argument);
    EXPECT_THROW(NTTTables(18, Modulus(q)), std::invalid_argument);
    // A prime that is 1 mod 2^11 but not 1 mod 2^17 has no primitive 2^17-th root.
    u64 q_bad = 0;
    for (const u64 cand : generate_ntt_primes(40, 10, 50))
        if ((cand - 1) % (u64{1} << 17) != 0) q_bad = cand;
    ASSERT_NE(q_bad, 0u);
    EXPECT_THROW(NTTTables(16, Modulus(q_bad)), std::invalid_argument);
}
