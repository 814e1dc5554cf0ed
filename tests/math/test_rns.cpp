// Fast base conversion (BaseConverter) against exact arithmetic: with one to three source
// primes the value x < Q fits in unsigned __int128, so
//   convert(x) must be (x + u·Q) mod t for one 0 <= u < #sources, the same u for every target;
//   convert_centred(x) must be x' mod t for the centred x' ≡ x (mod Q), x' in [-Q/2, Q/2).
// Run on every Highway target, with lengths that are not multiples of the vector width or of
// the converter's column block.
#include <gtest/gtest.h>

#include "math/hwy_targets.h"

#include <hwy/targets.h>

#include <cstdint>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/elementwise.h"
#include "hecnn/math/modulus.h"
#include "hecnn/math/primes.h"
#include "hecnn/math/rns.h"

using namespace hecnn::math;

namespace {

using hecnn::test::PinTarget;

u64 mod(u128 x, u64 t) { return static_cast<u64>(x % t); }

struct Case {
    std::vector<int> source_bits;
    std::vector<int> target_bits;
};

// Source sets whose product Q stays below 2^123 (x + u·Q must fit in 128 bits).
const Case kCases[] = {
    {{20}, {20, 40, 61}},
    {{40}, {60, 50, 20, 61}},
    {{61}, {20, 40, 50, 60, 61}},
    {{60, 40}, {40, 40, 60, 61}},
    {{61, 61}, {20, 50, 60, 61}},
    {{20, 50}, {61, 40}},
    {{40, 40, 40}, {20, 60, 61}},
    {{20, 30, 61}, {61, 50}},
};

// Values x in [0, Q): random, and the edges 0, 1, Q - 1, Q - 2 and around Q/2.
std::vector<u128> values(Prng& prng, u128 big_q, std::size_t n) {
    std::vector<u128> x(n);
    for (auto& v : x) v = ((static_cast<u128>(prng.next_u64()) << 64) | prng.next_u64()) % big_q;
    const u128 half = big_q / 2;  // Q odd: Q/2 = (Q - 1)/2
    const u128 edges[] = {0, 1, big_q - 1, big_q - 2, half - 1, half, half + 1, half + 2, half / 2, half + half / 2};
    for (std::size_t i = 0; i < std::size(edges) && i < n; ++i) x[(i * 37) % n] = edges[i];
    return x;
}

// Whether x is so close to Q/2 that the double-precision count of the centred conversion
// (documented in rns.h) may round either way: |x/Q - 1/2| < 2^-40.
bool near_half(u128 x, u128 big_q) {
    const u128 twice = 2 * x;
    const u128 dist = twice > big_q ? twice - big_q : big_q - twice;  // |2x - Q|
    return dist < (big_q >> 39);
}

void check_case(const Case& c, Prng& prng, std::size_t n) {
    std::vector<Modulus> src, dst;
    std::vector<u64> used;
    auto fresh_prime = [&](int bits) {
        const u64 p = generate_ntt_primes(bits, 4, 1, used)[0];
        used.push_back(p);
        return Modulus(p);
    };
    for (int b : c.source_bits) src.push_back(fresh_prime(b));
    for (int b : c.target_bits) dst.push_back(fresh_prime(b));
    u128 big_q = 1;
    for (const auto& q : src) big_q *= q.value();
    const BaseConverter conv(src, dst);

    const std::vector<u128> x = values(prng, big_q, n);
    std::vector<std::vector<u64>> residues(src.size(), std::vector<u64>(n));
    for (std::size_t i = 0; i < src.size(); ++i)
        for (std::size_t k = 0; k < n; ++k) residues[i][k] = mod(x[k], src[i].value());
    std::vector<const u64*> sp;
    for (auto& r : residues) sp.push_back(r.data());

    // Every target, in reverse order (target_indices need not be sorted).
    std::vector<std::size_t> targets;
    for (std::size_t t = dst.size(); t-- > 0;) targets.push_back(t);
    std::vector<std::vector<u64>> out(targets.size(), std::vector<u64>(n)), cen(targets.size(), std::vector<u64>(n));
    std::vector<u64*> op, cp;
    for (auto& o : out) op.push_back(o.data());
    for (auto& o : cen) cp.push_back(o.data());
    conv.convert(sp.data(), op, targets, n);
    conv.convert_centred(sp.data(), cp, targets, n);

    for (std::size_t k = 0; k < n; ++k) {
        // One u in [0, #sources) for all targets.
        bool found = false;
        for (u128 u = 0; u < src.size() && !found; ++u) {
            bool all = true;
            for (std::size_t m = 0; m < targets.size(); ++m) all = all && out[m][k] == mod(x[k] + u * big_q, dst[targets[m]].value());
            found = all;
        }
        ASSERT_TRUE(found) << "convert: no consistent multiple of Q, column " << k;

        // Centred: x' = x if x < Q/2, else x - Q (Q odd, so never a tie).
        const bool upper = 2 * x[k] > big_q;
        for (std::size_t m = 0; m < targets.size(); ++m) {
            const u64 t = dst[targets[m]].value();
            const u64 lower_rep = mod(x[k], t);                             // x
            const u64 upper_rep = (lower_rep + t - mod(big_q, t)) % t;      // x - Q
            const u64 want = upper ? upper_rep : lower_rep;
            if (near_half(x[k], big_q))
                ASSERT_TRUE(cen[m][k] == lower_rep || cen[m][k] == upper_rep) << "convert_centred near Q/2, column " << k;
            else
                ASSERT_EQ(cen[m][k], want) << "convert_centred column " << k << " target " << targets[m];
        }
    }
}

}  // namespace

