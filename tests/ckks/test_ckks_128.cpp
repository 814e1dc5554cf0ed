// The engine at real parameters: N = 32768, 128-bit security (no test-only option).
#include <cmath>

#include "ckks/ckks_fixture.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {
// N = 32768, data primes 60 + 3×40, two 60-bit special primes: 128-bit secure.
ckks::ParametersLiteral literal_n32768(int dnum = 0) {
    ckks::ParametersLiteral lit;
    lit.log_n = 15;
    lit.data_prime_bits = {60, 40, 40, 40};
    lit.special_prime_bits = {60, 60};
    lit.dnum = dnum;
    lit.log_scale = 40;
    return lit;
}
}  // namespace

TEST(Ckks128, RoundTripActivationAndLinearAtN32768) {
    Engine e(literal_n32768(), 3);
    ASSERT_TRUE(e.ctx->secure_128());
    const std::size_t slots = e.ctx->slots();
    ASSERT_EQ(slots, 16384u);

    auto a = random_values(slots, 21), b = random_values(slots, 22);
    auto ca = e.encrypt(a, /*secret=*/true), cb = e.encrypt(b);
    auto pf = precision(e.decrypt(ca), a);
    EXPECT_GE(pf.min_bits, 24) << "fresh: " << pf.str();

    // SEAL at N=32768 keeps 24 bits after square+relinearise+rescale; so must we.
    auto sq = e.eval.square_relin_rescale(ca, e.rk);
    std::vector<double> want(slots);
    for (std::size_t i = 0; i < slots; ++i) want[i] = a[i] * a[i];
    auto ps = precision(e.decrypt(sq), want);
    EXPECT_GE(ps.min_bits, 24) << "square+relin+rescale: " << ps.str();

    ckks::LinearMap map;
    map.inputs = 2;
    map.outputs = 3;
    map.weights = {0.5, -1.25, 2.0, 0.75, -0.1, 0.3};
    map.bias = {0.25, 0, -1};
    std::vector<ckks::Ciphertext> in = {ca, cb};
    auto out = e.eval.linear(in, map);
    ASSERT_EQ(out.size(), 3u);
    for (std::size_t o = 0; o < 3; ++o) {
        EXPECT_EQ(out[o].level(), ca.level() - 1);
        EXPECT_NEAR(out[o].scale() / ca.scale(), 1.0, 1e-12);
        for (std::size_t i = 0; i < slots; ++i) want[i] = map.weights[o * 2] * a[i] + map.weights[o * 2 + 1] * b[i] + map.bias[o];
        auto p = precision(e.decrypt(out[o]), want);
        EXPECT_GE(p.min_bits, 22) << "linear output " << o << ": " << p.str();
    }
}

// Rotations at N = 32768 with digits of two primes (100 bits) under the 120-bit P, so that
// a key switch at scale 2^40 adds little more than its rounding: decrypted rotations (single
// and hoisted) against the plaintext slot rotation, every slot within 20 bits.
TEST(Ckks128, RotationsAtN32768) {
    Engine e(literal_n32768(/*dnum=*/2), 4);
    ASSERT_TRUE(e.ctx->secure_128());
    const std::size_t slots = e.ctx->slots();
    const std::vector<int> steps = {1, -3, 1000, static_cast<int>(slots) - 2};
    const auto gk = e.keygen.create_rotation_keys(steps);
    ASSERT_EQ(gk.size(), steps.size());
    const auto v = random_values(slots, 23);
    const auto ct = e.encrypt(v);
    const auto many = e.eval.rotate_many(ct, steps, gk);
    for (std::size_t s = 0; s < steps.size(); ++s) {
        std::vector<double> want(slots);
        for (std::size_t i = 0; i < slots; ++i)
            want[i] = v[static_cast<std::size_t>(((static_cast<long>(i) + steps[s]) % static_cast<long>(slots) + static_cast<long>(slots)) %
                                                 static_cast<long>(slots))];
        const auto p1 = precision(e.decrypt(e.eval.rotate(ct, steps[s], gk)), want), ph = precision(e.decrypt(many[s]), want);
        EXPECT_GE(p1.min_bits, 20) << "rotate by " << steps[s] << ": " << p1.str();
        EXPECT_GE(ph.min_bits, 20) << "hoisted rotate by " << steps[s] << ": " << ph.str();
    }
}
