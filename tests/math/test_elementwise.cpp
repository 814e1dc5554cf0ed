// Element-wise RNS kernels (hecnn/math/elementwise.h): the scalar reference against plain
// 128-bit % arithmetic, and every kernel on every runnable Highway target against the
// scalar reference, bit for bit — random and edge inputs (0, 1, q-1, values around q_l/2),
// 20- to 61-bit primes, lengths that are not multiples of the vector width.
#include <gtest/gtest.h>

#include "math/hwy_targets.h"

#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/elementwise.h"
#include "hecnn/math/modulus.h"
#include "hecnn/math/primes.h"

using namespace hecnn::math;

namespace {

constexpr int kPrimeBits[] = {20, 40, 50, 60, 61};
constexpr std::size_t kSizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257};

// The idx-th NTT-friendly prime of the given size (distinct primes of equal size).
u64 prime(int bits, int idx = 0) { return generate_ntt_primes(bits, 4, idx + 1)[static_cast<std::size_t>(idx)]; }

using hecnn::test::PinTarget;

// Runs f once per runnable target, with the dispatch pinned to it.
void for_each_target(const std::function<void()>& f) {
    for (std::int64_t target : ew::runnable_targets()) {
        SCOPED_TRACE(hwy::TargetName(target));
        const PinTarget pin(target);
        ASSERT_EQ(ew::dispatched_target(), target);
        f();
        if (::testing::Test::HasFatalFailure()) return;
    }
}

// Canonical residues: random, with edge values sprinkled in (kind 0), all zero (1), all
// q - 1 (2), or only values with extreme 32-bit halves (3: 0, 1, 2^16, 2^32 - 1, 2^32, ...,
// reduced mod q), which drive the carries between the 32-bit partial products.
std::vector<u64> residues(Prng& prng, u64 q, std::size_t n, int kind = 0) {
    std::vector<u64> v(n);
    if (kind == 1) return v;
    if (kind == 2) return std::vector<u64>(n, q - 1);
    if (kind == 3) {
        const u64 halves[] = {0, 1, 2, u64{1} << 16, (u64{1} << 31) + 1, (u64{1} << 32) - 2, (u64{1} << 32) - 1};
        for (auto& x : v) x = ((halves[prng.next_u64() % 7] << 32) + halves[prng.next_u64() % 7]) % q;
        return v;
    }
    prng.uniform_mod(Modulus(q), v);
    const u64 edges[] = {0, 1, 2, q - 1, q - 2, q / 2, q / 2 + 1};
    for (auto& x : v)
        if (prng.next_u64() % 4 == 0) x = edges[prng.next_u64() % std::size(edges)];
    return v;
}

// Arbitrary 64-bit words, with edge values sprinkled in.
std::vector<u64> words(Prng& prng, u64 q, std::size_t n) {
    std::vector<u64> v(n);
    const u64 edges[] = {0, 1, q - 1, q, q + 1, 2 * q, 4 * q - 1, ~u64{0}, u64{1} << 63, (u64{1} << 63) - 1};
    for (auto& x : v) x = prng.next_u64() % 3 == 0 ? edges[prng.next_u64() % std::size(edges)] : prng.next_u64();
    return v;
}

u64 mulmod(u64 a, u64 b, u64 q) { return static_cast<u64>(static_cast<u128>(a) * b % q); }
u64 random_below(Prng& prng, u64 q) { return prng.next_u64() % q; }

}  // namespace

TEST(Elementwise, DispatchPicksBestRunnableTarget) {
    const std::vector<std::int64_t> targets = ew::runnable_targets();
    ASSERT_FALSE(targets.empty());
    EXPECT_EQ(ew::dispatched_target(), targets.front());
#if HWY_ARCH_X86_64
    EXPECT_NE(targets.front(), HWY_EMU128);
    EXPECT_NE(targets.front(), HWY_SCALAR);
#endif
}

