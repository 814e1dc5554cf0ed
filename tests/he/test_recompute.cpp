// Recomputing the first layer (hecnn/he/recompute.h): every extra reader of a first-layer
// square gets its own copy, counted here from the plan's readers; the copied plan computes
// the same values in plaintext and the same ciphertexts encrypted, bit for bit; and under
// a budget, the runtime holds what the simulator predicts for it.
#include <gtest/gtest.h>

#include "he/he_engine.h"
#include "hecnn/he/recompute.h"
#include "hecnn/he/schedule.h"
#include "hecnn/he/simulator.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

// conv 3×3 → element-wise act → 3×3/2 pool on its own step (each square read by up to 4
// windows) → conv 1×1 → act → global pool → dense.
nn::Model pooled_cnn() {
    Builder b({1, 12, 12}, 51);
    b.conv(4, 3, 1, 1);
    b.act("element");
    b.avgpool(3, 2, 1, true);
    b.conv(4, 1);
    b.act("channel");
    b.gap();
    b.dense(3);
    return b.finish();
}

}  // namespace

TEST(Recompute, CopiesTheFirstLayerPerConsumerAndComputesTheSame) {
    const auto m = pooled_cnn();
    const auto plan = he::compile(m, {.level_budget = 100});
    ASSERT_EQ(plan.steps[1].kind, he::Step::Kind::Square);
    ASSERT_EQ(plan.steps[2].name, m.nodes[6].name);  // the pool, on its own step
    // Readers of each first-layer square, from the plan.
    std::vector<std::size_t> readers(static_cast<std::size_t>(plan.wire_count()), 0);
    for (const auto& g : plan.steps[2].groups)
        for (int w : g.inputs) ++readers[static_cast<std::size_t>(w)];
    std::size_t read = 0, reads = 0, shared = 0;
    for (int q : plan.steps[1].outputs) {
        read += readers[static_cast<std::size_t>(q)] > 0;
        shared += readers[static_cast<std::size_t>(q)] > 1;
        reads += readers[static_cast<std::size_t>(q)];
    }
    ASSERT_GT(shared, 0u);
    const auto r = he::recompute_first_layer(plan);
    // Every read square is replaced by one private copy per reader, each its own group.
    EXPECT_EQ(r.copies, read);
    EXPECT_EQ(r.plan.steps[0].output_count(), plan.steps[0].output_count() - read + reads);
    EXPECT_EQ(r.plan.steps[1].outputs.size(), plan.steps[1].outputs.size() - read + reads);
    EXPECT_EQ(r.plan.steps[0].groups.size(), reads);
    for (std::size_t s = 2; s < plan.steps.size(); ++s) {
        EXPECT_EQ(r.plan.steps[s].macs(), plan.steps[s].macs()) << s;
        EXPECT_EQ(r.plan.steps[s].output_count(), plan.steps[s].output_count()) << s;
    }
    // After the copies no first-layer square has two readers.
    std::vector<std::size_t> after(static_cast<std::size_t>(r.plan.wire_count()), 0);
    for (const auto& g : r.plan.steps[2].groups)
        for (int w : g.inputs) ++after[static_cast<std::size_t>(w)];
    for (int q : r.plan.steps[1].outputs) EXPECT_EQ(after[static_cast<std::size_t>(q)], 1u);
    EXPECT_EQ(he::recompute_first_layer(r.plan).copies, 0u);

    const std::size_t S = 16, F = static_cast<std::size_t>(plan.input_count);
    const auto x = random_inputs(S * F, 52);
    EXPECT_EQ(he::run_plaintext(plan, x, S), he::run_plaintext(r.plan, x, S));  // the same operations: the same doubles

    const HeSetup he(plan, x, S, insecure_small());
    auto in = he::encrypt_batch(he.encoder, he.enc, x, S, F);
    auto in_copy = in;
    const auto want = he::Runtime(plan, he.ctx, he.rk).run(std::move(in));
    const auto got = he::Runtime(r.plan, he.ctx, he.rk).run(std::move(in_copy));
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t o = 0; o < got.size(); ++o) EXPECT_TRUE(same_ciphertext(got[o], want[o])) << "output " << o;
}

TEST(Recompute, HoldsLessUnderABudgetAndRunsAsPredicted) {
    const auto m = pooled_cnn();
    const auto plan = he::compile(m, {.level_budget = 100});
    const auto r = he::recompute_first_layer(plan);
    const std::size_t S = 16, F = static_cast<std::size_t>(plan.input_count);
    const auto x = random_inputs(S * F, 53);
    const HeSetup he(plan, x, S, insecure_small());
    const int top = he.ctx->max_level();
    const std::size_t n = he.ctx->n();
    const he::ExecutionOptions free_df{.memory = he::MemoryBudget::unlimited(), .order = he::Order::DepthFirst, .lazy_inputs = true};
    const std::size_t held = he::Schedule(plan, top, n, free_df).peak_bytes();
    const std::size_t held_copied = he::Schedule(r.plan, top, n, free_df).peak_bytes();
    EXPECT_LT(held_copied, held);  // depth first, the copies go as they are read
    // Under a budget between the two, the original spills and the copied plan does not.
    const auto budget = he::MemoryBudget::of((held + held_copied) / 2);
    const he::ExecutionOptions exec{.memory = budget, .threads = 2, .order = he::Order::DepthFirst};
    he::SimulateOptions so;
    so.exec = exec;
    so.exec.lazy_inputs = true;
    const auto pred_orig = he::simulate(plan, *he.ctx, he::Rates::defaults(), so);
    const auto pred = he::simulate(r.plan, *he.ctx, he::Rates::defaults(), so);
    EXPECT_GT(pred_orig.spill_bytes, 0u);
    EXPECT_EQ(pred.spill_bytes, 0u);
    EXPECT_LE(pred.peak_bytes, budget.bytes());
    // The runtime holds what the simulator predicted, step by step, and agrees with the model.
    he::RunOptions ro;
    ro.exec = exec;
    std::vector<he::StepRecord> trace;
    auto in = he::encrypt_batch(he.encoder, he.enc, x, S, F);
    std::vector<ckks::Ciphertext> pool(in.begin(), in.end());
    const auto out = he::Runtime(r.plan, he.ctx, he.rk).run([&](std::size_t i) { return pool[i]; }, ro, &trace);
    ASSERT_EQ(trace.size(), pred.steps.size());
    for (std::size_t i = 0; i < trace.size(); ++i)
        for (const auto& d : he::differences(pred.steps[i], trace[i])) ADD_FAILURE() << "step " << i << " " << d.describe();
    const auto e = compare(m, x, S, he::decrypt_batch(he.encoder, he.dec, out, S));
    EXPECT_LE(e.max_abs, std::max(1.0, e.max_ref) / (1 << 20));
    // The chooser keeps the plan when nothing spills.
    he::SimulateOptions free_so;
    free_so.exec = free_df;
    EXPECT_FALSE(he::choose_execution_plan(plan, *he.ctx, he::Rates::defaults(), free_so).recomputed);
}
