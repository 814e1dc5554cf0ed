// The memory side of the runtime: the schedule (free after the last consumer, early level
// drops, spilling under a budget, lazy inputs), checked by replaying its actions against
// the plan, and encrypted runs under a budget that the unbudgeted run exceeds: the same
// ciphertexts, the peak within the budget, the simulator's memory figures equal to the
// runtime's trace. Small insecure parameters (N = 2^11, test only).
#include <unistd.h>

#include <filesystem>

#include "he/he_engine.h"
#include "hecnn/he/memory.h"
#include "hecnn/he/schedule.h"
#include "hecnn/he/simulator.h"

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

TEST(Memory, ParseByteSize) {
    EXPECT_EQ(he::parse_byte_size("123456"), 123456u);
    EXPECT_EQ(he::parse_byte_size("2G"), std::size_t{2} << 30);
    EXPECT_EQ(he::parse_byte_size("512M"), std::size_t{512} << 20);
    EXPECT_EQ(he::parse_byte_size("1.5GiB"), std::size_t{3} << 29);
    EXPECT_EQ(he::parse_byte_size("300kB"), std::size_t{300} << 10);
    EXPECT_THROW(he::parse_byte_size("two"), std::invalid_argument);
    EXPECT_THROW(he::parse_byte_size("2X"), std::invalid_argument);
    EXPECT_THROW(he::parse_byte_size("-1G"), std::invalid_argument);
}

TEST(Schedule, FreesAfterTheLastConsumerAndDropsLevels) {
    const auto plan = he::compile(cryptonets(28));
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
}

namespace {

// A wide first layer (600 ciphertexts, squared) and narrow later ones: the peak is far
// above what any one unit needs, so a budget in between forces spilling. (In CryptoNets
// the dense layer reads every square and x: that one unit is the whole peak.)
nn::Model wide_then_narrow() {
    Builder b({2, 10, 10}, 77);
    b.conv(6, 3, 1, 1);
    b.act("element");
    b.conv(3, 3, 2, 1);
    b.act("channel");
    b.dense(10);
    return b.finish();
}

}  // namespace

