// Exact modular GEMM (ModGemm) against the 128-bit reference, and the reference against an
// independent per-term computation.
#include <gtest/gtest.h>

#include "math/hwy_targets.h"
#include <hwy/targets.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/modgemm.h"
#include "hecnn/math/modulus.h"
#include "hecnn/math/primes.h"

using namespace hecnn::math;

namespace {

constexpr std::int64_t kMaxWeight = (std::int64_t{1} << 62) - 1;

// A K x n (or O x n) matrix of residues with row pointers.
struct Rows {
    std::vector<std::vector<u64>> data;
    std::vector<u64*> ptr;
    Rows(std::size_t rows, std::size_t n, u64 fill = 0) : data(rows, std::vector<u64>(n, fill)) {
        for (auto& r : data) ptr.push_back(r.data());
    }
    const u64* const* in() const { return ptr.data(); }
    u64* const* out() { return ptr.data(); }
};

Rows random_residues(Prng& prng, const Modulus& q, std::size_t rows, std::size_t n) {
    Rows r(rows, n);
    for (auto& row : r.data) prng.uniform_mod(q, row);
    return r;
}

// Random signed weight of random bit length in [1, max_bits] (max_bits <= 62).
std::int64_t random_weight(Prng& prng, int max_bits) {
    const int bits = 1 + static_cast<int>(prng.next_u64() % static_cast<u64>(max_bits));
    const std::int64_t mag = static_cast<std::int64_t>(prng.next_u64() >> (64 - bits)) & kMaxWeight;
    return (prng.next_u64() & 1) ? -mag : mag;
}

std::vector<std::int64_t> random_weights(Prng& prng, std::size_t count, int max_bits) {
    std::vector<std::int64_t> w(count);
    for (auto& x : w) x = random_weight(prng, max_bits);
    return w;
}

// Runs ModGemm::apply and modgemm_reference and compares bit for bit; returns the
// number of mismatching residues (0 expected).
std::size_t mismatches(const Modulus& q, const std::vector<std::int64_t>& w, std::size_t rows, std::size_t cols,
                       const Rows& in, std::size_t n) {
    Rows got(rows, n, ~u64{0}), want(rows, n, ~u64{0});
    ModGemm(w, rows, cols).apply(q, in.in(), got.out(), n);
    modgemm_reference(q, w, rows, cols, in.in(), want.out(), n);
    std::size_t bad = 0;
    for (std::size_t o = 0; o < rows; ++o)
        for (std::size_t c = 0; c < n; ++c) bad += got.data[o][c] != want.data[o][c];
    return bad;
}

Modulus prime_of_bits(int bits, int index = 0) {
    // q = 1 mod 2^11 keeps even the 20-bit size populated with several primes.
    return Modulus(generate_ntt_primes(bits, 10, index + 1)[index]);
}

constexpr int kPrimeBits[] = {20, 30, 40, 50, 60, 61};

using hecnn::test::PinTarget;

}  // namespace

TEST(ModGemmReference, MatchesPerTermModularSum) {
    Prng prng(Seed{1});
    for (int bits : kPrimeBits) {
        const Modulus q = prime_of_bits(bits);
        const std::size_t rows = 5, cols = 70, n = 9;  // 70 > 32 terms: exercises the folding
        std::vector<std::int64_t> w = random_weights(prng, rows * cols, 62);
        w[0] = kMaxWeight;
        w[1] = -kMaxWeight;
        Rows in = random_residues(prng, q, cols, n);
        in.data[0].assign(n, q.value() - 1);
        in.data[1].assign(n, q.value() - 1);
        Rows out(rows, n, ~u64{0});
        modgemm_reference(q, w, rows, cols, in.in(), out.out(), n);
        const __int128 qq = q.value();
        for (std::size_t o = 0; o < rows; ++o)
            for (std::size_t c = 0; c < n; ++c) {
                __int128 acc = 0;
                for (std::size_t k = 0; k < cols; ++k) {
                    const __int128 term = static_cast<__int128>(w[o * cols + k]) * static_cast<__int128>(in.data[k][c]);
                    acc = ((acc + term % qq) % qq + qq) % qq;
                }
                ASSERT_EQ(out.data[o][c], static_cast<u64>(acc)) << "bits " << bits << " o " << o << " c " << c;
            }
    }
}