// ---------------------------------------------------------------- scalar vs exact arithmetic

TEST(Elementwise, ScalarReferenceMatchesExactArithmetic) {
    Prng prng(Seed{1});
    for (int bits : kPrimeBits) {
        SCOPED_TRACE(bits);
        const u64 q = prime(bits);
        const std::size_t n = 257;
        for (int kind = 0; kind < 4; ++kind) {
            const auto a = residues(prng, q, n, kind), b = residues(prng, q, n, (kind + 1) % 4);
            std::vector<u64> out(n), acc = residues(prng, q, n);
            ew::scalar::add(a.data(), b.data(), out.data(), n, q);
            for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], (a[i] + b[i]) % q);
            ew::scalar::sub(a.data(), b.data(), out.data(), n, q);
            for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], (a[i] + q - b[i]) % q);
            ew::scalar::negate(a.data(), out.data(), n, q);
            for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], (q - a[i]) % q);
            ew::scalar::mul(a.data(), b.data(), out.data(), n, q);
            for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], mulmod(a[i], b[i], q));
            const auto acc0 = acc;
            ew::scalar::mul_add(a.data(), b.data(), acc.data(), n, q);
            for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(acc[i], (acc0[i] + mulmod(a[i], b[i], q)) % q);
            for (u64 w : {u64{0}, u64{1}, q - 1, random_below(prng, q)}) {
                const u64 ws = shoup_precompute(w, q);
                const auto x = words(prng, q, n);
                ew::scalar::mul_scalar(x.data(), w, ws, out.data(), n, q);
                for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], mulmod(x[i], w, q)) << "x=" << x[i] << " w=" << w;
                ew::scalar::sub_mul_scalar(a.data(), b.data(), w, ws, out.data(), n, q);
                for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], mulmod((a[i] + q - b[i]) % q, w, q));
            }
        }
    }
}

TEST(Elementwise, ScalarRescaleIsRoundedDivision) {
    Prng prng(Seed{2});
    for (int bits : kPrimeBits) {
        for (int lbits : kPrimeBits) {
            const u64 q = prime(bits), ql = prime(lbits, 1);
            const Modulus mq(q);
            const ew::RescaleConstants k{q, ql, ql % q, mq.inv(ql % q), shoup_precompute(mq.inv(ql % q), q)};
            const u64 half = ql / 2;
            std::vector<u64> last = residues(prng, ql, 300);
            const u64 edges[] = {0, 1, half - 1, half, half + 1, half + 2, ql - 1, ql - 2};
            for (std::size_t i = 0; i < std::size(edges); ++i) last[i] = edges[i];
            const auto x = residues(prng, q, last.size());
            std::vector<u64> out(last.size()), c(last.size());
            ew::scalar::rescale(x.data(), last.data(), out.data(), out.size(), k);
            ew::scalar::centred_residue(last.data(), c.data(), c.size(), q, ql, k.ql_mod_q);
            for (std::size_t i = 0; i < out.size(); ++i) {
                // The centred last limb v' in (-q_l/2, q_l/2], as a signed integer.
                const std::int64_t centred = last[i] > half ? static_cast<std::int64_t>(last[i]) - static_cast<std::int64_t>(ql)
                                                            : static_cast<std::int64_t>(last[i]);
                const u64 cmod = mq.reduce_signed(centred);
                ASSERT_EQ(c[i], cmod) << "bits " << bits << "/" << lbits << " v=" << last[i];
                // out·q_l ≡ x - v' (mod q): the exact quotient (X - v') / q_l of X ≡ x (mod q),
                // X ≡ v (mod q_l).
                ASSERT_EQ(mulmod(out[i], ql % q, q), (x[i] + q - cmod) % q) << "bits " << bits << "/" << lbits;
            }
        }
    }
}

