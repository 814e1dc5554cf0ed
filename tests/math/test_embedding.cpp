// CKKS canonical embedding against independent O(N^2) long-double references, plus the
// algebraic properties the engine relies on (round trip, constants, linearity, rotations).
//
// Reference inverse used below: with z_j = m(zeta^(g_j)) and conj(z_j) = m(zeta^(-g_j)),
// the values at all N odd powers zeta^r determine m by orthogonality,
//   sum_{r odd, 0<r<2N} zeta^(r*d) = N if d == 0 (mod 2N), 0 for 0 < |d| < N,
// so m_k = (1/N) sum_{r odd} m(zeta^r) zeta^(-k r)
//        = (1/N) sum_j [ z_j zeta^(-k g_j) + conj(z_j zeta^(-k g_j)) ]
//        = (2/N) Re sum_j z_j zeta^(-k g_j),        since {r odd} = {g_j} u {-g_j}.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numbers>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/embedding.h"

using namespace hecnn::math;
using cd = std::complex<double>;
using cld = std::complex<long double>;

namespace {

// Uniform double in [-1, 1] from 53 random bits.
double unit(Prng& prng) { return std::ldexp(static_cast<double>(prng.next_u64() >> 11), -52) - 1.0; }

std::vector<double> random_reals(Prng& prng, std::size_t count) {
    std::vector<double> v(count);
    for (auto& x : v) x = unit(prng);
    return v;
}

std::vector<cd> random_complex(Prng& prng, std::size_t count) {
    std::vector<cd> v(count);
    for (auto& z : v) {
        const double re = unit(prng);
        z = {re, unit(prng)};
    }
    return v;
}

// zeta^e for e in [0, 2N), zeta = exp(i*pi/N), long double.
std::vector<cld> zeta_table(std::size_t big_n) {
    std::vector<cld> t(2 * big_n);
    for (std::size_t e = 0; e < 2 * big_n; ++e) {
        const long double a = std::numbers::pi_v<long double> * static_cast<long double>(e) / static_cast<long double>(big_n);
        t[e] = {std::cos(a), std::sin(a)};
    }
    return t;
}

// g_j = 5^j mod 2N, computed independently of the class under test.
std::vector<std::uint64_t> galois_exponents(std::size_t big_n) {
    std::vector<std::uint64_t> g(big_n / 2);
    std::uint64_t x = 1;
    for (auto& e : g) {
        e = x;
        x = x * 5 % (2 * big_n);
    }
    return g;
}

// Naive decode: z_j = sum_k m_k zeta^(k g_j mod 2N).
std::vector<cld> naive_decode(const std::vector<double>& m) {
    const std::size_t big_n = m.size(), mask = 2 * big_n - 1;
    const auto zeta = zeta_table(big_n);
    const auto g = galois_exponents(big_n);
    std::vector<cld> z(big_n / 2);
    for (std::size_t j = 0; j < z.size(); ++j) {
        cld acc = 0;
        for (std::size_t k = 0; k < big_n; ++k) acc += static_cast<long double>(m[k]) * zeta[(k * g[j]) & mask];
        z[j] = acc;
    }
    return z;
}

// Naive encode: m_k = (2/N) Re sum_j z_j zeta^(-k g_j).
std::vector<long double> naive_encode(const std::vector<cd>& z, std::size_t big_n) {
    const std::size_t mask = 2 * big_n - 1;
    const auto zeta = zeta_table(big_n);
    const auto g = galois_exponents(big_n);
    std::vector<long double> m(big_n);
    for (std::size_t k = 0; k < big_n; ++k) {
        cld acc = 0;
        for (std::size_t j = 0; j < z.size(); ++j) acc += cld(z[j]) * zeta[(2 * big_n - ((k * g[j]) & mask)) & mask];
        m[k] = 2.0L * acc.real() / static_cast<long double>(big_n);
    }
    return m;
}

template <class A, class B>
double max_abs_diff(const A& a, const B& b) {
    EXPECT_EQ(a.size(), b.size());
    long double worst = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        worst = std::max(worst, static_cast<long double>(std::abs(a[i] - b[i])));
    return static_cast<double>(worst);
}

double max_abs_diff_c(const std::vector<cd>& a, const std::vector<cld>& b) {
    EXPECT_EQ(a.size(), b.size());
    long double worst = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(cld(a[i]) - b[i]));
    return static_cast<double>(worst);
}

template <class V>
double max_abs(const V& v) {
    double m = 0;
    for (const auto& x : v) m = std::max(m, static_cast<double>(std::abs(x)));
    return m;
}

}  // namespace