TEST(ModGemm, RandomShapesMatchReference) {
    Prng prng(Seed{2});
    struct Shape {
        std::size_t rows, cols, n;
    };
    const Shape shapes[] = {{1, 1, 1},   {1, 1, 17},  {3, 1, 5},   {1, 9, 31},  {7, 5, 1},    {9, 27, 101},
                            {16, 3, 24}, {8, 8, 513}, {13, 40, 777}, {64, 27, 600}, {5, 200, 333}, {2, 700, 65}};
    for (int bits : kPrimeBits) {
        const Modulus q = prime_of_bits(bits, 1);
        for (const Shape& s : shapes)
            for (int wbits : {8, 20, 41, 62}) {
                const auto w = random_weights(prng, s.rows * s.cols, wbits);
                const Rows in = random_residues(prng, q, s.cols, s.n);
                ASSERT_EQ(mismatches(q, w, s.rows, s.cols, in, s.n), 0u)
                    << "q bits " << bits << " shape " << s.rows << "x" << s.cols << " n " << s.n << " w bits " << wbits;
            }
    }
}

TEST(ModGemm, ExtremeValuesMatchReference) {
    Prng prng(Seed{3});
    const std::int64_t two41 = std::int64_t{1} << 41;
    for (int bits : kPrimeBits) {
        const Modulus q = prime_of_bits(bits);
        const u64 qv = q.value();
        for (std::size_t cols : {std::size_t{1}, std::size_t{27}, std::size_t{300}}) {
            const std::size_t rows = 6, n = 45;
            // Residues: all q-1, and a mix of the edge values of the balanced split.
            Rows all_max(cols, n, qv - 1);
            Rows edges(cols, n);
            const u64 edge[] = {0, 1, qv - 1, (qv - 1) / 2, (qv + 1) / 2, qv - 2, (qv - 1) / 2 - 1};
            for (std::size_t k = 0; k < cols; ++k)
                for (std::size_t c = 0; c < n; ++c) edges.data[k][c] = edge[(k * 7 + c) % 7];
            std::vector<std::vector<std::int64_t>> weight_sets;
            weight_sets.emplace_back(rows * cols, kMaxWeight);
            weight_sets.emplace_back(rows * cols, -kMaxWeight);
            weight_sets.emplace_back(rows * cols, two41);
            weight_sets.emplace_back(rows * cols, -two41);
            std::vector<std::int64_t> mixed(rows * cols);
            for (std::size_t i = 0; i < mixed.size(); ++i) {
                const std::int64_t m[] = {kMaxWeight, -kMaxWeight, two41, -two41, 0, 1, -1};
                mixed[i] = m[(i * 3 + i / 5) % 7];
            }
            weight_sets.push_back(mixed);
            // Multiples of q (and q +- 1), whose representative mod q is tiny.
            std::vector<std::int64_t> near_q(rows * cols);
            for (std::size_t i = 0; i < near_q.size(); ++i)
                near_q[i] = (i % 2 ? -1 : 1) * (static_cast<std::int64_t>(qv) + static_cast<std::int64_t>(i % 3) - 1);
            weight_sets.push_back(near_q);
            for (const auto& w : weight_sets) {
                ASSERT_EQ(mismatches(q, w, rows, cols, all_max, n), 0u) << "q bits " << bits << " K " << cols;
                ASSERT_EQ(mismatches(q, w, rows, cols, edges, n), 0u) << "q bits " << bits << " K " << cols;
            }
        }
    }
}

