// Rotations, conjugation and hoisting, checked against plaintext slot permutations by the
// precision statistic (the >= 20 bits every operation of test_ckks.cpp keeps at scale 2^40
// with inputs in [-1, 1]), and the NTT permutations against the automorphism computed
// schoolbook on coefficients.
#include <complex>
#include <cmath>

#include "ckks/ckks_fixture.h"
#include "hecnn/ckks/galois.h"

using namespace hecnn;
using namespace hecnn::test;
using cplx = std::complex<double>;

namespace {

constexpr double kMinBits = 20;

// Left rotation of a slot vector: slot i gets v[(i + k) mod n] (negative k: right).
template <class T>
std::vector<T> rotated(const std::vector<T>& v, long k) {
    const long n = static_cast<long>(v.size());
    std::vector<T> out(v.size());
    for (long i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(((i + k) % n + n) % n)];
    return out;
}

std::vector<cplx> random_complex(std::size_t n, std::uint8_t seed) {
    const auto re = random_values(n, seed), im = random_values(n, static_cast<std::uint8_t>(seed + 100));
    std::vector<cplx> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = {re[i], im[i]};
    return v;
}

// The worse of the real and imaginary parts' statistics.
Precision complex_precision(const std::vector<cplx>& got, const std::vector<cplx>& want) {
    std::vector<double> gr, gi, wr, wi;
    for (std::size_t i = 0; i < want.size(); ++i) {
        gr.push_back(got[i].real()), gi.push_back(got[i].imag());
        wr.push_back(want[i].real()), wi.push_back(want[i].imag());
    }
    const Precision a = precision(gr, wr), b = precision(gi, wi);
    return a.min_bits < b.min_bits ? a : b;
}

class RotationTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        // Digits of at most two primes (100 bits) under P = 120 bits: a key switch at scale 2^40
        // (rotation) adds noise of about (digit modulus / P)·sqrt(N)·σ, which the context's
        // default digits (up to P·2^20, sized for relinearisation at scale 2^80) would make
        // 2^20 times larger (docs/ENGINE.md).
        engine = std::make_unique<Engine>(small_literal(12, 4, /*dnum=*/3));
        const long slots = static_cast<long>(engine->ctx->slots());
        // Steps 1 and 1 + N/2 are the same element: one key for both.
        const std::vector<int> steps = {1, 2, 3, 5, 7, -1, -5, static_cast<int>(slots - 1), static_cast<int>(slots + 1), 12, -4, 9};
        gk = std::make_unique<ckks::GaloisKeys>(engine->keygen.create_rotation_keys(steps, /*conjugation=*/true));
    }
    static void TearDownTestSuite() {
        gk.reset();
        engine.reset();
    }
    static std::unique_ptr<Engine> engine;
    static std::unique_ptr<ckks::GaloisKeys> gk;
};
std::unique_ptr<Engine> RotationTest::engine;
std::unique_ptr<ckks::GaloisKeys> RotationTest::gk;

}  // namespace

TEST(GaloisElements, RotationsAndConjugation) {
    for (std::size_t n : {16u, 4096u, 32768u}) {
        const std::uint64_t m = 2 * n;
        const int half = static_cast<int>(n / 2);
        EXPECT_EQ(ckks::galois_element(0, n), 1u);
        EXPECT_EQ(ckks::galois_element(1, n), 5u);
        EXPECT_EQ(ckks::conjugation_element(n), m - 1);
        std::uint64_t p = 1;
        for (int k = 0; k < 40 && k < half; ++k, p = p * 5 % m) {
            EXPECT_EQ(ckks::galois_element(k, n), p) << "5^" << k << " mod " << m;
            EXPECT_EQ(ckks::galois_element(k + half, n), p) << "5 has order N/2 modulo 2N";
            // A right rotation undoes a left one: 5^k · 5^-k = 1.
            EXPECT_EQ(p * ckks::galois_element(-k, n) % m, 1u) << "k = " << k;
        }
        EXPECT_THROW(ckks::check_galois_element(1, n), std::invalid_argument);
        EXPECT_THROW(ckks::check_galois_element(6, n), std::invalid_argument);
        EXPECT_THROW(ckks::check_galois_element(static_cast<std::uint32_t>(m + 1), n), std::invalid_argument);
        EXPECT_NO_THROW(ckks::check_galois_element(static_cast<std::uint32_t>(m - 1), n));
    }
}

