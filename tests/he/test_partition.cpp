// he::Partition and he::predict_exchange (partition.h) on a compiled CryptoNets plan,
// checked against what the definitions say, recomputed here from the schedule alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "he/he_engine.h"
#include "he/he_models.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/partition.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

struct Case {
    he::Plan plan = he::compile(cryptonets(12));
    ckks::ContextPtr ctx = ckks::Context::create(
        he::choose_parameters(plan, HeSetup::ranges(plan, random_inputs(8 * 144, 3), 8), insecure_small(11)).literal);
    int top = ctx->max_level();
    he::Schedule sch{plan, top, ctx->n(), he::ExecutionOptions{.memory = he::MemoryBudget::unlimited(), .lazy_inputs = true}};
};

TEST(Partition, LinearWavesAreBalancedBlocksSingleUnitsGoToTheirInputsSquaresFollowTheirOperand) {
    const Case c;
    const auto& units = c.sch.units();
    for (int R : {1, 2, 3, 5}) {
        const he::Partition p(c.plan, c.sch, R);
        std::vector<int> made_by(static_cast<std::size_t>(c.plan.wire_count()), -1);
        std::set<int> used;
        for (const auto& a : c.sch.actions()) {
            if (a.kind != he::Action::Kind::Run) continue;
            const auto& st = c.plan.steps[units[a.first].step];
            std::vector<double> load(static_cast<std::size_t>(R), 0);
            double biggest = 0;
            for (std::size_t i = a.first; i < a.last; ++i) {
                const int o = p.owner(i);
                ASSERT_GE(o, 0);
                ASSERT_LT(o, R);
                used.insert(o);
                if (st.kind == he::Step::Kind::Square) {
                    const int x = c.sch.inputs(units[i])[0];
                    if (x >= c.plan.input_count) EXPECT_EQ(o, made_by[x]) << "a square away from its operand";
                } else if (a.last - a.first == 1 && units[i].part == 0) {  // where most of the group's inputs are
                    std::vector<int> held(static_cast<std::size_t>(R), 0);
                    for (int x : st.groups[units[i].item].inputs)
                        if (made_by[x] >= 0) ++held[static_cast<std::size_t>(made_by[x])];
                    for (int r = 0; r < R; ++r) EXPECT_TRUE(held[r] < held[o] || (held[r] == held[o] && r >= o)) << "rank " << r;
                } else {
                    if (i > a.first) EXPECT_GE(o, p.owner(i - 1)) << "blocks not contiguous";
                    const double cost = static_cast<double>(st.groups[units[i].item].outputs.size() * (units[i].end - units[i].begin + 1));
                    load[static_cast<std::size_t>(o)] += cost, biggest = std::max(biggest, cost);
                }
                for (int w : c.sch.outputs(units[i])) made_by[w] = o;
            }
            if (st.kind == he::Step::Kind::Linear) {
                double total = 0;
                for (double l : load) total += l;
                // Each rank's block is its 1/R of the cost, give or take one unit at each end.
                for (double l : load) EXPECT_LE(std::abs(l - total / R), 2 * biggest + 1e-9);
            }
        }
        EXPECT_EQ(static_cast<int>(used.size()), R) << "a rank with no work at all";
    }
}

TEST(Partition, PredictedBytesAreEachOutputOnceToEveryOtherRankThatReadsIt) {
    const Case c;
    EXPECT_EQ(he::predict_exchange(c.plan, c.sch, he::Partition(c.plan, c.sch, 1), *c.ctx, c.top).total(), 0u);
    const auto& units = c.sch.units();
    for (int R : {2, 4}) {
        const he::Partition p(c.plan, c.sch, R);
        // Readers recomputed from the units' inputs and the plan outputs.
        std::vector<std::set<int>> readers(static_cast<std::size_t>(c.plan.wire_count()));
        for (std::size_t i = 0; i < units.size(); ++i)
            for (int w : c.sch.inputs(units[i])) readers[w].insert(p.owner(i));
        for (int w : c.plan.outputs) readers[w].insert(0);
        std::vector<std::uint64_t> sent(static_cast<std::size_t>(R), 0);
        for (std::size_t i = 0; i < units.size(); ++i)
            for (int w : c.sch.outputs(units[i])) {
                auto to = readers[w];
                to.erase(p.owner(i));
                const std::size_t one = 43 + 12 + static_cast<std::size_t>(c.plan.wire_size[w]) * [&] {
                    std::size_t b = 0;
                    for (int l = 0; l <= c.plan.wire_level(w, c.top); ++l) b += (c.ctx->n() * c.ctx->data_moduli()[l].bits() + 7) / 8;
                    return b;
                }();
                sent[static_cast<std::size_t>(p.owner(i))] += one * to.size();
                for (int r = 0; r < R; ++r) EXPECT_EQ(p.reads(r, w), readers[w].count(r) == 1) << "wire " << w << ", rank " << r;
            }
        const auto pred = he::predict_exchange(c.plan, c.sch, p, *c.ctx, c.top);
        EXPECT_EQ(pred.sent, sent) << R << " ranks";
        std::uint64_t steps = 0;
        for (auto s : pred.step) steps += s;
        EXPECT_EQ(steps, pred.total());
        EXPECT_GT(pred.total(), 0u);
    }
}

TEST(Partition, FingerprintsDifferWithTheRanksAndTheSchedule) {
    const Case c;
    const he::Schedule small_waves(c.plan, c.top, c.ctx->n(),
                                   he::ExecutionOptions{.memory = he::MemoryBudget::unlimited(), .wave_units = 3, .lazy_inputs = true});
    EXPECT_EQ(he::Partition(c.plan, c.sch, 2).fingerprint(), he::Partition(c.plan, c.sch, 2).fingerprint());
    EXPECT_NE(he::Partition(c.plan, c.sch, 2).fingerprint(), he::Partition(c.plan, c.sch, 3).fingerprint());
    EXPECT_NE(he::Partition(c.plan, c.sch, 2).fingerprint(), he::Partition(c.plan, small_waves, 2).fingerprint());
    EXPECT_THROW(he::Partition(c.plan, c.sch, 0), std::invalid_argument);
}

}  // namespace