TEST(Rns, ConvertMatchesExactArithmeticOnEveryTarget) {
    Prng prng(Seed{21});
    for (std::int64_t target : ew::runnable_targets()) {
        SCOPED_TRACE(hwy::TargetName(target));
        const PinTarget pin(target);
        ASSERT_EQ(ew::dispatched_target(), target);
        for (const Case& c : kCases) {
            SCOPED_TRACE(::testing::Message() << c.source_bits.size() << " source primes, first " << c.source_bits[0] << " bits");
            for (std::size_t n : {1, 7, 8, 9, 255, 256, 257, 1023, 1025, 2000}) {
                check_case(c, prng, n);
                if (::testing::Test::HasFatalFailure()) return;
            }
        }
    }
}

TEST(Rns, OneSourcePrimeConvertsExactly) {
    // With a single source prime Q = q and (Q/q)^{-1} = 1: the conversion is x mod t exactly.
    Prng prng(Seed{22});
    const Modulus q(generate_ntt_primes(61, 4, 1)[0]);
    const std::vector<Modulus> dst = {Modulus(generate_ntt_primes(40, 4, 1)[0]), Modulus(generate_ntt_primes(60, 4, 1)[0])};
    const BaseConverter conv({q}, dst);
    const std::size_t n = 999;
    std::vector<u64> x(n);
    prng.uniform_mod(q, x);
    x[0] = 0;
    x[1] = q.value() - 1;
    std::vector<u64> o0(n), o1(n);
    const u64* sp[] = {x.data()};
    u64* op[] = {o0.data(), o1.data()};
    const std::size_t targets[] = {0, 1};
    conv.convert(sp, op, targets, n);
    for (std::size_t k = 0; k < n; ++k) {
        ASSERT_EQ(o0[k], x[k] % dst[0].value());
        ASSERT_EQ(o1[k], x[k] % dst[1].value());
    }
}

TEST(Rns, StepwiseConversionEqualsConvert) {
    // scale + centred_count + convert_scaled, as key switching calls them, against convert
    // and convert_centred; 1000 columns is not a multiple of the converter's block.
    Prng prng(Seed{23});
    for (std::size_t s : {1, 2, 3, 5}) {
        std::vector<Modulus> src, dst;
        std::vector<u64> used;
        for (std::size_t i = 0; i < s; ++i) used.push_back(generate_ntt_primes(i % 2 ? 40 : 60, 4, 1, used)[0]), src.emplace_back(used.back());
        for (int b : {20, 40, 61}) used.push_back(generate_ntt_primes(b, 4, 1, used)[0]), dst.emplace_back(used.back());
        const BaseConverter conv(src, dst);
        const std::size_t n = 1000;
        std::vector<std::vector<u64>> x(s, std::vector<u64>(n));
        std::vector<const u64*> xp;
        for (std::size_t i = 0; i < s; ++i) prng.uniform_mod(src[i], x[i]), xp.push_back(x[i].data());
        std::vector<u64> y(s * n), count(n);
        for (std::size_t i = 0; i < s; ++i) conv.scale(i, x[i].data(), y.data() + i * n, n);
        conv.centred_count(y.data(), n, count.data(), n);
        for (std::size_t t = 0; t < dst.size(); ++t) {
            std::vector<u64> whole(n), step(n);
            u64* wp[] = {whole.data()};
            const std::size_t ti[] = {t};
            conv.convert(xp.data(), wp, ti, n);
            conv.convert_scaled(y.data(), n, t, step.data(), n);
            ASSERT_EQ(step, whole) << "s=" << s << " t=" << t;
            conv.convert_centred(xp.data(), wp, ti, n);
            conv.convert_scaled(y.data(), n, t, step.data(), n, count.data());
            ASSERT_EQ(step, whole) << "centred s=" << s << " t=" << t;
        }
        EXPECT_THROW(conv.scale(s, x[0].data(), y.data(), n), std::invalid_argument);
        EXPECT_THROW(conv.convert_scaled(y.data(), n, dst.size(), count.data(), n), std::invalid_argument);
    }
}

TEST(Rns, RejectsBadArguments) {
    const std::vector<Modulus> src = {Modulus(generate_ntt_primes(40, 4, 1)[0])};
    const std::vector<Modulus> dst = {Modulus(generate_ntt_primes(50, 4, 1)[0])};
    EXPECT_THROW(BaseConverter({}, dst), std::invalid_argument);
    const BaseConverter conv(src, dst);
    std::vector<u64> a(8), b(8);
    const u64* sp[] = {a.data()};
    u64* op[] = {b.data()};
    const std::size_t bad[] = {1};
    EXPECT_THROW(conv.convert(sp, op, bad, 8), std::invalid_argument);
    const std::size_t two[] = {0, 0};
    EXPECT_THROW(conv.convert(sp, op, two, 8), std::invalid_argument);
}
