// The simulator on its own: its operation counts against the plan's MACs, squares,
// relinearisations and rescales counted directly; its levels and scales of a hand-built
// plan against the values worked out from the parameters' primes, and against what the
// runtime does on test parameters (N = 2^11, insecure, test only); its time against its
// own scaling rule; and the record comparison (step_record.h) it is checked with.
#include <algorithm>
#include <cmath>
#include <map>

#include "he/he_engine.h"
#include "hecnn/he/schedule.h"
#include "hecnn/he/simulator.h"
#include "hecnn/he/step_record.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

struct Counts {
    std::int64_t macs = 0, squares = 0, relins = 0, rescales = 0;
    bool operator==(const Counts&) const = default;
};

// Per step, from the plan alone: a square or product is one ciphertext product, plus a
// relinearisation and a rescale unless lazy; a linear group makes |in|·|out| MACs and one
// rescale per output, and when it reads a lazy square also a relinearisation and a second
// rescale per output.
std::vector<Counts> count_plan(const he::Plan& plan) {
    std::vector<Counts> c(plan.steps.size());
    for (std::size_t s = 0; s < plan.steps.size(); ++s) {
        const auto& st = plan.steps[s];
        if (st.kind == he::Step::Kind::Square) {
            const auto k = static_cast<std::int64_t>(st.outputs.size());
            c[s] = {0, k, st.lazy_relin ? 0 : k, st.lazy_relin ? 0 : k};
            continue;
        }
        for (const auto& g : st.groups) {
            const auto in = static_cast<std::int64_t>(g.inputs.size()), out = static_cast<std::int64_t>(g.outputs.size());
            bool lazy = false;
            for (int w : g.inputs) lazy = lazy || plan.wire_size[w] == 3;
            c[s].macs += in * out;
            c[s].relins += lazy ? out : 0;
            c[s].rescales += lazy ? 2 * out : out;
        }
    }
    return c;
}

std::vector<Counts> counts_of(const he::Prediction& p) {
    std::vector<Counts> c;
    for (const auto& s : p.steps) c.push_back({s.macs, s.squares, s.relins, s.rescales});
    return c;
}

const ckks::ContextPtr& test_context(int depth) {
    static std::map<int, ckks::ContextPtr> ctx;
    auto& c = ctx[depth];
    if (!c) {
        ckks::ParametersLiteral lit;
        lit.log_n = 11;
        lit.data_prime_bits = std::vector<int>(static_cast<std::size_t>(depth), 40);
        lit.data_prime_bits.insert(lit.data_prime_bits.begin(), 50);
        lit.special_prime_bits = {50};
        lit.log_scale = 40;
        lit.insecure_test_only_allow_below_128_bits = true;
        c = ckks::Context::create(lit);
    }
    return c;
}

}  // namespace

TEST(Simulator, OperationCountsAreThePlansCountedDirectly) {
    struct Case {
        const char* name;
        nn::Model model;
        bool lazy;
    };
    const Case cases[] = {{"cryptonets eager", cryptonets(16, 9), false},
                          {"cryptonets lazy", cryptonets(16, 9), true},
                          {"wide then narrow", wide_then_narrow(), true},
                          {"square and product", square_and_product(8), true}};
    for (const auto& c : cases) {
        const auto plan = he::compile(c.model, {.lazy_relin = c.lazy});
        const auto& ctx = test_context(plan.depth);
        const auto want = count_plan(plan);
        he::SimulateOptions so;
        so.exec = {.memory = he::MemoryBudget::unlimited(), .threads = 1};
        const auto free_run = he::simulate(plan, *ctx, he::Rates::defaults(), so);
        EXPECT_EQ(counts_of(free_run), want) << c.name;
        // Under a budget of a third of the peak the schedule spills (and CryptoNets splits
        // its dense layer): the same operations, in other waves.
        so.exec.memory = he::MemoryBudget::of(free_run.peak_bytes / 3);
        so.exec.lazy_inputs = true;
        const he::Schedule sch(plan, ctx->max_level(), ctx->n(), so.exec);
        const bool split = std::any_of(sch.units().begin(), sch.units().end(), [](const he::Unit& u) { return u.split(); });
        const auto budgeted = he::simulate(plan, *ctx, he::Rates::defaults(), so);
        EXPECT_EQ(counts_of(budgeted), want) << c.name << (split ? " (split groups)" : "");
        EXPECT_LE(budgeted.peak_bytes, free_run.peak_bytes / 3) << c.name;
        Counts total;
        for (const auto& k : want) total.macs += k.macs, total.squares += k.squares, total.relins += k.relins, total.rescales += k.rescales;
        EXPECT_EQ((Counts{budgeted.macs, budgeted.squares, budgeted.relins, budgeted.rescales}), total) << c.name;
    }
}