TEST(Schedule, SpillsUnderABudgetAndLoadsInputsLazily) {
    const auto plan = he::compile(wide_then_narrow());
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

namespace {

struct Fixture {
    explicit Fixture(nn::Model m) : model(std::move(m)) {}
    nn::Model model;
    he::Plan plan = he::compile(model);
    std::size_t samples = 256, F = static_cast<std::size_t>(plan.input_count);
    std::vector<double> x = random_inputs(samples * F, 41);
    HeSetup he{plan, x, samples, insecure_small()};
};

bool same_words(const ckks::Ciphertext& a, const ckks::Ciphertext& b) {
    return a.level() == b.level() && a.size() == b.size() && a.scale() == b.scale() && std::equal(a.words().begin(), a.words().end(), b.words().begin());
}

// A run without a memory budget (2^40 bytes), its trace in `trace`.
std::vector<ckks::Ciphertext> unbudgeted_run(const he::Runtime& rt, const std::vector<ckks::Ciphertext>& in, std::vector<he::StepTrace>& trace) {
    return rt.run(in, he::RunOptions{.exec = {.memory = he::MemoryBudget::unlimited()}}, &trace);
}

std::size_t peak_of(const std::vector<he::StepTrace>& trace) {
    std::size_t peak = 0;
    for (const auto& t : trace) peak = std::max(peak, t.peak_bytes);
    return peak;
}

}  // namespace

class BudgetedRun : public ::testing::TestWithParam<int> {};

// 0: a wide layer step by step: spills; 1: CryptoNets: splits the dense layer (and
// spills); 2: the wide layer, order chosen automatically: depth first, no spill.
TEST_P(BudgetedRun, SpillsSplitsAndComputesTheSameCiphertexts) {
    Fixture f(GetParam() == 1 ? cryptonets(16, 9) : wide_then_narrow());
    he::Runtime rt(f.plan, f.he.ctx, f.he.rk);
    const auto in = he::encrypt_batch(f.he.encoder, f.he.enc, f.x, f.samples, f.F);
    std::vector<he::StepTrace> free_trace, trace;
    const auto free_out = unbudgeted_run(rt, in, free_trace);
    const std::size_t free_peak = peak_of(free_trace);

    // Half of that, inputs fetched on demand, small waves: it must spill.
    const auto dir = std::filesystem::temp_directory_path() / ("hecnn-test-spill-" + std::to_string(::getpid()) + "-" + std::to_string(GetParam()));
    std::filesystem::create_directories(dir);
    const he::Order order = GetParam() == 0 ? he::Order::Steps : he::Order::Auto;
    const auto budget = he::MemoryBudget::of(free_peak / 2);
    he::RunOptions opt{.exec = {.memory = budget, .spill_dir = dir, .wave_units = 8, .order = order}};
    std::vector<int> calls(f.F, 0);
    const auto out = rt.run([&](std::size_t i) { ++calls.at(i); return in[i]; }, opt, &trace);
    // Each input the plan reads is fetched once (a conv with stride 2 may skip a border).
    std::vector<int> read(f.F, 0);
    for (const auto& g : f.plan.steps[0].groups)
        for (int w : g.inputs) read[static_cast<std::size_t>(w)] = 1;
    EXPECT_EQ(calls, read);
    std::size_t peak = 0, spilled = 0;
    for (const auto& t : trace) peak = std::max(peak, t.peak_bytes), spilled += t.spill_bytes;
    const he::Schedule sch(f.plan, f.he.ctx->max_level(), f.he.ctx->n(),
                           {.memory = budget, .wave_units = 8, .order = order, .lazy_inputs = true});
    const bool split = std::any_of(sch.units().begin(), sch.units().end(), [](const he::Unit& u) { return u.split(); });
    EXPECT_EQ(split, GetParam() == 1);
    if (GetParam() != 1) {  // (CryptoNets: whichever spills less)
        EXPECT_EQ(sch.depth_first(), GetParam() == 2);
    }
    std::printf("    unbudgeted peak %zu bytes; budget %zu: peak %zu, spilled %zu bytes\n", free_peak, budget.bytes(), peak, spilled);
    EXPECT_LE(peak, budget.bytes());
    EXPECT_GT(free_peak, budget.bytes());
    EXPECT_EQ(spilled > 0, GetParam() != 2);  // depth first, the wide model needs no spill
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << "spill files left behind";
    std::filesystem::remove_all(dir);
    // Spilling is exact (the serialised residues): bit-identical outputs.
    ASSERT_EQ(out.size(), free_out.size());
    for (std::size_t k = 0; k < out.size(); ++k) EXPECT_TRUE(same_words(out[k], free_out[k])) << "output " << k;
    const auto e = compare(f.model, f.x, f.samples, he::decrypt_batch(f.he.encoder, f.he.dec, out, f.samples));
    EXPECT_LE(e.max_abs, std::max(1.0, e.max_ref) / (1 << 20));

    // The simulator predicts the memory figures of both runs.
    for (bool budgeted : {false, true}) {
        he::SimulateOptions so;
        so.exec = budgeted ? opt.exec : he::ExecutionOptions{.memory = he::MemoryBudget::unlimited()};
        so.exec.lazy_inputs = budgeted;
        const auto pred = he::simulate(f.plan, *f.he.ctx, he::Rates::defaults(), so);
        const auto& tr = budgeted ? trace : free_trace;
        ASSERT_EQ(pred.steps.size(), tr.size());
        for (std::size_t i = 0; i < tr.size(); ++i) {
            EXPECT_EQ(pred.steps[i].peak_bytes, tr[i].peak_bytes) << "step " << i << " budgeted " << budgeted;
            EXPECT_EQ(pred.steps[i].live, tr[i].live) << "step " << i;
            EXPECT_EQ(pred.steps[i].live_bytes, tr[i].live_bytes) << "step " << i;
            EXPECT_EQ(pred.steps[i].spilled, tr[i].spilled) << "step " << i;
            EXPECT_EQ(pred.steps[i].spill_bytes, tr[i].spill_bytes) << "step " << i;
            EXPECT_EQ(pred.steps[i].load_bytes, tr[i].load_bytes) << "step " << i;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Runtime, BudgetedRun, ::testing::Values(0, 1, 2));

TEST(Runtime, RefusesABudgetBelowOneUnit) {
    Fixture f(cryptonets(16, 9));
    he::Runtime rt(f.plan, f.he.ctx, f.he.rk);
    auto in = he::encrypt_batch(f.he.encoder, f.he.enc, f.x, f.samples, f.F);
    try {
        rt.run(std::move(in), he::RunOptions{.exec = {.memory = he::MemoryBudget::of(1 << 20)}});
        FAIL() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos) << e.what();
    }
}

TEST(Runtime, LazySquaresKeepTheEagerPrecision) {
    // The deferred square stays size 3 at its input's level and scale Δ² (no rescale of
    // c2): its error must be the eager square's, not the ~√N-times larger one of a
    // rescaled size-3 ciphertext.
    Fixture f(cryptonets(16, 9));
    double err[2];
    for (bool lazy : {false, true}) {
        const auto plan = he::compile(f.model, {.lazy_relin = lazy});
        ASSERT_EQ(plan.steps[1].lazy_relin, lazy);
        std::vector<he::StepTrace> trace;
        const auto got = f.he.infer(plan, f.x, f.samples, &trace);
        err[lazy] = compare(f.model, f.x, f.samples, got).max_abs;
        const int x_level = f.he.ctx->max_level() - 1;  // the conv's outputs
        EXPECT_EQ(trace[1].size, lazy ? 3 : 2);
        EXPECT_EQ(trace[1].level, lazy ? x_level : x_level - 1);
        const double d = f.he.ctx->scale(), q = static_cast<double>(f.he.ctx->data_moduli()[x_level].value());
        EXPECT_DOUBLE_EQ(trace[1].max_scale, lazy ? d * d : d * d / q);
        EXPECT_EQ(trace[2].level, x_level - 2);  // the consumer rescaled twice
        EXPECT_DOUBLE_EQ(trace[2].max_scale / d, 1.0);
    }
    std::printf("    max |error| eager %.3g, lazy %.3g\n", err[0], err[1]);
    EXPECT_LE(err[1], 2 * err[0]);
}

TEST(Runtime, ProductsUnderABudgetSpillAndComputeTheSameCiphertexts) {
    // Squares and products whose higher operand (an input, also read by the conv one level
    // up) is dropped, spilled and loaded between its two consumers.
    Fixture f(square_and_product(8));
    ASSERT_EQ(f.plan.steps.at(1).arity, 2);
    he::Runtime rt(f.plan, f.he.ctx, f.he.rk);
    const auto in = he::encrypt_batch(f.he.encoder, f.he.enc, f.x, f.samples, f.F);
    std::vector<he::StepTrace> free_trace, trace;
    const auto free_out = unbudgeted_run(rt, in, free_trace);
    const std::size_t free_peak = peak_of(free_trace);
    const auto dir = std::filesystem::temp_directory_path() / ("hecnn-test-spill-product-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    he::RunOptions opt{.exec = {.memory = he::MemoryBudget::of(free_peak / 2), .spill_dir = dir, .wave_units = 8, .order = he::Order::Steps}};
    const auto out = rt.run(in, opt, &trace);
    std::size_t peak = 0, spilled = 0;
    for (const auto& t : trace) peak = std::max(peak, t.peak_bytes), spilled += t.spill_bytes;
    std::printf("    unbudgeted peak %zu bytes; budget %zu: peak %zu, spilled %zu bytes\n", free_peak, opt.exec.memory.bytes(), peak, spilled);
    EXPECT_LE(peak, opt.exec.memory.bytes());
    EXPECT_GT(spilled, 0u);
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << "spill files left behind";
    std::filesystem::remove_all(dir);
    ASSERT_EQ(out.size(), free_out.size());
    for (std::size_t k = 0; k < out.size(); ++k) EXPECT_TRUE(same_words(out[k], free_out[k])) << "output " << k;
    const auto e = compare(f.model, f.x, f.samples, he::decrypt_batch(f.he.encoder, f.he.dec, out, f.samples));
    EXPECT_LE(e.max_abs, std::max(1.0, e.max_ref) / (1 << 20));
    EXPECT_GT(e.max_ref, 1e-3);
    // The simulator predicts the budgeted run's memory.
    he::SimulateOptions so;
    so.exec = opt.exec;
    const auto pred = he::simulate(f.plan, *f.he.ctx, he::Rates::defaults(), so);
    ASSERT_EQ(pred.steps.size(), trace.size());
    for (std::size_t i = 0; i < trace.size(); ++i) {
        EXPECT_EQ(pred.steps[i].peak_bytes, trace[i].peak_bytes) << "step " << i;
        EXPECT_EQ(pred.steps[i].spill_bytes, trace[i].spill_bytes) << "step " << i;
        EXPECT_EQ(pred.steps[i].load_bytes, trace[i].load_bytes) << "step " << i;
    }
}

// A server's start: the heap pre-faulted once stays resident, and later blocks of other
// sizes (ciphertexts) are served from those pages without growing the process. This is a
// property of glibc's malloc as configure_allocator_for_inference sets it up; under
// AddressSanitizer, whose own allocator replaces malloc (ignoring mallopt, quarantining
// freed blocks), there is nothing of it to test, so the sanitizer build leaves it out.
#ifndef __SANITIZE_ADDRESS__
TEST(Memory, PrefaultedHeapServesLaterBlocksWithoutNewPages) {
    he::configure_allocator_for_inference();
    const std::size_t MiB = std::size_t{1} << 20;
    const std::size_t rss0 = he::vm_rss_bytes();
    ASSERT_GT(rss0, 0u) << "no VmRSS in /proc/self/status";
    he::prefault_heap(256 * MiB);
    const std::size_t rss1 = he::vm_rss_bytes();
    EXPECT_GE(rss1, rss0 + 240 * MiB) << "the pages were not kept after the blocks were freed";
    std::vector<math::AlignedVector<std::uint64_t>> cts;
    for (int i = 0; i < 100; ++i) {  // 100 blocks of 1.5 MiB (a size-2 ciphertext at 6 limbs, N = 2^14), written
        cts.emplace_back(3 * 65536);
        std::fill(cts.back().begin(), cts.back().end(), static_cast<std::uint64_t>(i));
    }
    const std::size_t rss2 = he::vm_rss_bytes();
    EXPECT_LE(rss2, rss1 + 16 * MiB) << "150 MiB of new blocks grew RSS by " << (rss2 - rss1) / MiB << " MiB";
    for (int i = 0; i < 100; ++i) EXPECT_EQ(cts[static_cast<std::size_t>(i)][12345], static_cast<std::uint64_t>(i));
}
#endif