TEST(GaloisElements, NttPermutationMatchesSchoolbookAutomorphism) {
    const auto ctx = ckks::Context::create(small_literal(10, 2));
    const std::size_t n = ctx->n(), m = 2 * n;
    math::Prng prng(math::Seed{42});
    for (std::uint32_t g : {ckks::galois_element(1, n), ckks::galois_element(3, n), ckks::galois_element(-1, n),
                            ckks::conjugation_element(n), 3u, static_cast<std::uint32_t>(m - 5)}) {
        const auto perm = ckks::galois_ntt_permutation(*ctx, g);
        ASSERT_EQ(perm.size(), n);
        for (std::size_t i = 0; i < ctx->data_count() + ctx->special_count(); ++i) {
            const math::Modulus& q = ctx->modulus(i);
            std::vector<std::uint64_t> a(n), sa(n);
            prng.uniform_mod(q, a);
            // a(X^g): X^i -> X^(i·g mod 2N), and X^(N + j) = -X^j.
            for (std::size_t c = 0; c < n; ++c) {
                const std::size_t e = c * g % m;
                if (e < n) sa[e] = a[c];
                else sa[e - n] = (q.value() - a[c]) % q.value();
            }
            ctx->ntt(i).forward(a.data());
            ctx->ntt(i).forward(sa.data());
            std::size_t wrong = 0;
            for (std::size_t k = 0; k < n; ++k) wrong += sa[k] != a[perm[k]];
            EXPECT_EQ(wrong, 0u) << "element " << g << ", modulus " << i;
        }
    }
}

TEST_F(RotationTest, KeysOnlyForTheRequestedElements) {
    const std::size_t n = engine->ctx->n();
    // 12 steps, of which N/2-1 is -1 and N/2+1 is 1, plus conjugation: 11 elements.
    EXPECT_EQ(gk->size(), 11u);
    EXPECT_TRUE(gk->has(ckks::galois_element(1, n)));
    EXPECT_TRUE(gk->has(ckks::conjugation_element(n)));
    EXPECT_FALSE(gk->has(ckks::galois_element(4, n)));
    for (std::size_t e = 1; e < gk->size(); ++e) EXPECT_LT(gk->elements()[e - 1], gk->elements()[e]);
    const std::size_t per_key = 2 * engine->ctx->dnum() * (engine->ctx->data_count() + engine->ctx->special_count()) * n * 8;
    EXPECT_EQ(gk->memory_bytes(), gk->size() * per_key);
    const std::vector<int> none = {0, static_cast<int>(engine->ctx->slots())};  // the identity twice
    EXPECT_EQ(engine->keygen.create_rotation_keys(none).size(), 0u);
}

TEST_F(RotationTest, RotateMatchesSlotRotation) {
    auto& e = *engine;
    const std::size_t slots = e.ctx->slots();
    const auto v = random_values(slots, 11);
    auto ct = e.encrypt(v);
    auto ct_ntt = ct;
    e.eval.to_ntt_inplace(ct_ntt);
    auto ct_low = ct;
    e.eval.drop_to_level_inplace(ct_low, 1);
    for (long k : {0L, 1L, 2L, 7L, -1L, -5L, static_cast<long>(slots) - 1, static_cast<long>(slots) + 1, 12L}) {
        const auto want = rotated(v, k);
        for (const auto* in : {&ct, &ct_ntt, &ct_low}) {
            const auto r = e.eval.rotate(*in, static_cast<int>(k), *gk);
            EXPECT_EQ(r.level(), in->level());
            EXPECT_EQ(r.scale(), in->scale());
            const auto p = precision(e.decrypt(r), want);
            EXPECT_GE(p.min_bits, kMinBits) << "k = " << k << (in->is_ntt() ? " (NTT form)" : "") << " level " << in->level() << ": "
                                            << p.str();
            EXPECT_GT(p.mean_bits, p.min_bits) << p.str();
        }
    }
    // A rotation is not the identity: against the unrotated values it fails.
    EXPECT_LT(precision(e.decrypt(e.eval.rotate(ct, 1, *gk)), v).min_bits, 1);
}

TEST_F(RotationTest, ComplexSlotsRotateAndConjugate) {
    auto& e = *engine;
    const std::size_t slots = e.ctx->slots();
    const auto v = random_complex(slots, 12);
    const auto ct = e.enc_sk.encrypt(e.encoder.encode_complex(v, e.ctx->scale(), e.ctx->max_level()));
    auto decode = [&](const ckks::Ciphertext& c) { return e.encoder.decode_complex(e.dec.decrypt(c)); };
    EXPECT_GE(complex_precision(decode(ct), v).min_bits, 24) << "fresh";

    std::vector<cplx> conj(slots);
    for (std::size_t i = 0; i < slots; ++i) conj[i] = std::conj(v[i]);
    const auto pc = complex_precision(decode(e.eval.conjugate(ct, *gk)), conj);
    EXPECT_GE(pc.min_bits, kMinBits) << "conjugate: " << pc.str();
    EXPECT_LT(complex_precision(decode(e.eval.conjugate(ct, *gk)), v).min_bits, 1) << "conjugation changed nothing";

    for (int k : {3, -4}) {
        const auto p = complex_precision(decode(e.eval.rotate(ct, k, *gk)), rotated(v, k));
        EXPECT_GE(p.min_bits, kMinBits) << "complex rotation by " << k << ": " << p.str();
    }
    // Conjugation after a rotation: both permutations compose.
    const auto both = e.eval.conjugate(e.eval.rotate(ct, 2, *gk), *gk);
    auto want = rotated(conj, 2);
    const auto pb = complex_precision(decode(both), want);
    EXPECT_GE(pb.min_bits, kMinBits) << "conjugate(rotate(x, 2)): " << pb.str();
}