TEST(Elementwise, ScalarInnerProductMatchesExactArithmetic) {
    Prng prng(Seed{3});
    for (int bits : kPrimeBits) {
        const u64 q = prime(bits);
        for (std::size_t digits : {0, 1, 3, 17, 63}) {
            const std::size_t n = 19;
            std::vector<std::vector<u64>> a, k0, k1;
            for (std::size_t j = 0; j < digits; ++j) {
                a.push_back(residues(prng, q, n, j % 3 == 2 ? 2 : 0));
                k0.push_back(residues(prng, q, n, j % 3 == 2 ? 2 : 0));
                k1.push_back(residues(prng, q, n));
            }
            const auto e0 = residues(prng, q, n), e1 = residues(prng, q, n);
            const u64 w = random_below(prng, q);
            std::vector<const u64*> pa, p0, p1;
            for (std::size_t j = 0; j < digits; ++j) pa.push_back(a[j].data()), p0.push_back(k0[j].data()), p1.push_back(k1[j].data());
            std::vector<u64> out0(n), out1(n);
            ew::scalar::inner_product(pa.data(), p0.data(), p1.data(), digits, e0.data(), e1.data(), w, out0.data(), out1.data(), n, q);
            for (std::size_t x = 0; x < n; ++x) {
                u64 s0 = mulmod(e0[x], w, q), s1 = mulmod(e1[x], w, q);
                for (std::size_t j = 0; j < digits; ++j) {
                    s0 = (s0 + mulmod(a[j][x], k0[j][x], q)) % q;
                    s1 = (s1 + mulmod(a[j][x], k1[j][x], q)) % q;
                }
                ASSERT_EQ(out0[x], s0);
                ASSERT_EQ(out1[x], s1);
            }
        }
    }
}

TEST(Elementwise, ScalarConvertMatchesExactArithmetic) {
    Prng prng(Seed{4});
    for (int tbits : kPrimeBits) {
        const u64 t = prime(tbits, 2);
        for (std::size_t s : {1, 2, 3, 7, 64}) {
            const std::size_t len = 37, stride = 40;
            std::vector<u64> src(s), pm(s), pms(s), y(s * stride);
            std::vector<double> inv_q(s);
            for (std::size_t i = 0; i < s; ++i) {
                src[i] = prime(kPrimeBits[i % std::size(kPrimeBits)], 3 + static_cast<int>(i));
                inv_q[i] = 1.0 / static_cast<double>(src[i]);
                pm[i] = random_below(prng, t);
                pms[i] = shoup_precompute(pm[i], t);
                const auto yi = residues(prng, src[i], len, i % 3);
                std::copy(yi.begin(), yi.end(), y.begin() + static_cast<std::ptrdiff_t>(i * stride));
            }
            std::vector<u64> count(len), out(len);
            ew::scalar::convert_count(y.data(), stride, s, inv_q.data(), count.data(), len);
            const u64 qm = random_below(prng, t), qms = shoup_precompute(qm, t);
            ew::scalar::convert_sum(y.data(), stride, s, pm.data(), pms.data(), count.data(), qm, qms, out.data(), len, t);
            for (std::size_t c = 0; c < len; ++c) {
                long double exact = 0;
                u64 sum = 0;
                for (std::size_t i = 0; i < s; ++i) {
                    exact += static_cast<long double>(y[i * stride + c]) / static_cast<long double>(src[i]);
                    sum = (sum + mulmod(y[i * stride + c], pm[i], t)) % t;
                }
                ASSERT_LE(std::fabs(static_cast<long double>(count[c]) - exact), 0.5L + 1e-9L);
                ASSERT_EQ(out[c], (sum + t - mulmod(count[c], qm, t)) % t);
            }
        }
    }
}

// ---------------------------------------------------------------- every target vs scalar