TEST(ModGemm, LargeKWithMaximalValues) {
    // K = 5000 terms of the largest balanced magnitudes, ((q-1)/2)^2, all of one sign: a
    // digit plan sized for small K would exceed 2^51; the planner must take more digits.
    for (int bits : {40, 61}) {
        const Modulus q = prime_of_bits(bits);
        const std::int64_t h = static_cast<std::int64_t>((q.value() - 1) / 2);
        const std::int64_t big = h + static_cast<std::int64_t>(q.value());  // = (q-1)/2 mod q, above q
        const std::size_t rows = 4, cols = 5000, n = 29;
        Rows in(cols, n, static_cast<u64>(h));
        for (std::size_t c = 0; c < n; c += 3)
            for (std::size_t k = 0; k < cols; ++k) in.data[k][c] = static_cast<u64>(h) + 1;  // -(q-1)/2 balanced
        std::vector<std::int64_t> w(rows * cols);
        for (std::size_t k = 0; k < cols; ++k) {
            w[k] = big;
            w[cols + k] = -big;
            w[2 * cols + k] = k % 2 ? kMaxWeight : -kMaxWeight;
            w[3 * cols + k] = k % 3 ? h : -h;
        }
        const ModGemmPlan plan = ModGemm(w, rows, cols).plan(q);
        EXPECT_LT(plan.max_piece_bound, 2251799813685248.0);
        const std::vector<std::int64_t> w_small_k(w.begin(), w.begin() + 27);
        const ModGemmPlan plan27 = ModGemm(w_small_k, 1, 27).plan(q);
        if (bits == 61) {  // at 40 bits 2 x 2 digits of 20 bits stay exact up to K ~ 2^11
            EXPECT_GT(plan.fp64_macs_per_mac, plan27.fp64_macs_per_mac) << "plan does not grow with K";
        }
        ASSERT_EQ(mismatches(q, w, rows, cols, in, n), 0u) << "q bits " << bits;
    }
    // K = 100000 with random operands of near-maximal balanced size.
    Prng prng(Seed{4});
    const Modulus q = prime_of_bits(61);
    const u64 h = (q.value() - 1) / 2;
    const std::size_t rows = 2, cols = 100000, n = 11;
    std::vector<std::int64_t> w(rows * cols);
    for (auto& x : w) {
        const std::int64_t m = static_cast<std::int64_t>(h - prng.next_u64() % 1000 + q.value());
        x = (prng.next_u64() & 1) ? m : -m;
    }
    Rows in(cols, n);
    for (auto& row : in.data)
        for (auto& x : row) x = h + 1 - (prng.next_u64() & 1) - prng.next_u64() % 1000;
    ASSERT_EQ(mismatches(q, w, rows, cols, in, n), 0u);
}

TEST(ModGemm, PlansForBenchmarkShapesAreLean) {
    // The digit plans behind the benchmark figures; more FMAs per MAC than these means
    // the planner missed a cheaper exact plan.
    struct Case {
        std::size_t rows, cols;
        int q_bits;
        std::int64_t w_max;
        std::size_t max_fmas;
    };
    const Case cases[] = {{64, 27, 40, std::int64_t{1} << 41, 3},  // Karatsuba
                          {64, 27, 60, std::int64_t{1} << 41, 6},
                          {48, 216, 40, std::int64_t{1} << 20, 2},
                          {128, 1152, 40, std::int64_t{1} << 16, 2}};
    Prng prng(Seed{5});
    for (const Case& c : cases) {
        std::vector<std::int64_t> w(c.rows * c.cols);
        for (auto& x : w) x = static_cast<std::int64_t>(prng.next_u64() % static_cast<u64>(2 * c.w_max + 1)) - c.w_max;
        const ModGemmPlan plan = ModGemm(w, c.rows, c.cols).plan(prime_of_bits(c.q_bits));
        EXPECT_LE(plan.fp64_macs_per_mac, c.max_fmas) << c.rows << "x" << c.cols << " q " << c.q_bits;
        EXPECT_LT(plan.max_piece_bound, 2251799813685248.0);
        EXPECT_EQ(plan.fp64_macs_per_mac, plan.karatsuba ? std::size_t{3}
                                                         : static_cast<std::size_t>(plan.x_digits * plan.w_digits));
    }
}