TEST_F(RotationTest, RotationsCompose) {
    auto& e = *engine;
    const auto v = random_values(e.ctx->slots(), 13);
    const auto ct = e.encrypt(v);
    // (a, b) pairs whose sum has a key too, and one pair that wraps around the slot count.
    const long slots = static_cast<long>(e.ctx->slots());
    for (auto [a, b] : std::vector<std::pair<long, long>>{{1, 2}, {2, 5}, {-1, -4}, {7, -4}, {slots - 1, 2}}) {
        const auto two = e.eval.rotate(e.eval.rotate(ct, static_cast<int>(a), *gk), static_cast<int>(b), *gk);
        const auto one = e.eval.rotate(ct, static_cast<int>(a + b), *gk);
        const auto want = rotated(v, a + b);
        const auto p2 = precision(e.decrypt(two), want), p1 = precision(e.decrypt(one), want);
        EXPECT_GE(p2.min_bits, kMinBits) << "rotate(rotate(x, " << a << "), " << b << "): " << p2.str();
        EXPECT_GE(p1.min_bits, kMinBits) << "rotate(x, " << a + b << "): " << p1.str();
        EXPECT_GE(precision(e.decrypt(two), e.decrypt(one)).min_bits, kMinBits) << a << " + " << b;
    }
}

// Hoisting is not bit-identical to single rotations: the fast base conversion of σ(c1)
// and σ applied to that of c1 differ by multiples of the digit modulus wherever σ negates a
// coefficient, which the key's gadget cancels except for their product with the key error,
// and ModDown rounds a different sum. So each adds its own key-switching error (the
// rounding of the division by P, times s, dominates at these parameters): the error a
// hoisted rotation adds to the decrypted input must be of the size a single rotation adds
// (at most twice its worst slot, i.e. one bit), and the result within 20 bits.
TEST_F(RotationTest, HoistedRotationsMatchSingleRotations) {
    auto& e = *engine;
    const auto v = random_values(e.ctx->slots(), 14);
    auto ct = e.encrypt(v);
    const auto before = e.decrypt(ct);  // the input's own (encryption) error is left out
    auto ct_ntt = ct;
    e.eval.to_ntt_inplace(ct_ntt);
    const std::vector<int> steps = {1, 2, 3, -4, 0, 9, 5, 12, 1};
    for (const auto* in : {&ct, &ct_ntt}) {
        const auto many = e.eval.rotate_many(*in, steps, *gk);
        ASSERT_EQ(many.size(), steps.size());
        for (std::size_t s = 0; s < steps.size(); ++s) {
            const auto got = e.decrypt(many[s]), single = e.decrypt(e.eval.rotate(*in, steps[s], *gk));
            const auto ph = precision(got, rotated(v, steps[s]));
            EXPECT_GE(ph.min_bits, kMinBits) << "hoisted step " << steps[s] << ": " << ph.str();
            if (steps[s] == 0) {
                EXPECT_EQ(got, before);
                continue;
            }
            const auto added_h = precision(got, rotated(before, steps[s])), added_s = precision(single, rotated(before, steps[s]));
            EXPECT_GE(added_h.min_bits, added_s.min_bits - 1)
                << "step " << steps[s] << ": hoisted adds " << added_h.str() << ", a single rotation " << added_s.str();
        }
        // Steps 1 and 1 again: the shared decomposition is not consumed by the first use.
        EXPECT_EQ(std::vector<std::uint64_t>(many[0].words().begin(), many[0].words().end()),
                  std::vector<std::uint64_t>(many[8].words().begin(), many[8].words().end()));
    }
}

TEST_F(RotationTest, MisuseIsReportedClearly) {
    auto& e = *engine;
    const auto v = random_values(e.ctx->slots(), 15);
    const auto ct = e.encrypt(v);
    EXPECT_THROW(e.eval.rotate(ct, 4, *gk), std::invalid_argument);  // no key for step 4
    const std::vector<int> steps = {1, 4};
    EXPECT_THROW(e.eval.rotate_many(ct, steps, *gk), std::invalid_argument);
    EXPECT_THROW(e.eval.rotate(e.eval.square(ct), 1, *gk), std::invalid_argument);  // size 3
    EXPECT_THROW(e.eval.apply_galois(ct, 2, *gk), std::invalid_argument);            // not odd
    Engine other(small_literal(11, 2), 2);
    const std::vector<int> one = {1};
    const auto gk_other = other.keygen.create_rotation_keys(one);
    EXPECT_THROW(e.eval.rotate(ct, 1, gk_other), std::invalid_argument);  // other parameters
    EXPECT_THROW(ckks::GaloisKeys(e.ctx, {5, 3}, {std::vector<math::Seed>(e.ctx->dnum()), std::vector<math::Seed>(e.ctx->dnum())}),
                 std::invalid_argument);  // not increasing
    try {
        (void)e.eval.rotate(ct, 4, *gk);
    } catch (const std::invalid_argument& err) {
        EXPECT_NE(std::string(err.what()).find("rotation by 4"), std::string::npos) << err.what();
    }
}
