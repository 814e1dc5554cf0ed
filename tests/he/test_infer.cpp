// The encrypted-inference pipeline (he::run_pipeline: client keygen + seeded encryption,
// serialised upload, server run with the relinearisation key only, client decryption)
// against the plaintext reference runner, at small insecure parameters (N = 2^11, test
// only). Stated bound: max |logit error| ≤ 2^-20 · max(1, max |logit|) at Δ = 2^40
// (measured ~1e-8); classes agree on every image.
#include <type_traits>

#include "he/he_engine.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/pipeline.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

he::PipelineOptions small_options(double scale_bits = 40) {
    he::PipelineOptions o;
    o.params = insecure_small(11);
    o.params.scale_bits = scale_bits;
    o.insecure_test_only_key_seed = math::Seed{3};
    o.keep_logits = true;
    o.exec.threads = 2;
    return o;
}

// Labels = the reference's own classes (so both accuracies must be 100 %).
std::vector<int> reference_labels(const nn::Model& m, std::span<const double> x, std::size_t samples) {
    nn::ReferenceRunner ref(m);
    return ref.classify(x, samples);
}

}  // namespace

// The server API cannot receive a secret key: a compile-time property.
static_assert(std::is_constructible_v<he::Runtime, const he::Plan&, ckks::ContextPtr, const ckks::RelinKey&>);
static_assert(!std::is_constructible_v<he::Runtime, const he::Plan&, ckks::ContextPtr, const ckks::SecretKey&>);

TEST(Pipeline, CryptoNetsShapeAgreesWithReference) {
    const auto m = cryptonets(16, 9);
    const std::size_t samples = 200, F = 256;
    const auto x = random_inputs(samples * F, 21);
    const auto labels = reference_labels(m, x, samples);
    const auto opt = small_options();
    const auto compiled = he::compile_for_batch(m, x, samples, opt);
    std::vector<std::string> stages;
    std::size_t steps_seen = 0;
    he::PipelineHooks hooks;
    hooks.stage = [&](const std::string& s) { stages.push_back(s); };
    hooks.step = [&](const he::StepReport&, std::size_t i, std::size_t n, double elapsed, double remaining) {
        EXPECT_EQ(i, steps_seen++);
        EXPECT_EQ(n, compiled.plan.steps.size());
        EXPECT_GE(elapsed, 0);
        EXPECT_GE(remaining, 0);
    };
    const auto r = he::run_pipeline(m, compiled, x, samples, labels, opt, hooks);

    EXPECT_EQ(r.samples, samples);
    EXPECT_EQ(r.check.agreement, 1.0);
    EXPECT_EQ(r.check.disagreements, 0u);
    EXPECT_LE(r.check.max_abs_error, std::max(1.0, r.check.max_abs_logit) / (1 << 20)) << "max |logit| " << r.check.max_abs_logit;
    EXPECT_GT(r.check.max_abs_logit, 1e-2);
    EXPECT_EQ(r.check.accuracy_ref, 1.0);
    EXPECT_EQ(r.check.accuracy_he, 1.0);
    std::printf("    %zu samples, N=2^%d: max |error| %.3g (max |logit| %.3g)\n", samples, r.log_n, r.check.max_abs_error, r.check.max_abs_logit);

    // The logits kept in the report are the ones compared.
    ASSERT_EQ(r.logits_he.size(), samples * 10);
    ASSERT_EQ(r.logits_ref.size(), samples * 10);
    double worst = 0;
    for (std::size_t i = 0; i < r.logits_he.size(); ++i) worst = std::max(worst, std::fabs(r.logits_he[i] - r.logits_ref[i]));
    EXPECT_EQ(worst, r.check.max_abs_error);

    // Report fields: stages in order, one step report per plan step, no secret key on the
    // server, sizes as the serialisation format says.
    EXPECT_EQ(stages, (std::vector<std::string>{"keygen", "encrypt", "server", "decrypt", "reference"}));
    EXPECT_EQ(steps_seen, compiled.plan.steps.size());
    EXPECT_EQ(r.steps.size(), compiled.plan.steps.size());
    EXPECT_FALSE(r.server_had_secret_key);
    EXPECT_FALSE(r.secure_128);
    EXPECT_EQ(r.log_n, 11);
    EXPECT_EQ(r.features, F);
    EXPECT_EQ(r.outputs, 10u);
    const auto ctx = ckks::Context::create(compiled.choice.literal);
    std::size_t seeded = ckks::kHeaderSize + 44;  // header + meta with the seed
    for (int i = 0; i <= ctx->max_level(); ++i) seeded += (ctx->n() * static_cast<std::size_t>(ctx->data_moduli()[i].bits()) + 7) / 8;
    EXPECT_EQ(r.upload_bytes, F * seeded);
    EXPECT_LT(r.relin_key_bytes_seeded, r.relin_key_bytes_full);
    EXPECT_GT(r.relin_key_bytes_seeded, r.relin_key_bytes_full / 2 - 1024);
    EXPECT_GT(r.result_bytes, 0u);
    EXPECT_GT(r.server_seconds, 0);
    EXPECT_GT(r.encrypt_seconds, 0);
    EXPECT_GT(r.predicted_server_seconds, 0);
    double sum = 0;
    for (const auto& s : r.steps) sum += s.predicted.seconds;
    EXPECT_NEAR(sum, r.predicted_server_seconds, 1e-9 * sum);
    EXPECT_GT(r.peak_rss_bytes, 0u);
}

