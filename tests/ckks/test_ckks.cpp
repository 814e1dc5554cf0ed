// End-to-end engine properties, checked by the precision statistic against plaintext
// arithmetic in double precision. Thresholds: at scale 2^40 with inputs in [-1, 1], a
// fresh ciphertext keeps >= 24 bits (SEAL: 24.7-26.6), and every operation below keeps
// >= 20 bits; the mean is always several bits better than the minimum.
#include <cmath>

#include "ckks/ckks_fixture.h"

using namespace hecnn;
using namespace hecnn::test;

class CkksTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { engine = std::make_unique<Engine>(small_literal(12, 4)); }
    static void TearDownTestSuite() { engine.reset(); }
    static std::unique_ptr<Engine> engine;
};
std::unique_ptr<Engine> CkksTest::engine;

TEST_F(CkksTest, EncodeDecodeRoundTrip) {
    auto v = random_values(engine->ctx->slots(), 1);
    auto p = precision(engine->encoder.decode(engine->encoder.encode(v)), v);
    EXPECT_GE(p.min_bits, 30) << p.str();
}

TEST_F(CkksTest, DecryptEncryptPublicAndSecretKey) {
    auto v = random_values(engine->ctx->slots(), 2);
    for (bool secret : {false, true}) {
        auto ct = engine->encrypt(v, secret);
        EXPECT_EQ(ct.level(), engine->ctx->max_level());
        auto p = precision(engine->decrypt(ct), v);
        EXPECT_GE(p.min_bits, 24) << (secret ? "secret key: " : "public key: ") << p.str();
        EXPECT_GE(p.mean_bits, p.min_bits + 1) << p.str();
    }
}

TEST_F(CkksTest, WrongSecretKeyDoesNotDecrypt) {
    auto v = random_values(engine->ctx->slots(), 3);
    auto ct = engine->encrypt(v);
    auto other = ckks::KeyGenerator::insecure_test_only_from_seed(engine->ctx, math::Seed{99});
    ckks::Decryptor dec(engine->ctx, other.secret_key());
    auto p = precision(engine->encoder.decode(dec.decrypt(ct)), v);
    EXPECT_LT(p.min_bits, 0) << p.str();
}

TEST_F(CkksTest, AddSubNegateAndPlainOps) {
    auto& e = *engine;
    auto a = random_values(e.ctx->slots(), 4), b = random_values(e.ctx->slots(), 5);
    auto ca = e.encrypt(a), cb = e.encrypt(b);
    std::vector<double> sum(a.size()), diff(a.size()), neg(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) sum[i] = a[i] + b[i], diff[i] = a[i] - b[i], neg[i] = -a[i];
    EXPECT_GE(precision(e.decrypt(e.eval.add(ca, cb)), sum).min_bits, 23);
    EXPECT_GE(precision(e.decrypt(e.eval.sub(ca, cb)), diff).min_bits, 23);
    auto cn = ca;
    e.eval.negate_inplace(cn);
    EXPECT_GE(precision(e.decrypt(cn), neg).min_bits, 24);
    auto cp = ca;
    e.eval.add_plain_inplace(cp, e.encoder.encode(b));
    EXPECT_GE(precision(e.decrypt(cp), sum).min_bits, 23);
    cp = ca;
    e.eval.sub_plain_inplace(cp, e.encoder.encode(b));
    EXPECT_GE(precision(e.decrypt(cp), diff).min_bits, 23);
}

