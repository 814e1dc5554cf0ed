// he::predict_ranks (scaling.h): one rank is the single-process simulator exactly (time,
// peak, spill, first touch); the bytes each rank sends are predict_exchange's, counted
// apart; more ranks never compute more per rank on a plan whose waves split; the exchange
// follows the network's bandwidth and latency within bounds worked out from the bytes.
#include <gtest/gtest.h>

#include <algorithm>

#include "he/he_engine.h"
#include "he/he_models.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/partition.h"
#include "hecnn/he/scaling.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

// Two convs with a square between: every wave has many units (no one-group dense layer).
nn::Model conv_square_conv() {
    Builder b({2, 8, 8}, 5);
    b.conv(6, 3, 1, 1);
    b.act("element");
    b.conv(4, 3, 2, 1);
    return b.finish();
}

struct Case {
    explicit Case(const nn::Model& m, int S2)
        : plan(he::compile(m)),
          ctx(ckks::Context::create(he::choose_parameters(plan, HeSetup::ranges(plan, random_inputs(8 * static_cast<std::size_t>(S2), 3), 8), insecure_small(11)).literal)) {}
    he::Plan plan;
    ckks::ContextPtr ctx;
};

he::SimulateOptions options(he::MemoryBudget memory, bool lazy, std::size_t warm = SIZE_MAX) {
    he::SimulateOptions so;
    so.exec = he::ExecutionOptions{.memory = memory, .threads = 2, .lazy_inputs = lazy};
    so.warm_bytes = warm;
    return so;
}

const he::Network kNet = he::Network::parse("10Gbit", "20us");

TEST(Scaling, OneRankIsTheSimulatorExactly) {
    for (const auto& [name, c] : {std::pair{"cryptonets", Case(cryptonets(12), 144)}, std::pair{"wide", Case(wide_then_narrow(), 200)}}) {
        const auto rates = he::Rates::defaults();
        // wide_then_narrow spills under a third of its peak (CryptoNets' dense layer, one
        // group reading everything, is most of its peak: no budget).
        for (bool lazy : {true, false})
            for (bool limited : {false, true}) {
                if (limited && std::string(name) != "wide") continue;
                const auto budget = limited ? he::MemoryBudget::of(he::simulate(c.plan, *c.ctx, rates, options(he::MemoryBudget::unlimited(), lazy)).peak_bytes / 3)
                                            : he::MemoryBudget::unlimited();
                for (std::size_t warm : {SIZE_MAX, std::size_t{0}}) {
                    const auto so = options(budget, lazy, warm);
                    const auto one = he::simulate(c.plan, *c.ctx, rates, so);
                    const int R[] = {1};
                    const auto p = he::predict_ranks(c.plan, *c.ctx, rates, so, R, std::span(&kNet, 1));
                    const std::string what = std::string(name) + (lazy ? " lazy" : " held") + (budget.is_unlimited() ? "" : " budget") + (warm ? "" : " cold");
                    ASSERT_EQ(p.size(), 1u);
                    EXPECT_EQ(p[0].seconds, one.seconds) << what;
                    EXPECT_EQ(p[0].first_touch_seconds, one.first_touch_seconds) << what;
                    EXPECT_EQ(p[0].peak_bytes, one.peak_bytes) << what;
                    ASSERT_EQ(p[0].rank.size(), 1u);
                    EXPECT_EQ(p[0].rank[0].spill_bytes, one.spill_bytes) << what;
                    EXPECT_EQ(p[0].bytes_exchanged, 0u) << what;
                    EXPECT_EQ(p[0].exchange_seconds, 0.0) << what;
                    if (limited && !lazy) EXPECT_GT(one.spill_bytes, 0u) << what << ": the budget should make it spill";  // (lazy: depth first instead)
                    if (!warm) EXPECT_GT(one.first_touch_seconds, 0.0) << what;
                }
            }
    }
}

TEST(Scaling, BytesEachRankSendsAreThoseOfPredictExchange) {
    const Case c(wide_then_narrow(), 200);
    const auto rates = he::Rates::defaults();
    for (auto budget : {he::MemoryBudget::unlimited(), he::MemoryBudget::of(he::simulate(c.plan, *c.ctx, rates, options(he::MemoryBudget::unlimited(), false)).peak_bytes / 3)}) {
        const auto so = options(budget, true);
        const he::Schedule sch(c.plan, c.ctx->max_level(), c.ctx->n(), so.exec);
        const int R[] = {2, 3, 5};
        const auto preds = he::predict_ranks(c.plan, *c.ctx, rates, so, R, std::span(&kNet, 1));
        ASSERT_EQ(preds.size(), 3u);
        for (const auto& p : preds) {
            const auto want = he::predict_exchange(c.plan, sch, he::Partition(c.plan, sch, p.ranks), *c.ctx, c.ctx->max_level());
            ASSERT_EQ(p.rank.size(), static_cast<std::size_t>(p.ranks));
            std::uint64_t received = 0;
            for (int r = 0; r < p.ranks; ++r) {
                EXPECT_EQ(p.rank[r].sent_bytes, want.sent[r]) << p.ranks << " ranks, rank " << r;
                received += p.rank[r].received_bytes;
            }
            EXPECT_EQ(p.bytes_exchanged, want.total()) << p.ranks << " ranks";
            EXPECT_EQ(received, want.total()) << p.ranks << " ranks: every byte sent is received";
            EXPECT_EQ(p.messages, want.messages) << p.ranks << " ranks";
            EXPECT_GT(p.bytes_exchanged, 0u);
        }
    }
}