TEST(ModGemm, EveryCompiledTargetMatchesReference) {
    Prng prng(Seed{6});
    const std::vector<std::int64_t> targets = hwy::SupportedAndGeneratedTargets();
    ASSERT_FALSE(targets.empty());
    for (std::int64_t target : targets) {
        PinTarget pin(target);
        for (int bits : {30, 61}) {
            const Modulus q = prime_of_bits(bits);
            for (std::size_t cols : {std::size_t{1}, std::size_t{27}, std::size_t{2000}}) {  // 2000: K chunked
                const std::size_t rows = 9, n = 50;
                const auto w = random_weights(prng, rows * cols, 62);
                const Rows in = random_residues(prng, q, cols, n);
                ASSERT_EQ(mismatches(q, w, rows, cols, in, n), 0u)
                    << hwy::TargetName(target) << " q bits " << bits << " K " << cols;
                const Rows all_max(cols, n, q.value() - 1);
                const std::vector<std::int64_t> wmax(rows * cols, -kMaxWeight);
                ASSERT_EQ(mismatches(q, wmax, rows, cols, all_max, n), 0u) << hwy::TargetName(target);
            }
        }
    }
}

TEST(ModGemm, ConcurrentApplyOnSharedInstance) {
    Prng prng(Seed{7});
    const std::size_t rows = 16, cols = 40, n = 2000;
    const auto w = random_weights(prng, rows * cols, 41);
    const ModGemm gemm(w, rows, cols);
    const Modulus q1 = prime_of_bits(40), q2 = prime_of_bits(60);
    const Rows in1 = random_residues(prng, q1, cols, n), in2 = random_residues(prng, q2, cols, n);
    Rows got1(rows, n), got2(rows, n), want1(rows, n), want2(rows, n);
    std::thread t1([&] { for (int r = 0; r < 3; ++r) gemm.apply(q1, in1.in(), got1.out(), n); });
    std::thread t2([&] { for (int r = 0; r < 3; ++r) gemm.apply(q2, in2.in(), got2.out(), n); });
    t1.join();
    t2.join();
    modgemm_reference(q1, w, rows, cols, in1.in(), want1.out(), n);
    modgemm_reference(q2, w, rows, cols, in2.in(), want2.out(), n);
    EXPECT_EQ(got1.data, want1.data);
    EXPECT_EQ(got2.data, want2.data);
}

TEST(ModGemm, PreparationCacheAcrossModuliTilesAndCopies) {
    // More moduli than the cache holds (64), revisited in a different order, through a copy,
    // and on column tiles of the same rows.
    Prng prng(Seed{9});
    const std::size_t rows = 3, cols = 5, n = 40;
    const auto w = random_weights(prng, rows * cols, 62);
    const ModGemm gemm(w, rows, cols);
    std::vector<u64> primes = generate_ntt_primes(40, 4, 40);
    for (u64 p : generate_ntt_primes(59, 4, 40)) primes.push_back(p);
    for (int pass = 0; pass < 2; ++pass) {
        const ModGemm copy = gemm;
        for (std::size_t idx = 0; idx < primes.size(); ++idx) {
            const Modulus q(primes[pass == 0 ? idx : primes.size() - 1 - idx]);
            const Rows in = random_residues(prng, q, cols, n);
            Rows got(rows, n), want(rows, n);
            modgemm_reference(q, w, rows, cols, in.in(), want.out(), n);
            (idx % 2 ? copy : gemm).apply(q, in.in(), got.out(), n);
            ASSERT_EQ(got.data, want.data) << "pass " << pass << " prime " << q.value();
            // Two column tiles [0, 17) and [17, n).
            Rows tiled(rows, n);
            std::vector<const u64*> in_hi;
            std::vector<u64*> out_hi;
            for (std::size_t k = 0; k < cols; ++k) in_hi.push_back(in.data[k].data() + 17);
            for (std::size_t o = 0; o < rows; ++o) out_hi.push_back(tiled.data[o].data() + 17);
            gemm.apply(q, in.in(), tiled.out(), 17);
            gemm.apply(q, in_hi.data(), out_hi.data(), n - 17);
            ASSERT_EQ(tiled.data, want.data) << "tiles, prime " << q.value();
        }
    }
}