TEST(CanonicalEmbedding, SlotExponentsArePowersOfFive) {
    for (int log_n = 1; log_n <= 17; ++log_n) {
        CanonicalEmbedding emb(log_n);
        const std::size_t big_n = std::size_t{1} << log_n;
        ASSERT_EQ(emb.degree(), big_n);
        ASSERT_EQ(emb.slot_count(), big_n / 2);
        const auto g = galois_exponents(big_n);
        for (std::size_t j = 0; j < g.size(); ++j) ASSERT_EQ(emb.slot_exponent(j), g[j]) << "log N " << log_n << " j " << j;
        EXPECT_THROW(emb.slot_exponent(big_n / 2), std::invalid_argument);
    }
}

TEST(CanonicalEmbedding, DecodeMatchesNaiveEvaluation) {
    Prng prng(Seed{11});
    for (int log_n = 1; log_n <= 10; ++log_n) {
        CanonicalEmbedding emb(log_n);
        const std::size_t big_n = emb.degree();
        const auto m = random_reals(prng, big_n);
        std::vector<cd> z(big_n / 2);
        emb.decode(m, z);
        const auto ref = naive_decode(m);
        const double err = max_abs_diff_c(z, ref);
        EXPECT_LE(err, 1e-14 * max_abs(ref)) << "log N " << log_n;
        // And the real-part convenience overload.
        std::vector<double> re(big_n / 2);
        emb.decode_real(m, re);
        for (std::size_t j = 0; j < re.size(); ++j) ASSERT_EQ(re[j], z[j].real());
    }
}

TEST(CanonicalEmbedding, EncodeMatchesNaiveInverse) {
    Prng prng(Seed{12});
    for (int log_n = 1; log_n <= 10; ++log_n) {
        CanonicalEmbedding emb(log_n);
        const std::size_t big_n = emb.degree();
        const auto z = random_complex(prng, big_n / 2);
        std::vector<double> m(big_n);
        emb.encode(z, m);
        const auto ref = naive_encode(z, big_n);
        const double err = max_abs_diff(m, ref);
        EXPECT_LE(err, 1e-14 * max_abs(ref)) << "log N " << log_n;
        // The naive inverse really is an inverse of the naive evaluation (checks the reference).
        std::vector<double> ref_d(ref.begin(), ref.end());
        EXPECT_LE(max_abs_diff_c(z, naive_decode(ref_d)), 1e-12) << "log N " << log_n;
    }
}

TEST(CanonicalEmbedding, MissingSlotsAreZero) {
    Prng prng(Seed{13});
    CanonicalEmbedding emb(9);
    const std::size_t big_n = emb.degree();
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{37}, big_n / 2 - 1}) {
        // Dirty the thread-local scratch first with a full encode of other data.
        std::vector<double> scratch(big_n);
        emb.encode(random_complex(prng, big_n / 2), scratch);
        auto z = random_complex(prng, count);
        std::vector<double> short_m(big_n), padded_m(big_n);
        emb.encode(z, short_m);
        z.resize(big_n / 2, cd{0, 0});
        emb.encode(z, padded_m);
        EXPECT_EQ(short_m, padded_m) << count;
        // Real overload likewise.
        emb.encode(random_complex(prng, big_n / 2), scratch);
        const auto v = random_reals(prng, count);
        std::vector<double> short_r(big_n), padded_r(big_n);
        emb.encode(std::span<const double>(v), short_r);
        std::vector<double> vp = v;
        vp.resize(big_n / 2, 0.0);
        emb.encode(std::span<const double>(vp), padded_r);
        EXPECT_EQ(short_r, padded_r) << count;
        // Decoding only a prefix gives that prefix.
        std::vector<cd> all(big_n / 2), prefix(count);
        emb.decode(padded_m, all);
        emb.decode(padded_m, prefix);
        for (std::size_t j = 0; j < count; ++j) ASSERT_EQ(prefix[j], all[j]);
    }
}

TEST(CanonicalEmbedding, RoundTripLargeN) {
    Prng prng(Seed{14});
    for (int log_n = 13; log_n <= 16; ++log_n) {
        CanonicalEmbedding emb(log_n);
        const std::size_t big_n = emb.degree();
        const auto z = random_complex(prng, big_n / 2);
        std::vector<double> m(big_n);
        std::vector<cd> back(big_n / 2);
        emb.encode(z, m);
        emb.decode(m, back);
        const double rel = max_abs_diff(back, z) / max_abs(z);
        EXPECT_LE(rel, 1e-13) << "log N " << log_n;  // contract: 1e-9
        RecordProperty("rel_err_logN_" + std::to_string(log_n), std::to_string(rel));
        std::printf("round trip log N %d: max |decode(encode(z)) - z| / max |z| = %.3g\n", log_n, rel);
        // The other direction: encode(decode(m)) == m.
        const auto m2 = random_reals(prng, big_n);
        std::vector<double> m3(big_n);
        emb.decode(m2, back);
        emb.encode(back, m3);
        EXPECT_LE(max_abs_diff(m3, m2), 1e-13 * max_abs(m2)) << "log N " << log_n;
    }
}

