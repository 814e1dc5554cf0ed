// The latency mode's end-to-end run (he::run_latency) at small test parameters: the
// decrypted logits against the reference runner, and the report's counts against what
// the channel plan and the key set say independently.
#include <gtest/gtest.h>


#include "he/he_models.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/channel_packing.h"
#include "hecnn/he/channel_plan.h"
#include "hecnn/he/latency.h"

using namespace hecnn;
using namespace hecnn::test;

TEST(Latency, SmallCryptoNetsEndToEnd) {
    const nn::Model m = cryptonets(12);
    const std::size_t F = 144, images = 2, calib = 16;
    const auto x = random_inputs(images * F, 1), c = random_inputs(calib * F, 2);
    he::LatencyOptions o;
    o.params.log_n = 13;
    o.params.insecure_test_only_allow_below_128_bits = true;
    o.insecure_test_only_key_seed = math::Seed{5};
    const auto r = he::run_latency(m, c, calib, x, images, {}, o);
    EXPECT_EQ(r.images, images);
    EXPECT_EQ(r.server_seconds.size(), images);
    ASSERT_EQ(r.server_cpu_seconds.size(), images);
    for (double c : r.server_cpu_seconds) EXPECT_GT(c, 0);
    EXPECT_EQ(r.check.agreements, images);
    // Half of Δ's 40 bits, relative to the logits (test_channel.cpp's tolerance).
    EXPECT_LT(r.check.max_abs_error, std::ldexp(1.0, -20) * (1 + r.check.max_abs_logit));
    EXPECT_EQ(r.log_n, 13);
    EXPECT_EQ(r.digit_size, 2);  // 60+40 and 40+40 bits under a 120-bit P

    // The counts, from the plan and a key set made here.
    he::CompileOptions co;
    co.lazy_relin = false;
    const auto cp = he::make_channel_plan(he::compile(m, co), std::size_t{1} << 12);
    EXPECT_EQ(r.rotation_steps, cp.rotation_steps().size());
    EXPECT_EQ(r.masks, cp.masks());
    EXPECT_EQ(r.input_cts, 1u);
    EXPECT_EQ(std::make_pair(r.hoisted_rotations, r.single_rotations), cp.rotation_counts());
    const auto ctx = ckks::Context::create(r.literal);
    EXPECT_EQ(ctx->digit_size(), 2);
    auto keygen = ckks::KeyGenerator::insecure_test_only_from_seed(ctx, math::Seed{9});
    const auto gk = keygen.create_rotation_keys(cp.rotation_steps());
    EXPECT_EQ(r.galois_key_bytes_seeded, ckks::serialize(gk, {.seeded = true}).size());
    EXPECT_EQ(r.galois_key_bytes_full, ckks::serialize(gk).size());
    EXPECT_GT(r.upload_bytes_per_image, 0u);
}

TEST(Latency, RefusesMismatchedInputs) {
    const nn::Model m = cryptonets(12);
    he::LatencyOptions o;
    o.params.log_n = 13;
    o.params.insecure_test_only_allow_below_128_bits = true;
    EXPECT_THROW(he::run_latency(m, {}, 0, std::vector<double>(10, 0.0), 1, {}, o), std::invalid_argument);
}