TEST(ModGemm, OutputsAreCanonicalAndColumnsBeyondNUntouched) {
    Prng prng(Seed{8});
    const Modulus q = prime_of_bits(50);
    const std::size_t rows = 9, cols = 13, n = 37;
    const auto w = random_weights(prng, rows * cols, 62);
    const Rows in = random_residues(prng, q, cols, n + 8);
    Rows out(rows, n + 8, 12345);
    ModGemm(w, rows, cols).apply(q, in.in(), out.out(), n);
    for (std::size_t o = 0; o < rows; ++o) {
        for (std::size_t c = 0; c < n; ++c) ASSERT_LT(out.data[o][c], q.value());
        for (std::size_t c = n; c < n + 8; ++c) ASSERT_EQ(out.data[o][c], 12345u) << "wrote past n";
    }
}

TEST(ModGemm, InvalidArgumentsThrow) {
    const std::vector<std::int64_t> w6(6, 1);
    EXPECT_THROW(ModGemm(w6, 0, 6), std::invalid_argument);
    EXPECT_THROW(ModGemm(w6, 6, 0), std::invalid_argument);
    EXPECT_THROW(ModGemm(w6, 2, 2), std::invalid_argument);
    EXPECT_THROW(ModGemm(w6, 4, 2), std::invalid_argument);
    EXPECT_THROW(ModGemm(w6, std::size_t{1} << 63, 2), std::invalid_argument);  // rows * cols wraps
    EXPECT_NO_THROW(ModGemm(w6, 2, 3));
    EXPECT_NO_THROW(ModGemm(w6, 3, 2));
    for (std::int64_t bad : {std::int64_t{1} << 62, -(std::int64_t{1} << 62), std::numeric_limits<std::int64_t>::min(),
                             std::numeric_limits<std::int64_t>::max()}) {
        std::vector<std::int64_t> w = w6;
        w[3] = bad;
        EXPECT_THROW(ModGemm(w, 2, 3), std::invalid_argument) << bad;
    }
    const ModGemm g(w6, 2, 3);
    EXPECT_EQ(g.rows(), 2u);
    EXPECT_EQ(g.cols(), 3u);
    const Modulus q = prime_of_bits(30);
    Rows in(3, 4, 1), out(2, 4);
    EXPECT_THROW(g.apply(Modulus(), in.in(), out.out(), 4), std::invalid_argument);
    EXPECT_THROW(g.apply(q, nullptr, out.out(), 4), std::invalid_argument);
    EXPECT_THROW(g.apply(q, in.in(), nullptr, 4), std::invalid_argument);
    EXPECT_NO_THROW(g.apply(q, in.in(), out.out(), 4));
    EXPECT_EQ(out.data[0][0], 3u);
    EXPECT_THROW(modgemm_reference(q, w6, 2, 2, in.in(), out.out(), 4), std::invalid_argument);
    EXPECT_THROW(modgemm_reference(q, w6, 0, 6, in.in(), out.out(), 4), std::invalid_argument);
    EXPECT_THROW(modgemm_reference(Modulus(), w6, 2, 3, in.in(), out.out(), 4), std::invalid_argument);
}

