// Modular arithmetic and prime generation against independent 128-bit references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "hecnn/math/csprng.h"
#include "hecnn/math/modulus.h"
#include "hecnn/math/primes.h"

using namespace hecnn::math;

TEST(Modulus, BarrettMatchesNative128BitRemainder) {
    Prng prng(Seed{1});
    for (u64 q : generate_ntt_primes(61, 10, 2)) {
        Modulus m(q);
        for (int i = 0; i < 20000; ++i) {
            u128 x = (static_cast<u128>(prng.next_u64()) << 64) | prng.next_u64();
            ASSERT_EQ(m.reduce128(x), static_cast<u64>(x % q));
            const u64 y = prng.next_u64();
            ASSERT_EQ(m.reduce(y), y % q);
        }
        for (u64 y : {u64{0}, q - 1, q, 2 * q - 1, 2 * q, ~u64{0}, ~u64{0} - q}) ASSERT_EQ(m.reduce(y), y % q);
    }
    for (u64 q : {3ull, 65537ull, (1ull << 61) - 1}) {
        Modulus m(q);
        for (u128 x : {u128{0}, u128{q - 1}, u128{q}, ~u128{0}, (u128{q} * q) - 1})
            ASSERT_EQ(m.reduce128(x), static_cast<u64>(x % q));
    }
}

TEST(Modulus, ShoupMultiplicationMatchesReference) {
    Prng prng(Seed{2});
    const u64 q = generate_ntt_primes(60, 12, 1)[0];
    Modulus m(q);
    for (int i = 0; i < 20000; ++i) {
        u64 w = prng.next_u64() % q, x = prng.next_u64();
        ASSERT_EQ(mul_shoup(x % q, w, shoup_precompute(w, q), q), static_cast<u64>(static_cast<u128>(x % q) * w % q));
        u64 lazy = mul_shoup_lazy(x, w, shoup_precompute(w, q), q);
        ASSERT_LT(lazy, 2 * q);
        ASSERT_EQ(lazy % q, static_cast<u64>(static_cast<u128>(x) * w % q));
    }
}

TEST(Modulus, SignedReductionAndInverse) {
    Modulus m(97);
    EXPECT_EQ(m.reduce_signed(-1), 96u);
    EXPECT_EQ(m.reduce_signed(-97), 0u);
    EXPECT_EQ(m.reduce_signed(INT64_MIN), static_cast<u64>((static_cast<__int128>(INT64_MIN) % 97 + 97) % 97));
    for (u64 a = 1; a < 97; ++a) EXPECT_EQ(m.mul(a, m.inv(a)), 1u);
    EXPECT_THROW(m.inv(0), std::invalid_argument);
    EXPECT_THROW(Modulus(100), std::invalid_argument);
    EXPECT_THROW(Modulus(u64{1} << 62 | 1), std::invalid_argument);
}

TEST(Primes, MillerRabinAgreesWithTrialDivision) {
    auto trial = [](u64 n) {
        if (n < 2) return false;
        for (u64 d = 2; d * d <= n; ++d)
            if (n % d == 0) return false;
        return true;
    };
    for (u64 n = 0; n < 20000; ++n) ASSERT_EQ(is_prime(n), trial(n)) << n;
    // Strong pseudoprimes to several bases.
    EXPECT_FALSE(is_prime(3215031751ull));
    EXPECT_FALSE(is_prime(3825123056546413051ull));
    EXPECT_TRUE(is_prime((1ull << 61) - 1));
}

TEST(Primes, NttFriendlyPrimesHaveTheRequestedShape) {
    for (int log_n : {10, 13, 15, 16}) {
        for (int bits : {30, 40, 50, 60}) {
            auto ps = generate_ntt_primes(bits, log_n, 5);
            ASSERT_EQ(ps.size(), 5u);
            for (std::size_t i = 0; i < ps.size(); ++i) {
                EXPECT_TRUE(is_prime(ps[i]));
                EXPECT_EQ(Modulus::bit_length(ps[i]), bits);
                EXPECT_EQ(ps[i] % (u64{2} << log_n), 1u);
                if (i) { EXPECT_LT(ps[i], ps[i - 1]); }  // distinct, largest first
            }
            auto more = generate_ntt_primes(bits, log_n, 2, ps);
            for (u64 p : more) EXPECT_EQ(std::count(ps.begin(), ps.end(), p), 0);
        }
    }
    EXPECT_THROW(generate_ntt_primes(62, 13, 1), std::invalid_argument);
    EXPECT_THROW(generate_ntt_primes(16, 15, 1), std::invalid_argument);
    EXPECT_THROW(generate_ntt_primes(20, 15, 100), std::invalid_argument);
}

TEST(Prng, SeededStreamsAreReproducibleAndDistinct) {
    Prng a(Seed{7}), b(Seed{7}), c(Seed{8});
    for (int i = 0; i < 1000; ++i) {
        u64 x = a.next_u64();
        ASSERT_EQ(x, b.next_u64());
        (void)c;
    }
    Prng d(Seed{7}), e(Seed{8});
    int equal = 0;
    for (int i = 0; i < 1000; ++i) equal += d.next_u64() == e.next_u64();
    EXPECT_LT(equal, 2);
    Prng os1, os2;
    EXPECT_NE(os1.seed(), os2.seed());
}

TEST(Prng, DistributionsHaveTheirMoments) {
    Prng prng(Seed{9});
    const std::size_t n = 200000;
    std::vector<std::int64_t> g(n);
    prng.gaussian(3.2, g);
    double mean = 0, var = 0;
    std::int64_t maxabs = 0;
    for (auto x : g) mean += x, var += double(x) * x, maxabs = std::max<std::int64_t>(maxabs, std::abs(x));
    mean /= n;
    var = var / n - mean * mean;
    EXPECT_NEAR(mean, 0.0, 0.05);
    EXPECT_NEAR(std::sqrt(var), 3.2, 0.05);
    EXPECT_LE(maxabs, 19);

    std::vector<std::int8_t> t(n);
    prng.ternary(t);
    std::array<int, 3> counts{};
    for (auto x : t) {
        ASSERT_GE(x, -1);
        ASSERT_LE(x, 1);
        counts[x + 1]++;
    }
    for (int c : counts) EXPECT_NEAR(c / double(n), 1.0 / 3, 0.01);

    Modulus q(generate_ntt_primes(40, 10, 1)[0]);
    std::vector<u64> u(n);
    prng.uniform_mod(q, u);
    double umean = 0;
    for (auto x : u) {
        ASSERT_LT(x, q.value());
        umean += double(x) / q.value();
    }
    EXPECT_NEAR(umean / n, 0.5, 0.01);
}