TEST_F(CkksTest, ScalarOps) {
    auto& e = *engine;
    auto a = random_values(e.ctx->slots(), 6);
    auto ca = e.encrypt(a);
    std::vector<double> want(a.size());
    auto c1 = ca;
    e.eval.add_scalar_inplace(c1, -0.375);
    for (std::size_t i = 0; i < a.size(); ++i) want[i] = a[i] - 0.375;
    EXPECT_GE(precision(e.decrypt(c1), want).min_bits, 24);

    auto c2 = ca;
    // A scalar scale equal to the prime rescaled by returns the ciphertext to its scale.
    const double q_top = static_cast<double>(e.ctx->data_moduli().back().value());
    e.eval.multiply_scalar_inplace(c2, 1.7, q_top);
    e.eval.rescale_inplace(c2);
    EXPECT_NEAR(c2.scale() / ca.scale(), 1.0, 1e-12);
    for (std::size_t i = 0; i < a.size(); ++i) want[i] = a[i] * 1.7;
    EXPECT_EQ(c2.level(), e.ctx->max_level() - 1);
    EXPECT_GE(precision(e.decrypt(c2), want).min_bits, 22);

    auto c3 = ca;
    e.eval.multiply_integer_inplace(c3, -3);
    for (std::size_t i = 0; i < a.size(); ++i) want[i] = -3 * a[i];
    EXPECT_GE(precision(e.decrypt(c3), want).min_bits, 22);
    EXPECT_DOUBLE_EQ(c3.scale(), ca.scale());
}

TEST_F(CkksTest, MultiplyRelinearizeRescale) {
    auto& e = *engine;
    auto a = random_values(e.ctx->slots(), 7), b = random_values(e.ctx->slots(), 8);
    auto ca = e.encrypt(a), cb = e.encrypt(b);
    std::vector<double> prod(a.size()), sq(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) prod[i] = a[i] * b[i], sq[i] = a[i] * a[i];

    auto c3 = e.eval.multiply(ca, cb);
    EXPECT_EQ(c3.size(), 3u);
    EXPECT_GE(precision(e.decrypt(c3), prod).min_bits, 22) << "size-3 decryption";
    e.eval.relinearize_inplace(c3, e.rk);
    EXPECT_EQ(c3.size(), 2u);
    EXPECT_GE(precision(e.decrypt(c3), prod).min_bits, 22) << "after relinearisation";
    const int level = c3.level();
    const double scale = c3.scale();
    e.eval.rescale_inplace(c3);
    EXPECT_EQ(c3.level(), level - 1) << "rescale drops exactly one level";
    EXPECT_DOUBLE_EQ(c3.scale(), scale / static_cast<double>(e.ctx->data_moduli()[level].value()));
    auto p = precision(e.decrypt(c3), prod);
    EXPECT_GE(p.min_bits, 22) << p.str();

    auto s = e.eval.square_relin_rescale(ca, e.rk);
    auto ps = precision(e.decrypt(s), sq);
    EXPECT_GE(ps.min_bits, 22) << ps.str();
}

TEST_F(CkksTest, DepthChainToLevelZero) {
    // x^(2^L) by repeated squaring down to level 0, values in [0.9, 1] so nothing vanishes.
    auto& e = *engine;
    auto a = random_values(e.ctx->slots(), 9);
    for (auto& x : a) x = 0.95 + 0.05 * x;
    auto ct = e.encrypt(a);
    std::vector<double> want = a;
    while (ct.level() > 0) {
        ct = e.eval.square_relin_rescale(ct, e.rk);
        for (auto& x : want) x = x * x;
    }
    auto p = precision(e.decrypt(ct), want);
    EXPECT_GE(p.min_bits, 18) << p.str();
    EXPECT_THROW(e.eval.rescale_inplace(ct), std::invalid_argument);
}

TEST_F(CkksTest, MultiplyPlainVector) {
    auto& e = *engine;
    auto a = random_values(e.ctx->slots(), 10), b = random_values(e.ctx->slots(), 11);
    auto ct = e.encrypt(a);
    e.eval.multiply_plain_inplace(ct, e.encoder.encode(b));
    e.eval.rescale_inplace(ct);
    std::vector<double> want(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) want[i] = a[i] * b[i];
    EXPECT_GE(precision(e.decrypt(ct), want).min_bits, 22);
}