namespace {

// Balanced values in [-h, h] whose two balanced digits of b bits (x = x1 2^b + x0,
// x0 in [-2^(b-1), 2^(b-1))) have the largest |x0 + x1|, for both signs: they push the
// Karatsuba middle piece sum (x0 + x1)(w0 + w1) to its bound.
std::vector<std::int64_t> max_digit_sum_values(std::int64_t h, int b) {
    const std::int64_t half = std::int64_t{1} << (b - 1), top = h >> b;
    std::int64_t pos = top * (std::int64_t{1} << b) + half - 1;  // x1 = top, x0 = 2^(b-1) - 1
    if (pos > h) pos -= std::int64_t{1} << b;                     // x1 = top - 1
    std::int64_t neg = -top * (std::int64_t{1} << b) - half;      // x1 = -top, x0 = -2^(b-1)
    if (neg < -h) neg += std::int64_t{1} << b;
    return {pos, neg};
}

u64 residue_of(std::int64_t v, const Modulus& q) { return q.reduce_signed(v); }

// Weights of the key shape: +-2^41, and +-(h + q) (representative +-h, the largest balanced
// magnitude), and the max-digit-sum values, so the plan's weight bound is h.
std::vector<std::int64_t> key_weights(const Modulus& q, std::size_t count, int b, std::size_t variant) {
    const std::int64_t h = static_cast<std::int64_t>((q.value() - 1) / 2), qv = static_cast<std::int64_t>(q.value());
    const std::int64_t two41 = std::int64_t{1} << 41;
    const auto ds = max_digit_sum_values(h, b);
    std::vector<std::int64_t> w(count);
    for (std::size_t i = 0; i < count; ++i) {
        switch (variant) {
            case 0: w[i] = two41; break;
            case 1: w[i] = -two41; break;
            case 2: w[i] = h + qv; break;  // all +h: one-signed terms of maximal size
            case 3: w[i] = ds[0]; break;
            case 4: w[i] = ds[1]; break;
            default: {
                const std::int64_t m[] = {two41, -two41, h + qv, -(h + qv), ds[0], ds[1], 0, 1, -1};
                w[i] = m[(i * 5 + i / 7) % 9];
            }
        }
    }
    w[0] = h + qv;  // keep the weight bound at h in every variant (same plan)
    return w;
}

// Residue rows: all q-1, all (q-1)/2, all (q+1)/2, max-digit-sum rows of both signs, and a mix.
std::vector<Rows> key_residues(const Modulus& q, std::size_t cols, std::size_t n, int b) {
    const u64 qv = q.value();
    const std::int64_t h = static_cast<std::int64_t>((qv - 1) / 2);
    const auto ds = max_digit_sum_values(h, b);
    std::vector<Rows> sets;
    for (u64 v : {qv - 1, (qv - 1) / 2, (qv + 1) / 2, residue_of(ds[0], q), residue_of(ds[1], q)})
        sets.emplace_back(cols, n, v);
    Rows mix(cols, n);
    const u64 edge[] = {0, 1, qv - 1, (qv - 1) / 2, (qv + 1) / 2, residue_of(ds[0], q), residue_of(ds[1], q)};
    for (std::size_t k = 0; k < cols; ++k)
        for (std::size_t c = 0; c < n; ++c) mix.data[k][c] = edge[(k * 3 + c) % 7];
    sets.push_back(std::move(mix));
    return sets;
}

}  // namespace

