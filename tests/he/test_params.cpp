// Automatic parameter selection (N from the batch and depth, q_0 from the calibrated
// value range, the 128-bit check) and one encrypted run at 128-bit parameters.
#include "he/he_engine.h"
#include "hecnn/he/simulator.h"

using namespace hecnn;
using namespace hecnn::test;

TEST(Params, NFromBatchAndDepthUnder128Bits) {
    const auto plan = he::compile(cryptonets(28));
    ASSERT_EQ(plan.depth, 5);
    he::ParamOptions o;
    o.batch = 8192;
    auto ch = he::choose_parameters(plan, {}, o);
    EXPECT_EQ(ch.literal.log_n, 14);  // 8192 slots; 60 + 5·40 + 120 = 380 ≤ 438
    EXPECT_EQ(ch.literal.data_prime_bits.size(), 6u);
    EXPECT_LE(ch.log_qp, ch.max_log_qp);
    auto ctx = ckks::Context::create(ch.literal);
    EXPECT_TRUE(ctx->secure_128());
    EXPECT_EQ(ctx->max_level(), plan.depth);

    o.batch = 8193;  // one more image: twice the ring
    EXPECT_EQ(he::choose_parameters(plan, {}, o).literal.log_n, 15);
    o.batch = 100;  // few images: the depth decides (2^13 holds 218 bits: too few)
    EXPECT_EQ(he::choose_parameters(plan, {}, o).literal.log_n, 14);
}

TEST(Params, FirstPrimeFollowsTheValueRange) {
    const auto plan = he::compile(cryptonets(16));
    std::vector<double> small(plan.wire_count(), 1.0), big(plan.wire_count(), 1.0);
    big[plan.outputs[0]] = 1 << 16;
    he::ParamOptions o;
    o.batch = 16;
    const auto a = he::choose_parameters(plan, small, o), b = he::choose_parameters(plan, big, o);
    EXPECT_EQ(a.q0_bits, 60);  // Δ + 20 bits of precision
    EXPECT_EQ(b.q0_bits, 40 + 16 + 4 + 1);  // Δ + range + margin + sign
    EXPECT_THROW(he::choose_parameters(plan, std::vector<double>(plan.wire_count(), 1e9), o), std::runtime_error);
}

TEST(Params, InsecureOnlyWhenAskedFor) {
    const auto plan = he::compile(cryptonets(16));
    he::ParamOptions o;
    o.log_n = 11;
    EXPECT_THROW(he::choose_parameters(plan, {}, o), std::runtime_error);
    o.insecure_test_only_allow_below_128_bits = true;
    const auto ch = he::choose_parameters(plan, {}, o);
    EXPECT_FALSE(ckks::Context::create(ch.literal)->secure_128());
}

TEST(Params, TinyModelAt128BitSecurity) {
    Builder b({2, 3, 3}, 201);
    b.conv(2, 2);
    b.act("element");
    b.dense(3);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    const std::size_t samples = 64;
    const auto x = random_inputs(samples * plan.input_count, 202);
    he::ParamOptions o;
    o.batch = samples;
    HeSetup he(plan, x, samples, o);
    ASSERT_TRUE(he.ctx->secure_128()) << he.choice.explain;
    EXPECT_EQ(he.ctx->log_n(), 14) << he.choice.explain;
    const auto got = he.infer(plan, x, samples);
    const auto e = compare(m, x, samples, got);
    EXPECT_LE(e.max_abs, std::ldexp(1.0, -16) * std::max(1.0, e.max_ref)) << e.max_abs;
    EXPECT_GT(e.max_ref, 1e-2);
}