// tiny_plan (he_models.h) on parameters with primes q_0 … q_top and scale Δ: its levels
// top−1, top−2, top−3; its scales Δ (a linear group lands on Δ), Δ²/q_{top−1} (the eager
// square of w2, read at level top−1), Δ. Lazy: the square stays at level top−1, size 3,
// scale Δ²; step 2 rescales it twice and lands at top−3 with Δ. Then the runtime, run on
// the same parameters, makes exactly the predicted record of every step, and its output
// decrypts to the plan's plaintext evaluation.
TEST(Simulator, LevelsAndScalesOfAHandBuiltPlanAndTheRuntime) {
    for (bool lazy : {false, true}) {
        const auto plan = tiny_plan(lazy);
        const std::size_t samples = 64;
        const auto x = random_inputs(samples * 2, 3);
        const HeSetup he(plan, x, samples, insecure_small());
        const int top = he.ctx->max_level();
        const double d = he.ctx->scale(), q = static_cast<double>(he.ctx->data_moduli()[top - 1].value());
        const auto pred = he::simulate(plan, *he.ctx, he::Rates::defaults());
        ASSERT_EQ(pred.steps.size(), 3u);
        EXPECT_EQ(pred.steps[0].level, top - 1);
        EXPECT_EQ(pred.steps[1].level, lazy ? top - 1 : top - 2);
        EXPECT_EQ(pred.steps[1].size, lazy ? 3 : 2);
        EXPECT_EQ(pred.steps[2].level, top - 3);
        EXPECT_DOUBLE_EQ(pred.steps[0].max_scale, d);
        EXPECT_DOUBLE_EQ(pred.steps[1].max_scale, lazy ? d * d : d * d / q);
        EXPECT_DOUBLE_EQ(pred.steps[2].min_scale, d);
        EXPECT_EQ(pred.steps[1].squares, 1);
        EXPECT_EQ(pred.steps[2].relins, lazy ? 1 : 0);

        std::vector<he::StepRecord> trace;
        const auto got = he.infer(plan, x, samples, &trace);
        ASSERT_EQ(trace.size(), 3u);
        for (std::size_t i = 0; i < trace.size(); ++i) {
            EXPECT_EQ(trace[i].name, plan.steps[i].name);
            for (const auto& e : he::differences(pred.steps[i], trace[i])) ADD_FAILURE() << "lazy " << lazy << " step " << i << " " << e.describe();
        }
        const auto want = he::run_plaintext(plan, x, samples);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-6) << "sample " << k;
    }
}

// Every kernel cost is divided by the thread count (costs ∝ work, the work divided evenly),
// and nothing else depends on it: at 4 threads a warm prediction takes a quarter of the
// time at 1, with the same memory and counts.
TEST(Simulator, TimeDividesOverThreadsAndNothingElseDoes) {
    const auto plan = he::compile(cryptonets(16, 9));
    const auto& ctx = test_context(plan.depth);
    he::SimulateOptions so;
    so.exec = {.memory = he::MemoryBudget::unlimited(), .threads = 1};
    const auto one = he::simulate(plan, *ctx, he::Rates::defaults(), so);
    so.exec.threads = 4;
    const auto four = he::simulate(plan, *ctx, he::Rates::defaults(), so);
    EXPECT_GT(one.seconds, 0);
    EXPECT_NEAR(four.seconds * 4, one.seconds, 1e-12 * one.seconds);
    ASSERT_EQ(one.steps.size(), four.steps.size());
    for (std::size_t i = 0; i < one.steps.size(); ++i) {
        EXPECT_TRUE(he::differences(one.steps[i], four.steps[i]).empty()) << "step " << i;
        EXPECT_NEAR(four.steps[i].seconds * 4, one.steps[i].seconds, 1e-12 * one.steps[i].seconds) << "step " << i;
    }
}

TEST(StepRecord, DifferencesNameTheFieldsThatDiffer) {
    he::StepRecord a;
    a.kind = "linear", a.name = "conv", a.level = 3, a.min_scale = a.max_scale = std::ldexp(1.0, 40), a.peak_bytes = 1000, a.macs = 7;
    he::StepRecord b = a;
    EXPECT_TRUE(he::differences(a, b).empty());
    // Not compared: what names the step, the time, the spill files' bytes.
    b.kind = "square", b.name = "other", b.seconds = 5, b.spill_file_bytes = 99;
    EXPECT_TRUE(he::differences(a, b).empty());
    // Scales within a relative 1e-12 (the simulator multiplies them in another order).
    b.max_scale = a.max_scale * (1 + 1e-14);
    EXPECT_TRUE(he::differences(a, b).empty());
    b.max_scale = a.max_scale * (1 + 1e-9);
    b.peak_bytes = 1001;
    b.drops = 1;
    const auto d = he::differences(a, b);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].field, "max_scale");
    EXPECT_EQ(d[1].field, "peak_bytes");
    EXPECT_EQ(d[1].predicted, 1000);
    EXPECT_EQ(d[1].measured, 1001);
    EXPECT_EQ(d[2].field, "drops");
    EXPECT_EQ(d[1].describe(), "peak_bytes: predicted 1000, measured 1001");
}