TEST(ModGemmKaratsuba, ChosenOnKeyShapeAndExactOnEdgeValues) {
    const Modulus q = prime_of_bits(40);
    const std::size_t rows = 64, cols = 27, n = 77;
    Prng prng(Seed{10});
    std::vector<std::int64_t> w(rows * cols);
    const std::int64_t w_max = std::int64_t{1} << 41;
    for (auto& x : w) x = static_cast<std::int64_t>(prng.next_u64() % static_cast<u64>(2 * w_max + 1)) - w_max;
    const ModGemmPlan plan = ModGemm(w, rows, cols).plan(q);
    ASSERT_TRUE(plan.karatsuba);
    EXPECT_FALSE(plan.folded);
    EXPECT_EQ(plan.fp64_macs_per_mac, 3u);
    EXPECT_EQ(plan.pieces, 3u);
    EXPECT_EQ(plan.x_digits, 2);
    EXPECT_EQ(plan.w_digits, 2);
    EXPECT_EQ(plan.x_digit_bits, plan.w_digit_bits);
    EXPECT_LT(plan.max_piece_bound, 2251799813685248.0);
    const int b = plan.x_digit_bits;
    // Random residues on every compiled target, then the edge values.
    const Rows rnd = random_residues(prng, q, cols, n);
    for (std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
        PinTarget pin(target);
        ASSERT_EQ(mismatches(q, w, rows, cols, rnd, n), 0u) << hwy::TargetName(target);
    }
    for (std::size_t variant = 0; variant < 6; ++variant) {
        const auto wv = key_weights(q, rows * cols, b, variant);
        ASSERT_TRUE(ModGemm(wv, rows, cols).plan(q).karatsuba) << "variant " << variant;
        for (const Rows& in : key_residues(q, cols, n, b))
            ASSERT_EQ(mismatches(q, wv, rows, cols, in, n), 0u) << "variant " << variant;
    }
}

TEST(ModGemmKaratsuba, LargestKStillChosenAndJustBeyond) {
    // Karatsuba is feasible while K (X0 + X1)(W0 + W1) < 2^51 and the reduction bound holds
    // (and then cheaper than every other plan); find the largest such K by bisection on the
    // planner, then check K_max and K_max + 1 on maximal values.
    for (int bits : {40, 44}) {
        const Modulus q = prime_of_bits(bits);
        const std::size_t rows = 4, n = 41;
        const auto plan_for = [&](std::size_t cols) {
            return ModGemm(key_weights(q, rows * cols, 20, 5), rows, cols).plan(q);
        };
        std::size_t lo = 1;
        while (lo < 64 && !plan_for(lo).karatsuba) ++lo;
        ASSERT_TRUE(plan_for(lo).karatsuba) << bits;
        const std::size_t k_first = lo;
        std::size_t hi = 1u << 20;
        ASSERT_FALSE(plan_for(hi).karatsuba) << bits;
        while (hi - lo > 1) {
            const std::size_t mid = lo + (hi - lo) / 2;
            (plan_for(mid).karatsuba ? lo : hi) = mid;
        }
        const std::size_t k_max = lo;
        std::printf("q bits %d: Karatsuba chosen for K in [%zu, %zu]\n", bits, k_first, k_max);
        const ModGemmPlan at = plan_for(k_max), beyond = plan_for(k_max + 1);
        ASSERT_TRUE(at.karatsuba);
        ASSERT_FALSE(beyond.karatsuba);
        // The bounds are what stop it (at 40 bits the reduction bound A/q, ~K 2^38 <= 2^51/4.04,
        // binds just before the middle piece K (X0 + X1)(W0 + W1) ~ K 2^40 reaches 2^51).
        EXPECT_LT(at.max_piece_bound, 2251799813685248.0);
        EXPECT_GT(at.max_piece_bound, 2251799813685248.0 * 0.95);
        if (bits == 40) {
            EXPECT_GE(k_max, 1900u);  // (X0 + X1)(W0 + W1) ~ 2^40 at b = 20
            EXPECT_LE(k_max, 2100u);
        }
        for (std::size_t cols : {k_max, k_max + 1}) {
            const int b = plan_for(cols).x_digit_bits;
            const int bk = at.x_digit_bits;  // the Karatsuba digit size, for the max-digit-sum values
            for (std::size_t variant = 0; variant < 6; ++variant) {
                const auto w = key_weights(q, rows * cols, bk, variant);
                ASSERT_EQ(ModGemm(w, rows, cols).plan(q).karatsuba, cols == k_max) << bits << " K " << cols;
                for (const Rows& in : key_residues(q, cols, n, bk))
                    ASSERT_EQ(mismatches(q, w, rows, cols, in, n), 0u)
                        << "q bits " << bits << " K " << cols << " variant " << variant << " b " << b;
            }
        }
    }
}