TEST(Scaling, MoreRanksNeverComputeMorePerRankOnASplittablePlan) {
    const Case c(conv_square_conv(), 128);
    const auto rates = he::Rates::defaults();
    for (bool lazy : {true, false}) {
        const auto so = options(he::MemoryBudget::unlimited(), lazy);
        const int R[] = {1, 2, 4, 8};
        const auto p = he::predict_ranks(c.plan, *c.ctx, rates, so, R, std::span(&kNet, 1));
        ASSERT_EQ(p.size(), 4u);
        EXPECT_LT(p[1].compute_seconds, p[0].compute_seconds * 0.75) << "two ranks should nearly halve the work";
        for (std::size_t i = 1; i < p.size(); ++i) {
            // Each block of 2R ranks is half a block of R (partition.h): never more work.
            EXPECT_LE(p[i].compute_seconds, p[i - 1].compute_seconds * (1 + 1e-12)) << p[i].ranks << " ranks";
            double busiest = 0, all = 0;
            for (const auto& k : p[i].rank) busiest = std::max(busiest, k.busy_seconds), all += k.busy_seconds;
            EXPECT_LE(busiest, p[i - 1].compute_seconds * (1 + 1e-12)) << p[i].ranks << " ranks";
            EXPECT_GE(all, p[0].compute_seconds * (1 - 1e-12)) << p[i].ranks << " ranks: the ranks together do at least the work of one";
            // A rank holds some of what one process holds at the same point of the schedule.
            EXPECT_LE(p[i].peak_bytes, p[0].peak_bytes) << p[i].ranks << " ranks";
            EXPECT_GT(p[i].bytes_exchanged, 0u);
        }
    }
}

TEST(Scaling, ExchangeTimeFollowsTheNetwork) {
    const Case c(cryptonets(12), 144);
    const auto rates = he::Rates::defaults();
    const he::Network nets[] = {he::Network::parse("10Gbit", "0"), he::Network::parse("100Gbit", "0"), he::Network::parse("10Gbit", "1ms")};
    const int R[] = {2, 4};
    const auto p = he::predict_ranks(c.plan, *c.ctx, rates, options(he::MemoryBudget::unlimited(), true), R, nets);
    ASSERT_EQ(p.size(), 6u);
    for (std::size_t k = 0; k < 2; ++k) {
        const auto &slow = p[3 * k], &fast = p[3 * k + 1], &late = p[3 * k + 2];
        EXPECT_EQ(slow.ranks, R[k]);
        EXPECT_EQ(slow.compute_seconds, fast.compute_seconds);
        EXPECT_NEAR(slow.exchange_seconds, 10 * fast.exchange_seconds, 1e-9 * slow.exchange_seconds) << "no latency: time ∝ 1/bandwidth";
        // Summed over waves, the slowest rank's exchange is at least any one rank's total
        // and at most all ranks' traffic one after the other.
        const double bps = nets[0].bytes_per_second();
        double most = 0, sum = 0;
        std::uint64_t msgs = 0;
        for (const auto& r : slow.rank)
            most = std::max(most, static_cast<double>(std::max(r.sent_bytes, r.received_bytes)) / bps),
            sum += static_cast<double>(r.sent_bytes + r.received_bytes) / bps, msgs += r.messages;
        EXPECT_GE(slow.exchange_seconds, most * (1 - 1e-12));
        EXPECT_LE(slow.exchange_seconds, sum * (1 + 1e-12));
        const double latency = late.exchange_seconds - slow.exchange_seconds;
        EXPECT_GT(latency, 0.0);
        EXPECT_LE(latency, static_cast<double>(msgs) * 1e-3 * (1 + 1e-9));
        for (const auto* x : {&slow, &fast, &late})
            EXPECT_NEAR(x->seconds, x->compute_seconds + x->exchange_seconds + x->first_touch_seconds, 1e-9 * x->seconds);
        EXPECT_GT(slow.seconds, fast.seconds);
    }
}

TEST(Scaling, RefusesNoRanksAndNoNetwork) {
    const Case c(cryptonets(12), 144);
    const auto so = options(he::MemoryBudget::unlimited(), true);
    const int zero[] = {0}, one[] = {1};
    EXPECT_THROW(he::predict_ranks(c.plan, *c.ctx, he::Rates::defaults(), so, zero, std::span(&kNet, 1)), std::invalid_argument);
    EXPECT_THROW(he::predict_ranks(c.plan, *c.ctx, he::Rates::defaults(), so, one, std::span<const he::Network>{}), std::invalid_argument);
}

}  // namespace