TEST(CanonicalEmbedding, RealSlotsGiveRealEmbedding) {
    Prng prng(Seed{15});
    for (int log_n : {1, 2, 7, 14}) {
        CanonicalEmbedding emb(log_n);
        const std::size_t big_n = emb.degree();
        const auto v = random_reals(prng, big_n / 2);
        std::vector<double> m(big_n), m_c(big_n);
        emb.encode(std::span<const double>(v), m);
        // Same as the complex path with zero imaginary parts.
        std::vector<cd> vc(v.begin(), v.end());
        emb.encode(vc, m_c);
        EXPECT_EQ(m, m_c);
        std::vector<cd> back(big_n / 2);
        emb.decode(m, back);
        double worst_im = 0, worst_re = 0;
        for (std::size_t j = 0; j < v.size(); ++j) {
            worst_im = std::max(worst_im, std::abs(back[j].imag()));
            worst_re = std::max(worst_re, std::abs(back[j].real() - v[j]));
        }
        EXPECT_LE(worst_im, 1e-13) << "log N " << log_n;
        EXPECT_LE(worst_re, 1e-13) << "log N " << log_n;
        std::vector<double> back_r(big_n / 2);
        emb.decode_real(m, back_r);
        EXPECT_LE(max_abs_diff(back_r, v), 1e-13) << "log N " << log_n;
    }
}

TEST(CanonicalEmbedding, Linearity) {
    Prng prng(Seed{16});
    CanonicalEmbedding emb(11);
    const std::size_t big_n = emb.degree(), n = big_n / 2;
    const auto z1 = random_complex(prng, n), z2 = random_complex(prng, n);
    const double a = 2.5, b = -0.75;
    std::vector<cd> zs(n);
    for (std::size_t j = 0; j < n; ++j) zs[j] = a * z1[j] + b * z2[j];
    std::vector<double> m1(big_n), m2(big_n), ms(big_n), comb(big_n);
    emb.encode(z1, m1);
    emb.encode(z2, m2);
    emb.encode(zs, ms);
    for (std::size_t k = 0; k < big_n; ++k) comb[k] = a * m1[k] + b * m2[k];
    EXPECT_LE(max_abs_diff(ms, comb), 1e-14 * max_abs(ms));
    // decode is linear too.
    std::vector<cd> d1(n), d2(n), ds(n), dcomb(n);
    emb.decode(m1, d1);
    emb.decode(m2, d2);
    emb.decode(comb, ds);
    for (std::size_t j = 0; j < n; ++j) dcomb[j] = a * d1[j] + b * d2[j];
    EXPECT_LE(max_abs_diff(ds, dcomb), 1e-13 * max_abs(ds));
}

TEST(CanonicalEmbedding, ConstantSlotsEncodeToConstantPolynomial) {
    for (int log_n : {1, 2, 5, 13, 16}) {
        CanonicalEmbedding emb(log_n);
        const std::size_t big_n = emb.degree(), n = big_n / 2;
        for (double c : {1.0, -3.25, 1e6, 1e-6}) {
            std::vector<double> m(big_n);
            emb.encode(std::vector<cd>(n, cd{c, 0}), m);
            EXPECT_NEAR(m[0], c, 1e-14 * std::abs(c)) << "log N " << log_n;
            double rest = 0;
            for (std::size_t k = 1; k < big_n; ++k) rest = std::max(rest, std::abs(m[k]));
            EXPECT_LE(rest, 1e-14 * std::abs(c)) << "log N " << log_n << " c " << c;
            // Real overload: same polynomial.
            std::vector<double> mr(big_n);
            emb.encode(std::vector<double>(n, c), mr);
            EXPECT_NEAR(mr[0], c, 1e-14 * std::abs(c));
            // a + b i in every slot encodes to a + b X^(N/2).
            const double b = 0.5 * c + 1.0;
            emb.encode(std::vector<cd>(n, cd{c, b}), m);
            for (std::size_t k = 0; k < big_n; ++k) {
                const double expect = k == 0 ? c : (k == n ? b : 0.0);
                ASSERT_NEAR(m[k], expect, 1e-14 * (std::abs(c) + std::abs(b))) << "log N " << log_n << " k " << k;
            }
        }
    }
}

