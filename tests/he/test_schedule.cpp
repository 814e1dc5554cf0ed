// The schedule on its own (no encryption): a hand-built plan whose actions, live sets and
// bytes are worked out on paper below; and compiled models, whose actions are replayed
// against the plan's rules independently of the schedule's bookkeeping (free after the
// last consumer, early level drops, spilling under a budget, lazy inputs, split groups).
#include <gtest/gtest.h>

#include <algorithm>

#include "he/he_models.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/schedule.h"

using namespace hecnn;
using namespace hecnn::test;
using Kind = he::Action::Kind;

namespace {

// Replays the actions with the plan's rules, independently of the schedule's own
// bookkeeping: every unit runs once, in order, with its inputs in memory at (at least)
// the level it reads them at; only held wires are spilled, dropped or freed; only spilled
// wires (or not yet fetched lazy inputs) are loaded; the outputs are held at the end.
// Returns the largest bytes held (+ the running wave's outputs).
std::size_t replay(const he::Plan& plan, const he::Schedule& sch, int top, std::size_t n, bool lazy_inputs) {
    const int W = plan.wire_count();
    std::vector<int> level(W, -1);  // −1: not in memory
    std::vector<char> on_disk(W, 0), fetched(W, 0);
    std::size_t held = 0, peak = 0;
    auto bytes = [&](int w) { return he::Schedule::bytes(level[w], plan.wire_size[w], n); };
    for (int w = 0; w < plan.input_count && !lazy_inputs; ++w) level[w] = top, held += bytes(w), fetched[w] = 1;
    peak = held;
    std::size_t next_unit = 0;
    for (const auto& a : sch.actions()) {
        switch (a.kind) {
            case Kind::Run: {
                EXPECT_EQ(a.first, next_unit);
                std::size_t made = 0;
                for (std::size_t u = a.first; u < a.last; ++u) {
                    const auto& un = sch.units()[u];
                    EXPECT_EQ(un.step, a.step);
                    if (un.split()) {  // alone in its wave; its sums live from the first part to the last
                        EXPECT_EQ(a.last - a.first, 1u);
                        const std::size_t acc = sch.accumulator_bytes(plan.steps[un.step].groups[un.item]);
                        if (un.part == 0) made += acc;
                        if (un.last()) held -= acc;
                    }
                    const auto& st = plan.steps[un.step];
                    for (int w : sch.inputs(un)) {
                        const int need = st.kind == he::Step::Kind::Square ? plan.operand_level(st, static_cast<std::size_t>(un.item), top)
                                                                            : plan.read_level(st.groups[un.item], w, top);
                        EXPECT_GE(level[w], need) << "unit " << u << " reads wire " << w;
                    }
                    if (plan.steps[un.step].kind == he::Step::Kind::Linear) {
                        EXPECT_EQ(sch.outputs(un).empty(), !un.last());
                        if (un.last()) {
                            EXPECT_EQ(un.end, plan.steps[un.step].groups[un.item].inputs.size());
                        }
                    }
                    for (int w : sch.outputs(un)) {
                        EXPECT_EQ(level[w], -1) << "wire " << w << " produced twice";
                        level[w] = plan.wire_level(w, top), made += bytes(w);
                    }
                }
                peak = std::max(peak, held + made);
                held += made;
                next_unit = a.last;
                break;
            }
            case Kind::Load:
                EXPECT_EQ(level[a.wire], -1);
                EXPECT_TRUE(on_disk[a.wire] || (a.wire < plan.input_count && !fetched[a.wire])) << "wire " << a.wire;
                on_disk[a.wire] = 0, fetched[a.wire] = 1;
                level[a.wire] = a.level, held += bytes(a.wire);
                peak = std::max(peak, held);
                break;
            case Kind::Spill:
                EXPECT_GE(level[a.wire], 0);
                held -= bytes(a.wire), level[a.wire] = -1, on_disk[a.wire] = 1;
                break;
            case Kind::Drop:
                EXPECT_LT(a.level, level[a.wire]);
                held -= bytes(a.wire), level[a.wire] = a.level, held += bytes(a.wire);
                break;
            case Kind::Free:
                EXPECT_GE(level[a.wire], 0);
                held -= bytes(a.wire), level[a.wire] = -1;
                break;
        }
    }
    EXPECT_EQ(next_unit, sch.units().size());
    for (int w : plan.outputs) EXPECT_EQ(level[w], plan.wire_level(w, top)) << "output wire " << w;
    return peak;
}

std::size_t count(const he::Schedule& sch, Kind k, int step = -1) {
    std::size_t c = 0;
    for (const auto& a : sch.actions()) c += a.kind == k && (step < 0 || a.step == step);
    return c;
}

}  // namespace