TEST_F(CkksTest, MismatchesAreReportedClearly) {
    auto& e = *engine;
    auto a = random_values(e.ctx->slots(), 12);
    auto ca = e.encrypt(a), cb = e.encrypt(a);
    e.eval.drop_to_level_inplace(cb, cb.level() - 1);
    try {
        e.eval.add(ca, cb);
        FAIL() << "level mismatch accepted";
    } catch (const std::invalid_argument& ex) {
        EXPECT_NE(std::string(ex.what()).find("level mismatch"), std::string::npos) << ex.what();
    }
    auto cc = e.encrypt(a);
    e.eval.multiply_scalar_inplace(cc, 1.0, 2.0);
    try {
        e.eval.add(ca, cc);
        FAIL() << "scale mismatch accepted";
    } catch (const std::invalid_argument& ex) {
        EXPECT_NE(std::string(ex.what()).find("scale mismatch"), std::string::npos) << ex.what();
    }
    auto other = ckks::Context::create(small_literal(11, 2));
    ckks::Evaluator ev2(other);
    EXPECT_THROW(ev2.add(ca, ca), std::invalid_argument);
}

TEST_F(CkksTest, DropToLevelKeepsTheMessage) {
    auto& e = *engine;
    auto a = random_values(e.ctx->slots(), 13);
    auto ct = e.encrypt(a);
    e.eval.drop_to_level_inplace(ct, 1);
    EXPECT_EQ(ct.level(), 1);
    EXPECT_GE(precision(e.decrypt(ct), a).min_bits, 24);
}

namespace {
// Plaintext reference of a linear map over slot vectors.
std::vector<std::vector<double>> apply_map(const ckks::LinearMap& m, const std::vector<std::vector<double>>& in) {
    std::vector<std::vector<double>> out(m.outputs, std::vector<double>(in[0].size()));
    for (std::size_t o = 0; o < m.outputs; ++o)
        for (std::size_t s = 0; s < in[0].size(); ++s) {
            double acc = m.bias.empty() ? 0 : m.bias[o];
            for (std::size_t j = 0; j < m.inputs; ++j) acc += m.weights[o * m.inputs + j] * in[j][s];
            out[o][s] = acc;
        }
    return out;
}

ckks::LinearMap random_map(std::size_t outputs, std::size_t inputs, std::uint8_t seed) {
    ckks::LinearMap m;
    m.outputs = outputs;
    m.inputs = inputs;
    m.weights = random_values(outputs * inputs, seed);
    m.bias = random_values(outputs, seed + 1);
    return m;
}
}  // namespace

TEST_F(CkksTest, LinearMapMatchesPlaintextAndRescalesOnce) {
    auto& e = *engine;
    const std::size_t k = 27, o = 9;
    std::vector<std::vector<double>> x;
    std::vector<ckks::Ciphertext> cts;
    for (std::size_t j = 0; j < k; ++j) {
        x.push_back(random_values(e.ctx->slots(), static_cast<std::uint8_t>(30 + j)));
        cts.push_back(e.encrypt(x.back(), /*secret=*/j % 2 == 0));
    }
    auto map = random_map(o, k, 77);
    auto want = apply_map(map, x);
    auto out = e.eval.linear(cts, map);
    ASSERT_EQ(out.size(), o);
    for (std::size_t i = 0; i < o; ++i) {
        EXPECT_EQ(out[i].level(), cts[0].level() - 1);
        EXPECT_NEAR(out[i].scale() / cts[0].scale(), 1.0, 1e-12);
        auto p = precision(e.decrypt(out[i]), want[i]);
        // 27 inputs of ~2^-26 error each, weights up to 1: about 2^-23 in the worst slot.
        EXPECT_GE(p.min_bits, 21) << "output " << i << ": " << p.str();
    }
    // A target scale other than the inputs'.
    map.target_scale = std::ldexp(1.0, 35);
    auto out35 = e.eval.linear(cts, map);
    EXPECT_NEAR(out35[0].scale() / std::ldexp(1.0, 35), 1.0, 1e-12);
    EXPECT_GE(precision(e.decrypt(out35[0]), want[0]).min_bits, 19);
}

