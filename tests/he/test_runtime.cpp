// Encrypted inference vs the reference runner on the unfolded model, one layer type at a
// time and end to end, at small insecure parameters (N = 2^11, Δ = 2^40, test-only).
//
// Error bound (stated): every slot of every output within 2^-22 · max(1, max |reference|)
// (2.4e-7) for a single layer and 2^-20 (9.5e-7) end to end. Measured: 1e-9…2e-9 per
// layer and 2e-9 for the CryptoNets shape on 1024 images (secret-key encryption at
// Δ = 2^40; 3e-8 when lazy squares were still rescaled at size 3): the bounds leave ≥ 5
// bits of headroom and fail at once on any folding, level, scale or key-switching-noise
// mistake (deferring relinearisation past the rescale gave 0.3–0.6).
#include "he/he_engine.h"
#include "hecnn/he/simulator.h"

#include <cstdio>

using namespace hecnn;
using namespace hecnn::test;

namespace {

// Run a model encrypted on `samples` random samples; check against the reference.
void check_model(const nn::Model& m, std::size_t samples, double rel_bound, unsigned seed = 5, he::CompileOptions copt = {}) {
    const auto plan = he::compile(m, copt);
    const std::size_t F = static_cast<std::size_t>(plan.input_count);
    const auto x = random_inputs(samples * F, seed);
    HeSetup he(plan, x, samples, insecure_small());
    std::vector<he::StepRecord> trace;
    const auto got = he.infer(plan, x, samples, &trace);
    const auto e = compare(m, x, samples, got);
    EXPECT_LE(e.max_abs, rel_bound * std::max(1.0, e.max_ref)) << "max |ref| " << e.max_ref << "\n" << plan.summary();
    EXPECT_GT(e.max_ref, 1e-3);  // the model computes something non-trivial
    std::printf("    %zu samples, depth %d, N=2^%d: max |error| %.3g (max |ref| %.3g)\n", samples, plan.depth, he.ctx->log_n(), e.max_abs, e.max_ref);
    // The simulator predicts what the runtime did.
    const auto pred = he::simulate(plan, *he.ctx, he::Rates::defaults());
    ASSERT_EQ(pred.steps.size(), trace.size());
    for (std::size_t i = 0; i < trace.size(); ++i)
        for (const auto& d : he::differences(pred.steps[i], trace[i])) ADD_FAILURE() << "step " << i << " " << d.describe();
    EXPECT_EQ(trace.back().level, he.ctx->max_level() - plan.depth);
}

constexpr double kLayer = 1.0 / (1 << 22), kEndToEnd = 1.0 / (1 << 20);

}  // namespace

TEST(Runtime, ConvStridePaddingGroups) {
    Builder b({4, 7, 7}, 101);
    b.conv(4, 3, 2, 1, 2);
    check_model(b.finish(), 64, kLayer);
    Builder b2({2, 6, 6}, 102);
    b2.conv(3, 2, 1, 0);
    check_model(b2.finish(), 64, kLayer);
}

TEST(Runtime, Dense) {
    Builder b({20}, 103);
    b.dense(7);
    check_model(b.finish(), 64, kLayer);
}

TEST(Runtime, AveragePoolAndGlobalAveragePool) {
    Builder b({3, 6, 6}, 104);
    b.avgpool(3, 2, 1, false);
    check_model(b.finish(), 64, kLayer);
    Builder b2({3, 4, 4}, 105);
    b2.gap();
    check_model(b2.finish(), 64, kLayer);
}

TEST(Runtime, ActivationEagerAndLazy) {
    for (bool lazy : {false, true}) {
        Builder b({2, 4, 4}, 106);
        b.act("element");
        b.dense(3);  // 32 squares → 3 outputs: lazy relinearisation pays off
        const auto m = b.finish();
        EXPECT_EQ(he::compile(m, {.lazy_relin = lazy}).steps[0].lazy_relin, lazy);
        check_model(m, 64, kLayer, 6, {.lazy_relin = lazy});
    }
    Builder b({2, 4, 4}, 107);
    b.act("channel");  // ends on an activation: a final linear step applies a, b, c
    check_model(b.finish(), 64, kLayer);
}

TEST(Runtime, ProductsEagerAndLazy) {
    // One step of squares and ciphertext × ciphertext products whose operands sit at two
    // depths (the higher one is read at the lower one's level), then x·x·x = (x·x)·x.
    for (bool lazy : {false, true}) {
        const auto m = square_and_product();
        EXPECT_EQ(he::compile(m, {.lazy_relin = lazy}).steps[1].lazy_relin, lazy);
        check_model(m, 64, kLayer, 6, {.lazy_relin = lazy});
        Builder b({2, 3, 3}, 109);
        const int x = b.conv(2, 1);
        const int sq = b.node(b.make(nn::Op::Mul, {x, x}));
        b.set_cur(b.node(b.make(nn::Op::Mul, {sq, x})));
        b.dense(3);
        check_model(b.finish(), 64, kLayer, 7, {.lazy_relin = lazy});
    }
}

TEST(Runtime, RefusesAStepOfBadArity) {
    const auto m = square_and_product();
    auto plan = he::compile(m);
    const auto x = random_inputs(4 * static_cast<std::size_t>(plan.input_count), 3);
    HeSetup he(plan, x, 4, insecure_small());
    for (int bad : {0, 3}) {
        auto p = plan;
        p.steps[1].arity = bad;
        try {
            he::Runtime rt(p, he.ctx, he.rk);
            ADD_FAILURE() << "arity " << bad << " accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("arity " + std::to_string(bad)), std::string::npos) << e.what();
        }
        EXPECT_THROW(he::simulate(p, *he.ctx, he::Rates::defaults()), std::invalid_argument);
    }
    auto p = plan;
    p.steps[1].inputs.pop_back();  // an odd number of operands for arity 2
    EXPECT_THROW(he::Runtime(p, he.ctx, he.rk), std::invalid_argument);
}

TEST(Runtime, BatchNormAndFireConcat) {
    Builder b({3, 5, 5}, 108);
    b.batchnorm();
    b.conv(4, 3, 1, 1);
    b.batchnorm();
    b.act("channel");
    b.fire(2, 2, 3);
    b.gap();
    b.dense(3);
    check_model(b.finish(), 32, kEndToEnd);
}

TEST(Runtime, CryptoNetsEndToEnd) {
    // The SEAL baseline's architecture (docs/BASELINES.md) on a 16×16 input (conv 5×5/2 → 6×6×6, act, pool → 6×3×3,
    // dense 54 → 48, act, dense → 10) with a full batch of 2^10 slots.
    const auto m = cryptonets(16, 9);
    check_model(m, 1024, kEndToEnd);
}

TEST(Runtime, RefusesMismatchedInputs) {
    Builder b({4}, 109);
    b.dense(2);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    const auto x = random_inputs(8 * 4, 1);
    HeSetup he(plan, x, 8, insecure_small());
    he::Runtime rt(plan, he.ctx, he.rk);
    auto in = he::encrypt_batch(he.encoder, he.enc, x, 8, 4);
    in.pop_back();
    EXPECT_THROW(rt.run(in), std::invalid_argument);
}