// tiny_plan (he_models.h) at top level 3, N = 2^10; B(l) = 2·(l+1)·N·8 bytes, one size-2
// ciphertext at level l. Worked out by hand:
//   start   w0, w1 held at 3                              held 2·B(3)
//   step 0  run → w2 at 2; w0, w1 read for the last time: freed
//           peak 2·B(3) + B(2); live {w2} = B(2)
//   step 1  run → w3 at 1; w2 is next read by step 2 at level 1: dropped 2 → 1
//           peak B(2) + B(1); live {w2, w3} = 2·B(1); one drop of B(1)
//   step 2  run → w4 at 0; w2, w3 freed
//           peak 2·B(1) + B(0); live {w4} = B(0)
TEST(Schedule, TinyPlanByHand) {
    const auto plan = tiny_plan();
    const int top = 3;
    const std::size_t n = 1024;
    auto B = [&](int l) { return 2 * static_cast<std::size_t>(l + 1) * n * 8; };
    const he::Schedule sch(plan, top, n, {.memory = he::MemoryBudget::unlimited()});
    ASSERT_EQ(sch.units().size(), 3u);
    struct Want {
        Kind kind;
        int step, wire, level;
    };
    const std::vector<Want> want = {{Kind::Run, 0, -1, -1},  {Kind::Free, 0, 0, -1}, {Kind::Free, 0, 1, -1}, {Kind::Run, 1, -1, -1},
                                    {Kind::Drop, 1, 2, 1},   {Kind::Run, 2, -1, -1}, {Kind::Free, 2, 2, -1}, {Kind::Free, 2, 3, -1}};
    ASSERT_EQ(sch.actions().size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const auto& a = sch.actions()[i];
        EXPECT_EQ(a.kind, want[i].kind) << "action " << i;
        EXPECT_EQ(a.step, want[i].step) << "action " << i;
        if (a.kind != Kind::Run) {
            EXPECT_EQ(a.wire, want[i].wire) << "action " << i;
        }
        if (a.kind == Kind::Drop) {
            EXPECT_EQ(a.level, want[i].level);
        }
    }
    const auto& s = sch.steps();
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].peak_bytes, 2 * B(3) + B(2));
    EXPECT_EQ(s[1].peak_bytes, B(2) + B(1));
    EXPECT_EQ(s[2].peak_bytes, 2 * B(1) + B(0));
    EXPECT_EQ((std::vector<std::size_t>{s[0].live, s[1].live, s[2].live}), (std::vector<std::size_t>{1, 2, 1}));
    EXPECT_EQ((std::vector<std::size_t>{s[0].live_bytes, s[1].live_bytes, s[2].live_bytes}), (std::vector<std::size_t>{B(2), 2 * B(1), B(0)}));
    EXPECT_EQ(s[1].drops, 1);
    EXPECT_EQ(s[1].drop_bytes, B(1));
    EXPECT_EQ(s[0].drops + s[2].drops, 0);
    for (const auto& r : s) EXPECT_EQ(r.spills + r.loads, 0);
    EXPECT_EQ(sch.initial_bytes(), 2 * B(3));
    EXPECT_EQ(sch.peak_bytes(), 2 * B(3) + B(2));
    EXPECT_EQ(replay(plan, sch, top, n, false), sch.peak_bytes());
    EXPECT_EQ(sch.step_end(), (std::vector<std::ptrdiff_t>{2, 4, 7}));

    // Lazy inputs: both loaded before the first wave (B(3) each), nothing held before.
    const he::Schedule lazy(plan, top, n, {.memory = he::MemoryBudget::unlimited(), .lazy_inputs = true});
    EXPECT_EQ(lazy.initial_bytes(), 0u);
    EXPECT_EQ(lazy.actions()[0].kind, Kind::Load);
    EXPECT_EQ(lazy.actions()[1].kind, Kind::Load);
    EXPECT_EQ(lazy.steps()[0].input_load_bytes, 2 * B(3));
    EXPECT_EQ(lazy.steps()[0].input_loads, 2);
    EXPECT_EQ(lazy.steps()[1].input_loads + lazy.steps()[2].input_loads, 0);  // each input fetched once
    EXPECT_EQ(lazy.steps()[0].loads, 0);  // (loads count spilled wires read back)
    EXPECT_EQ(lazy.peak_bytes(), 2 * B(3) + B(2));

    // The budget: step 0's inputs and output fit exactly; one byte less is refused by name.
    EXPECT_NO_THROW(he::Schedule(plan, top, n, {.memory = he::MemoryBudget::of(2 * B(3) + B(2))}));
    try {
        he::Schedule(plan, top, n, {.memory = he::MemoryBudget::of(2 * B(3) + B(2) - 1)});
        FAIL() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("step 0 (a)"), std::string::npos) << e.what();
    }
}