TEST(Pipeline, MixedLevelLinearGroupsNeedNoCopies) {
    // a·x² + b·x activations: the next layer reads squares (size 3, one level down) and x
    // (size 2); the runtime evaluates each class at its own level. Eager and lazy agree.
    for (bool lazy : {false, true}) {
        Builder b({3, 6, 6}, 31);
        b.conv(4, 3, 1, 1);
        b.act("element");
        b.avgpool(2, 2);
        b.dense(5);
        const auto m = b.finish();
        const std::size_t samples = 64, F = 108;
        const auto x = random_inputs(samples * F, 22);
        auto opt = small_options();
        opt.compile.lazy_relin = lazy;
        const auto compiled = he::compile_for_batch(m, x, samples, opt);
        EXPECT_EQ(compiled.plan.steps[1].lazy_relin, lazy);
        const auto r = he::run_pipeline(m, compiled, x, samples, {}, opt);
        EXPECT_EQ(r.check.agreement, 1.0);
        EXPECT_LE(r.check.max_abs_error, std::max(1.0, r.check.max_abs_logit) / (1 << 20));
        EXPECT_EQ(r.check.accuracy_he, -1.0);  // no labels
    }
}

TEST(Pipeline, PoolsOnTheirOwnStepRunEncrypted) {
    // A pool before a conv, on its own step (a level more, fewer MACs) or as the simulator
    // chooses: encrypted results agree with the reference, and the server, compiling the
    // model with the parameters' levels as budget, makes the very plan that was chosen.
    Builder b({1, 10, 10}, 31);
    b.conv(3, 3, 1, 1);
    b.act("element");
    b.avgpool(3, 2, 1, true);
    b.conv(4, 3, 1, 1);
    b.act("channel");
    b.gap();
    b.flatten();
    b.dense(3);
    const auto m = b.finish();
    const std::size_t samples = 32, F = 100;
    const auto x = random_inputs(samples * F, 41);
    for (const auto pools : {he::PoolSteps::Separate, he::PoolSteps::Auto, he::PoolSteps::Fold}) {
        auto opt = small_options();
        opt.pools = pools;
        const auto compiled = he::compile_for_batch(m, x, samples, opt);
        const int folded = he::compile(m).depth;
        if (pools == he::PoolSteps::Separate) EXPECT_EQ(compiled.plan.depth, folded + 1);
        if (pools == he::PoolSteps::Fold) EXPECT_EQ(compiled.plan.depth, folded);
        EXPECT_FALSE(compiled.pools.empty());
        const int levels = static_cast<int>(compiled.choice.literal.data_prime_bits.size()) - 1;
        EXPECT_EQ(levels, compiled.plan.depth);
        const auto server = he::compile(m, {.level_budget = levels});
        ASSERT_EQ(server.steps.size(), compiled.plan.steps.size());
        for (std::size_t i = 0; i < server.steps.size(); ++i) EXPECT_EQ(server.steps[i].macs(), compiled.plan.steps[i].macs()) << i;
        const auto r = he::run_pipeline(m, compiled, x, samples, {}, opt);
        EXPECT_EQ(r.check.agreement, 1.0);
        EXPECT_LE(r.check.max_abs_error, std::max(1.0, r.check.max_abs_logit) / (1 << 20));
    }
}