// X -> X^(5^r) rotates the slots left by r; X -> X^(-1) conjugates them.
TEST(CanonicalEmbedding, AutomorphismsRotateAndConjugate) {
    Prng prng(Seed{17});
    for (int log_n : {2, 6, 12}) {
        CanonicalEmbedding emb(log_n);
        const std::size_t big_n = emb.degree(), n = big_n / 2, two_n = 2 * big_n;
        const auto z = random_complex(prng, n);
        std::vector<double> m(big_n);
        emb.encode(z, m);
        auto apply = [&](std::uint64_t g) {
            std::vector<double> out(big_n, 0.0);
            for (std::size_t k = 0; k < big_n; ++k) {
                const std::uint64_t e = k * g % two_n;  // X^e = -X^(e-N) for e >= N
                if (e < big_n) out[e] += m[k];
                else out[e - big_n] -= m[k];
            }
            return out;
        };
        for (std::size_t r : {std::size_t{1}, std::size_t{3}, n - 1}) {
            if (r >= n) continue;
            std::uint64_t g = 1;
            for (std::size_t i = 0; i < r; ++i) g = g * 5 % two_n;
            std::vector<cd> rot(n), expect(n);
            emb.decode(apply(g), rot);
            for (std::size_t j = 0; j < n; ++j) expect[j] = z[(j + r) % n];
            EXPECT_LE(max_abs_diff(rot, expect), 1e-12) << "log N " << log_n << " r " << r;
        }
        std::vector<cd> conj(n), expect(n);
        emb.decode(apply(two_n - 1), conj);
        for (std::size_t j = 0; j < n; ++j) expect[j] = std::conj(z[j]);
        EXPECT_LE(max_abs_diff(conj, expect), 1e-12) << "log N " << log_n;
    }
}

TEST(CanonicalEmbedding, InvalidArgumentsThrow) {
    EXPECT_THROW(CanonicalEmbedding(0), std::invalid_argument);
    EXPECT_THROW(CanonicalEmbedding(-1), std::invalid_argument);
    EXPECT_THROW(CanonicalEmbedding(18), std::invalid_argument);
    EXPECT_NO_THROW(CanonicalEmbedding(1));
    EXPECT_NO_THROW(CanonicalEmbedding(17));

    CanonicalEmbedding emb(4);  // N = 16, 8 slots
    std::vector<cd> slots8(8), slots9(9);
    std::vector<double> reals8(8), reals9(9), c16(16), c15(15), c17(17);
    EXPECT_NO_THROW(emb.encode(slots8, c16));
    EXPECT_THROW(emb.encode(slots9, c16), std::invalid_argument);
    EXPECT_THROW(emb.encode(slots8, c15), std::invalid_argument);
    EXPECT_THROW(emb.encode(slots8, c17), std::invalid_argument);
    EXPECT_NO_THROW(emb.encode(std::span<const double>(reals8), c16));
    EXPECT_THROW(emb.encode(std::span<const double>(reals9), c16), std::invalid_argument);
    EXPECT_THROW(emb.encode(std::span<const double>(reals8), c17), std::invalid_argument);
    EXPECT_NO_THROW(emb.decode(c16, slots8));
    EXPECT_THROW(emb.decode(c16, slots9), std::invalid_argument);
    EXPECT_THROW(emb.decode(c15, slots8), std::invalid_argument);
    EXPECT_NO_THROW(emb.decode_real(c16, reals8));
    EXPECT_THROW(emb.decode_real(c16, reals9), std::invalid_argument);
    EXPECT_THROW(emb.decode_real(c17, reals8), std::invalid_argument);
    try {
        emb.encode(slots9, c16);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("N/2 = 8"), std::string::npos) << e.what();
    }
    try {
        emb.decode(c15, slots8);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("expected N = 16"), std::string::npos) << e.what();
    }
}

TEST(CanonicalEmbedding, ConcurrentCallsAgreeWithSequential) {
    Prng prng(Seed{18});
    const CanonicalEmbedding small(8), large(12);
    const auto zs = random_complex(prng, small.slot_count());
    const auto zl = random_complex(prng, large.slot_count());
    std::vector<double> ms(small.degree()), ml(large.degree());
    small.encode(zs, ms);
    large.encode(zl, ml);
    std::vector<cd> ds(small.slot_count()), dl(large.slot_count());
    small.decode(ms, ds);
    large.decode(ml, dl);

    auto worker = [&](bool& ok) {
        ok = true;
        std::vector<double> m_s(small.degree()), m_l(large.degree());
        std::vector<cd> d_s(small.slot_count()), d_l(large.slot_count());
        for (int it = 0; it < 50; ++it) {
            // Alternate instances of different sizes on the same thread.
            small.encode(zs, m_s);
            large.encode(zl, m_l);
            small.decode(ms, d_s);
            large.decode(ml, d_l);
            ok = ok && m_s == ms && m_l == ml && d_s == ds && d_l == dl;
        }
    };
    bool ok1 = false, ok2 = false;
    std::thread t1(worker, std::ref(ok1)), t2(worker, std::ref(ok2));
    t1.join();
    t2.join();
    EXPECT_TRUE(ok1);
    EXPECT_TRUE(ok2);
}