// Lazy square: w3 is size 3 at level 2 (its rescale pending), read by step 2 at level 2;
// w2 is read by step 2 at level 1. Step 1's peak B(2) + B₃(2), B₃ a size-3 ciphertext.
TEST(Schedule, TinyPlanLazySquareByHand) {
    const auto plan = tiny_plan(true);
    const int top = 3;
    const std::size_t n = 1024;
    auto B = [&](int l, int size = 2) { return static_cast<std::size_t>(size) * static_cast<std::size_t>(l + 1) * n * 8; };
    const he::Schedule sch(plan, top, n, {.memory = he::MemoryBudget::unlimited()});
    const auto& s = sch.steps();
    EXPECT_EQ(s[1].peak_bytes, B(2) + B(2, 3));
    EXPECT_EQ(s[1].live_bytes, B(1) + B(2, 3));  // w2 dropped to 1, w3 kept at 2
    EXPECT_EQ(s[2].peak_bytes, B(1) + B(2, 3) + B(0));
    EXPECT_EQ(replay(plan, sch, top, n, false), sch.peak_bytes());
}

TEST(Schedule, FreesAfterTheLastConsumerAndDropsLevels) {
    // (Squares not completed: the dense layer reads every x for its b·x term.)
    const auto plan = he::compile(cryptonets(28), {.complete_squares = false});
    const int top = plan.depth;
    const std::size_t n = std::size_t{1} << 14;
    const he::Schedule sch(plan, top, n, {.memory = he::MemoryBudget::unlimited()});
    const std::size_t peak = replay(plan, sch, top, n, false);
    EXPECT_EQ(peak, sch.peak_bytes());
    EXPECT_EQ(count(sch, Kind::Spill), 0u);
    // The conv's inputs go as its sweep passes them: the conv step never holds all 784
    // inputs and all 864 outputs at once.
    const std::size_t all_at_once = 784 * he::Schedule::bytes(top, 2, n) + 864 * he::Schedule::bytes(top - 1, 2, n);
    EXPECT_LT(sch.steps()[0].peak_bytes, all_at_once);
    EXPECT_GT(count(sch, Kind::Free, 0), 0u);
    // act1's x: squared at level 4, then read by the dense layer's b·x term at level 3 only.
    EXPECT_EQ(count(sch, Kind::Drop, 1), 864u);
    for (const auto& a : sch.actions())
        if (a.kind == Kind::Drop && a.step == 1) {
            EXPECT_EQ(a.level, top - 2);
        }
    // Completed squares: an x the dense layer no longer reads is freed after its square,
    // not dropped; only the others are dropped.
    const auto completed = he::compile(cryptonets(28));
    const he::Schedule cs(completed, top, n, {.memory = he::MemoryBudget::unlimited()});
    EXPECT_EQ(count(cs, Kind::Drop, 1), completed.steps[2].groups[0].inputs.size() - 864u);
    EXPECT_EQ(replay(completed, cs, top, n, false), cs.peak_bytes());
}