TEST_F(CkksTest, LinearMapWithoutRescaleAtAnIntegerWeightScale) {
    auto& e = *engine;
    std::vector<std::vector<double>> x = {random_values(e.ctx->slots(), 50), random_values(e.ctx->slots(), 51)};
    std::vector<ckks::Ciphertext> cts = {e.encrypt(x[0]), e.encrypt(x[1])};
    ckks::LinearMap map = random_map(3, 2, 52);
    map.rescale = false;
    map.weight_scale = std::ldexp(1.0, 20);  // weights as 20-bit integers, as a CNN layer would use
    auto out = e.eval.linear(cts, map);
    auto want = apply_map(map, x);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(out[i].level(), cts[0].level());
        EXPECT_DOUBLE_EQ(out[i].scale(), cts[0].scale() * std::ldexp(1.0, 20));
        // Weights quantised at 2^-20: error up to 2 · 2^-21 on top of the inputs'.
        EXPECT_GE(precision(e.decrypt(out[i]), want[i]).min_bits, 18);
    }
}

TEST_F(CkksTest, LazyRelinearisationThroughTheLinearMap) {
    // square (size 3, NTT form) → linear map → relinearise once per output.
    auto& e = *engine;
    std::vector<std::vector<double>> x, x2;
    std::vector<ckks::Ciphertext> sq;
    for (std::uint8_t j = 0; j < 6; ++j) {
        x.push_back(random_values(e.ctx->slots(), 60 + j));
        x2.push_back(x.back());
        for (auto& v : x2.back()) v *= v;
        sq.push_back(e.eval.square(e.encrypt(x.back())));
        ASSERT_EQ(sq.back().size(), 3u);
    }
    auto map = random_map(2, 6, 70);
    auto out = e.eval.linear(sq, map);
    auto want = apply_map(map, x2);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(out[i].size(), 3u);
        e.eval.relinearize_inplace(out[i], e.rk);
        e.eval.rescale_inplace(out[i]);
        EXPECT_EQ(out[i].level(), sq[0].level() - 2);
        EXPECT_GE(precision(e.decrypt(out[i]), want[i]).min_bits, 20) << i;
    }
}

TEST_F(CkksTest, LinearMapRejectsInconsistentInputs) {
    auto& e = *engine;
    auto v = random_values(e.ctx->slots(), 80);
    std::vector<ckks::Ciphertext> cts = {e.encrypt(v), e.encrypt(v)};
    auto map = random_map(2, 2, 81);
    cts[1] = e.eval.square(cts[1]);  // size 3, NTT form, next to a size-2 input
    EXPECT_THROW(e.eval.linear(cts, map), std::invalid_argument);
    cts[1] = e.encrypt(v);
    e.eval.drop_to_level_inplace(cts[1], 1);
    EXPECT_THROW(e.eval.linear(cts, map), std::invalid_argument);
    cts.pop_back();
    EXPECT_THROW(e.eval.linear(cts, map), std::invalid_argument);  // 1 input for a 2-input map
    map.inputs = 1;
    map.weights = {1e30, 1e30};
    map.outputs = 2;
    EXPECT_THROW(e.eval.linear(cts, map), std::invalid_argument);  // weights beyond 62 bits at this scale
}

TEST_F(CkksTest, LinearMapTakesInputsAtDifferentScales) {
    // a·x² + b·x as one map over x² (after rescale, scale Δ²/q) and x (scale Δ), both at
    // one level: the form an activation takes when completing the square is ill-conditioned.
    auto& e = *engine;
    auto x = random_values(e.ctx->slots(), 90);
    auto cx = e.encrypt(x);
    auto cx2 = e.eval.square_relin_rescale(cx, e.rk);
    e.eval.drop_to_level_inplace(cx, cx2.level());
    ASSERT_NE(cx.scale(), cx2.scale());
    ckks::LinearMap map;
    map.inputs = 2;
    map.outputs = 1;
    map.weights = {0.7, -0.3};
    map.bias = {0.05};
    std::vector<const ckks::Ciphertext*> in = {&cx2, &cx};
    auto out = e.eval.linear(in, map);
    std::vector<double> want(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = 0.7 * x[i] * x[i] - 0.3 * x[i] + 0.05;
    EXPECT_NEAR(out[0].scale() / cx2.scale(), 1.0, 1e-12) << "the target defaults to input 0's scale";
    auto p = precision(e.decrypt(out[0]), want);
    EXPECT_GE(p.min_bits, 21) << p.str();
}