TEST(Elementwise, AddSubNegateMatchScalar) {
    Prng prng(Seed{10});
    for_each_target([&] {
        for (int bits : kPrimeBits) {
            const u64 q = prime(bits);
            for (std::size_t n : kSizes) {
                for (int kind = 0; kind < 4; ++kind) {
                    const auto a = residues(prng, q, n, kind), b = residues(prng, q, n, (kind + 2) % 4);
                    std::vector<u64> vec(n), ref(n);
                    ew::add(a.data(), b.data(), vec.data(), n, q);
                    ew::scalar::add(a.data(), b.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "add bits=" << bits << " n=" << n;
                    ew::sub(a.data(), b.data(), vec.data(), n, q);
                    ew::scalar::sub(a.data(), b.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "sub bits=" << bits << " n=" << n;
                    ew::sub(b.data(), a.data(), vec.data(), n, q);
                    ew::scalar::sub(b.data(), a.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "sub bits=" << bits << " n=" << n;
                    ew::negate(a.data(), vec.data(), n, q);
                    ew::scalar::negate(a.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "negate bits=" << bits << " n=" << n;
                    // In place.
                    vec = a;
                    ew::add(vec.data(), b.data(), vec.data(), n, q);
                    ew::scalar::add(a.data(), b.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "add in place bits=" << bits << " n=" << n;
                }
            }
        }
    });
}

TEST(Elementwise, MulAndMulAddMatchScalar) {
    Prng prng(Seed{11});
    for_each_target([&] {
        for (int bits : kPrimeBits) {
            const u64 q = prime(bits);
            for (std::size_t n : kSizes) {
                for (int kind = 0; kind < 4; ++kind) {
                    const auto a = residues(prng, q, n, kind), b = residues(prng, q, n, kind == 1 ? 0 : kind);
                    std::vector<u64> vec(n), ref(n);
                    ew::mul(a.data(), b.data(), vec.data(), n, q);
                    ew::scalar::mul(a.data(), b.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "mul bits=" << bits << " n=" << n;
                    const auto acc = residues(prng, q, n, 3 - kind);
                    vec = ref = acc;
                    ew::mul_add(a.data(), b.data(), vec.data(), n, q);
                    ew::scalar::mul_add(a.data(), b.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "mul_add bits=" << bits << " n=" << n;
                    vec = a;  // squaring in place
                    ew::mul(vec.data(), vec.data(), vec.data(), n, q);
                    ew::scalar::mul(a.data(), a.data(), ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "square bits=" << bits << " n=" << n;
                }
            }
        }
        // Every small prime size: the Barrett shifts depend on the bit length of q.
        for (int bits = 3; bits <= kMaxModulusBits; ++bits) {
            const u64 q = generate_ntt_primes(bits, 1, 1)[0];
            const std::size_t n = 67;
            for (int kind = 0; kind < 4; ++kind) {
                const auto a = residues(prng, q, n, kind), b = residues(prng, q, n, kind);
                std::vector<u64> vec(n), ref(n);
                ew::mul(a.data(), b.data(), vec.data(), n, q);
                ew::scalar::mul(a.data(), b.data(), ref.data(), n, q);
                ASSERT_EQ(vec, ref) << "mul q=" << q;
            }
        }
    });
}

TEST(Elementwise, ShoupKernelsMatchScalar) {
    Prng prng(Seed{12});
    for_each_target([&] {
        for (int bits : kPrimeBits) {
            const u64 q = prime(bits);
            for (std::size_t n : kSizes) {
                for (u64 w : {u64{0}, u64{1}, q - 1, random_below(prng, q)}) {
                    const u64 ws = shoup_precompute(w, q);
                    std::vector<u64> vec(n), ref(n);
                    const auto x = words(prng, q, n);  // any 64-bit word
                    ew::mul_scalar(x.data(), w, ws, vec.data(), n, q);
                    ew::scalar::mul_scalar(x.data(), w, ws, ref.data(), n, q);
                    ASSERT_EQ(vec, ref) << "mul_scalar bits=" << bits << " n=" << n << " w=" << w;
                    for (int kind = 0; kind < 4; ++kind) {
                        const auto a = residues(prng, q, n, kind), v = residues(prng, q, n, 3 - kind);
                        ew::sub_mul_scalar(a.data(), v.data(), w, ws, vec.data(), n, q);
                        ew::scalar::sub_mul_scalar(a.data(), v.data(), w, ws, ref.data(), n, q);
                        ASSERT_EQ(vec, ref) << "sub_mul_scalar bits=" << bits << " n=" << n;
                    }
                }
            }
        }
    });
}

TEST(Elementwise, RescaleMatchesScalar) {
    Prng prng(Seed{13});
    for_each_target([&] {
        for (int bits : kPrimeBits) {
            for (int lbits : kPrimeBits) {
                const u64 q = prime(bits), ql = prime(lbits, 1);
                const Modulus mq(q);
                const u64 inv = mq.inv(ql % q);
                const ew::RescaleConstants k{q, ql, ql % q, inv, shoup_precompute(inv, q)};
                const u64 half = ql / 2;
                const u64 edges[] = {0, 1, half - 1, half, half + 1, ql - 1, ql - 2};
                for (std::size_t n : kSizes) {
                    for (int kind = 0; kind < 4; ++kind) {
                        auto last = residues(prng, ql, n, kind);
                        if (kind == 0)
                            for (auto& v : last)
                                if (prng.next_u64() % 2) v = edges[prng.next_u64() % std::size(edges)];
                        const auto x = residues(prng, q, n, 3 - kind);
                        std::vector<u64> vec(n), ref(n);
                        ew::rescale(x.data(), last.data(), vec.data(), n, k);
                        ew::scalar::rescale(x.data(), last.data(), ref.data(), n, k);
                        ASSERT_EQ(vec, ref) << "rescale bits=" << bits << "/" << lbits << " n=" << n;
                        ew::centred_residue(last.data(), vec.data(), n, q, ql, k.ql_mod_q);
                        ew::scalar::centred_residue(last.data(), ref.data(), n, q, ql, k.ql_mod_q);
                        ASSERT_EQ(vec, ref) << "centred_residue bits=" << bits << "/" << lbits << " n=" << n;
                        vec = x;  // in place, as the evaluator calls it
                        ew::rescale(vec.data(), last.data(), vec.data(), n, k);
                        ew::scalar::rescale(x.data(), last.data(), ref.data(), n, k);
                        ASSERT_EQ(vec, ref) << "rescale in place bits=" << bits << "/" << lbits << " n=" << n;
                    }
                }
            }
        }
    });
}

TEST(Elementwise, InnerProductMatchesScalar) {
    Prng prng(Seed{14});
    for_each_target([&] {
        for (int bits : kPrimeBits) {
            const u64 q = prime(bits);
            for (std::size_t digits : {0, 1, 2, 3, 6, 17, 50, 63}) {
                for (std::size_t n : {1, 7, 8, 9, 17, 64, 101}) {
                    // kind 2 (all q - 1) in every operand gives the largest sums: 64 terms
                    // of (q - 1)^2 with the extra one, just below 2^128 for 61-bit q.
                    const int kind = static_cast<int>((digits + n) % 4) == 0 ? 2 : static_cast<int>(digits + n) % 4 == 1 ? 3 : 0;
                    std::vector<std::vector<u64>> a, k0, k1;
                    for (std::size_t j = 0; j < digits; ++j) {
                        a.push_back(residues(prng, q, n, kind));
                        k0.push_back(residues(prng, q, n, kind));
                        k1.push_back(residues(prng, q, n, kind));
                    }
                    const auto e0 = residues(prng, q, n, kind), e1 = residues(prng, q, n, kind);
                    const u64 w = kind == 2 ? q - 1 : random_below(prng, q);
                    std::vector<const u64*> pa, p0, p1;
                    for (std::size_t j = 0; j < digits; ++j)
                        pa.push_back(a[j].data()), p0.push_back(k0[j].data()), p1.push_back(k1[j].data());
                    for (int variant = 0; variant < 4; ++variant) {
                        const bool two = variant != 3;  // variant 3: one key only
                        const u64* x0 = variant == 1 ? nullptr : e0.data();
                        const u64* x1 = variant == 2 || !two ? nullptr : e1.data();
                        std::vector<u64> v0(n, 1), v1(n, 1), r0(n, 2), r1(n, 2);
                        ew::inner_product(pa.data(), p0.data(), two ? p1.data() : nullptr, digits, x0, x1, w, v0.data(),
                                          two ? v1.data() : nullptr, n, q);
                        ew::scalar::inner_product(pa.data(), p0.data(), two ? p1.data() : nullptr, digits, x0, x1, w, r0.data(),
                                                  two ? r1.data() : nullptr, n, q);
                        ASSERT_EQ(v0, r0) << "bits=" << bits << " digits=" << digits << " n=" << n << " variant=" << variant;
                        if (two) {
                            ASSERT_EQ(v1, r1) << "bits=" << bits << " digits=" << digits << " n=" << n;
                        }
                    }
                }
            }
        }
    });
}

// The centred count rounds Σ y_i/q_i in double precision: where that sum is within a few
// ulps of k + 1/2, a fused multiply-add (which the vector code must not use) or any other
// change of the rounding sequence would flip the result. Rows built to land there.
// A sum whose 32-bit columns carry into the high word only through the final combination
// (low column Σ = 2^33 - 1, middle column 2^32 - 1 + 1): the rarest carry of the vector
// kernel's three-column accumulation, never hit by random inputs.
TEST(Elementwise, InnerProductColumnCarry) {
    const u64 m = (u64{1} << 32) - 1;
    const std::vector<u64> a = {m, m, m, u64{1} << 16}, k = {1, 1, m, u64{1} << 16};
    for_each_target([&] {
        for (int bits : {40, 50, 60, 61}) {
            const u64 q = prime(bits);
            const std::size_t n = 16;
            std::vector<std::vector<u64>> av, kv;
            for (std::size_t j = 0; j < a.size(); ++j) av.emplace_back(n, a[j]), kv.emplace_back(n, k[j]);
            std::vector<const u64*> pa, pk;
            for (std::size_t j = 0; j < a.size(); ++j) pa.push_back(av[j].data()), pk.push_back(kv[j].data());
            std::vector<u64> vec(n), ref(n);
            ew::inner_product(pa.data(), pk.data(), nullptr, a.size(), nullptr, nullptr, 0, vec.data(), nullptr, n, q);
            ew::scalar::inner_product(pa.data(), pk.data(), nullptr, a.size(), nullptr, nullptr, 0, ref.data(), nullptr, n, q);
            u128 exact = 0;
            for (std::size_t j = 0; j < a.size(); ++j) exact += static_cast<u128>(a[j]) * k[j];
            ASSERT_EQ(ref, std::vector<u64>(n, static_cast<u64>(exact % q)));
            ASSERT_EQ(vec, ref) << "bits=" << bits;
        }
    });
}

TEST(Elementwise, ConvertCountMatchesScalarNearHalves) {
    Prng prng(Seed{16});
    for_each_target([&] {
        for (int bits : {40, 50, 60, 61}) {
            const std::size_t len = 4096;
            for (std::size_t s : {1, 2, 3}) {
                std::vector<u64> src(s), y(s * len);
                std::vector<double> inv_q(s);
                for (std::size_t i = 0; i < s; ++i) {
                    src[i] = prime(bits, static_cast<int>(i));
                    inv_q[i] = 1.0 / static_cast<double>(src[i]);
                }
                for (std::size_t c = 0; c < len; ++c) {
                    // All but the last row random; the last makes the sum k + 1/2 + tiny.
                    long double sum = 0;
                    for (std::size_t i = 0; i + 1 < s; ++i) {
                        y[i * len + c] = random_below(prng, src[i]);
                        sum += static_cast<long double>(y[i * len + c]) / static_cast<long double>(src[i]);
                    }
                    const u64 ql = src[s - 1];
                    const long double frac = sum - std::floor(sum);
                    const long double want = frac <= 0.5L ? 0.5L - frac : 1.5L - frac;  // in [0, 1)
                    const auto base = static_cast<std::int64_t>(std::llround(want * static_cast<long double>(ql)));
                    const std::int64_t v = base + static_cast<std::int64_t>(prng.next_u64() % 9) - 4;
                    y[(s - 1) * len + c] = static_cast<u64>(std::clamp<std::int64_t>(v, 0, static_cast<std::int64_t>(ql) - 1));
                }
                std::vector<u64> cv(len), cr(len);
                ew::convert_count(y.data(), len, s, inv_q.data(), cv.data(), len);
                ew::scalar::convert_count(y.data(), len, s, inv_q.data(), cr.data(), len);
                ASSERT_EQ(cv, cr) << "bits=" << bits << " s=" << s;
            }
        }
    });
}

TEST(Elementwise, ConvertKernelsMatchScalar) {
    Prng prng(Seed{15});
    for_each_target([&] {
        for (int tbits : kPrimeBits) {
            const u64 t = prime(tbits, 2);
            for (std::size_t s : {1, 2, 3, 4, 5, 17, 64}) {
                for (std::size_t len : {1, 7, 8, 9, 31, 256}) {
                    const std::size_t stride = len + 3;
                    std::vector<u64> src(s), pm(s), pms(s), y(s * stride);
                    std::vector<double> inv_q(s);
                    for (std::size_t i = 0; i < s; ++i) {
                        src[i] = prime(kPrimeBits[(i + s) % std::size(kPrimeBits)], 3 + static_cast<int>(i % 3));
                        inv_q[i] = 1.0 / static_cast<double>(src[i]);
                        pm[i] = i % 5 == 4 ? t - 1 : random_below(prng, t);
                        pms[i] = shoup_precompute(pm[i], t);
                        const auto yi = residues(prng, src[i], len, static_cast<int>((i + len) % 4));
                        std::copy(yi.begin(), yi.end(), y.begin() + static_cast<std::ptrdiff_t>(i * stride));
                    }
                    std::vector<u64> cv(len), cr(len);
                    ew::convert_count(y.data(), stride, s, inv_q.data(), cv.data(), len);
                    ew::scalar::convert_count(y.data(), stride, s, inv_q.data(), cr.data(), len);
                    ASSERT_EQ(cv, cr) << "convert_count s=" << s << " len=" << len;
                    const u64 qm = random_below(prng, t), qms = shoup_precompute(qm, t);
                    std::vector<u64> ov(len), orf(len);
                    for (const u64* count : {static_cast<const u64*>(nullptr), static_cast<const u64*>(cr.data())}) {
                        ew::convert_sum(y.data(), stride, s, pm.data(), pms.data(), count, qm, qms, ov.data(), len, t);
                        ew::scalar::convert_sum(y.data(), stride, s, pm.data(), pms.data(), count, qm, qms, orf.data(), len, t);
                        ASSERT_EQ(ov, orf) << "convert_sum t bits=" << tbits << " s=" << s << " len=" << len;
                    }
                    // Any 64-bit y and count.
                    const auto yw = words(prng, t, s * stride), cw = words(prng, t, len);
                    ew::convert_sum(yw.data(), stride, s, pm.data(), pms.data(), cw.data(), qm, qms, ov.data(), len, t);
                    ew::scalar::convert_sum(yw.data(), stride, s, pm.data(), pms.data(), cw.data(), qm, qms, orf.data(), len, t);
                    ASSERT_EQ(ov, orf) << "convert_sum (words) t bits=" << tbits << " s=" << s << " len=" << len;
                }
            }
        }
    });
}