TEST(Schedule, SpillsUnderABudgetAndLoadsInputsLazily) {
    const auto plan = he::compile(wide_then_narrow(), {.complete_squares = false});  // the squares and their x
    const int top = plan.depth;
    const std::size_t n = std::size_t{1} << 14;
    const he::Schedule free_run(plan, top, n, {.memory = he::MemoryBudget::unlimited(), .lazy_inputs = true});
    const std::size_t budget = free_run.peak_bytes() / 2;
    // Step by step, the 600 squares and their x do not fit: spills.
    const he::Schedule sch(plan, top, n, {.memory = he::MemoryBudget::of(budget), .wave_units = 16, .order = he::Order::Steps, .lazy_inputs = true});
    const std::size_t peak = replay(plan, sch, top, n, true);
    EXPECT_LE(peak, budget);
    EXPECT_EQ(peak, sch.peak_bytes());
    EXPECT_GT(count(sch, Kind::Spill), 0u);
    EXPECT_EQ(count(sch, Kind::Load), 200u + count(sch, Kind::Spill));  // every input once, every spill back
    EXPECT_FALSE(std::any_of(sch.units().begin(), sch.units().end(), [](const he::Unit& u) { return u.split(); }));
    EXPECT_FALSE(sch.depth_first());
    // Depth first, the second conv's positions are computed as their receptive fields are
    // made: no spill, a fraction of the peak. Auto picks it because it spills less.
    const he::Schedule auto_sch(plan, top, n, {.memory = he::MemoryBudget::of(budget), .wave_units = 16, .lazy_inputs = true});
    EXPECT_TRUE(auto_sch.depth_first());
    const std::size_t df_peak = replay(plan, auto_sch, top, n, true);
    EXPECT_EQ(count(auto_sch, Kind::Spill), 0u);
    EXPECT_LT(df_peak, budget / 2);
    EXPECT_EQ(df_peak, auto_sch.peak_bytes());
    // One unit needs at least its sums and one input: a budget of one input ciphertext
    // cannot hold a conv group's six sums.
    auto tiny = [&] { he::Schedule s(plan, top, n, {.memory = he::MemoryBudget::of(he::Schedule::bytes(top, 2, n)), .lazy_inputs = true}); };
    EXPECT_THROW(tiny(), std::runtime_error);
}

TEST(Schedule, SplitsALinearGroupTooLargeForTheBudget) {
    // CryptoNets' dense layer reads all 1728 ciphertexts: under half the unbudgeted peak it
    // runs in parts over slices of its inputs, with its sums held in between.
    const auto plan = he::compile(cryptonets(28));
    const int top = plan.depth;
    const std::size_t n = std::size_t{1} << 14;
    const he::Schedule free_run(plan, top, n, {.memory = he::MemoryBudget::unlimited(), .lazy_inputs = true});
    const std::size_t budget = free_run.peak_bytes() / 2;
    const he::Schedule sch(plan, top, n, {.memory = he::MemoryBudget::of(budget), .lazy_inputs = true});
    const std::size_t peak = replay(plan, sch, top, n, true);
    EXPECT_LE(peak, budget);
    EXPECT_EQ(peak, sch.peak_bytes());
    std::size_t parts = 0;
    for (const auto& u : sch.units()) {
        if (u.step == 2) {
            EXPECT_TRUE(u.split());
        }
        parts += u.step == 2;
    }
    EXPECT_GT(parts, 1u);
    EXPECT_FALSE(free_run.units()[864 + 144].split());  // unbudgeted: one unit
}