TEST(Pipeline, InputsOnDemandUnderABudget) {
    // The server deserialises each uploaded ciphertext when first needed and keeps to a
    // budget of half the unbudgeted peak: same classes, the peak and the spill traffic
    // as predicted.
    const auto m = cryptonets(16, 9);
    const std::size_t samples = 64, F = 256;
    const auto x = random_inputs(samples * F, 26);
    auto opt = small_options();
    // The dense layer reads all squares and x (pool folded, squares not completed): under
    // half the peak, some of them spill.
    opt.compile.complete_squares = false;
    opt.pools = he::PoolSteps::Fold;
    const auto compiled = he::compile_for_batch(m, x, samples, opt);
    const auto free_run = he::run_pipeline(m, compiled, x, samples, {}, opt);
    opt.exec.lazy_inputs = true;
    opt.exec.memory = he::MemoryBudget::of(free_run.peak_ciphertext_bytes / 2);
    const auto r = he::run_pipeline(m, compiled, x, samples, {}, opt);
    EXPECT_EQ(r.check.agreement, 1.0);
    EXPECT_LE(r.check.max_abs_error, std::max(1.0, r.check.max_abs_logit) / (1 << 20));
    EXPECT_EQ(r.memory_budget, opt.exec.memory);
    EXPECT_LE(r.peak_ciphertext_bytes, r.memory_budget.bytes());
    EXPECT_EQ(r.peak_ciphertext_bytes, r.predicted_peak_bytes);
    EXPECT_GT(r.spill_bytes, 0u);
    EXPECT_EQ(r.spill_bytes, r.predicted_spill_bytes);
}

TEST(Pipeline, TheComparisonDetectsImprecision) {
    // At Δ = 2^22 the same pipeline must miss the 2^-20 bound: the error figure is real.
    const auto m = cryptonets(16, 9);
    const std::size_t samples = 64, F = 256;
    const auto x = random_inputs(samples * F, 23);
    auto opt = small_options(22);
    opt.params.precision_bits = 10;
    const auto compiled = he::compile_for_batch(m, x, samples, opt);
    const auto r = he::run_pipeline(m, compiled, x, samples, {}, opt);
    EXPECT_GT(r.check.max_abs_error, std::max(1.0, r.check.max_abs_logit) / (1 << 20));
}

TEST(Pipeline, RefusesBadBatches) {
    const auto m = cryptonets(16, 9);
    const auto x = random_inputs(4 * 256, 24);
    const auto opt = small_options();
    const auto compiled = he::compile_for_batch(m, x, 4, opt);
    EXPECT_THROW(he::run_pipeline(m, compiled, std::span<const double>(x).first(3 * 256 + 1), 3, {}, opt), std::invalid_argument);
    const std::vector<int> labels(3, 0);
    EXPECT_THROW(he::run_pipeline(m, compiled, x, 4, labels, opt), std::invalid_argument);
    const auto big = random_inputs(1025 * 256, 25);  // N = 2^11: 1024 slots
    EXPECT_THROW(he::run_pipeline(m, compiled, big, 1025, {}, opt), std::invalid_argument);
}
