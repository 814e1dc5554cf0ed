// The memory side of the runtime: encrypted runs under a budget that the unbudgeted run
// exceeds — the same ciphertexts, the peak within the budget, the simulator's record of
// every step equal to the runtime's — and the allocator set-up for inference. (The
// schedule's own tests: test_schedule.cpp.) Small insecure parameters (N = 2^11, test
// only).
#include <unistd.h>

#include <filesystem>

#include "he/he_engine.h"
#include "hecnn/he/memory.h"
#include "hecnn/he/schedule.h"
#include "hecnn/he/simulator.h"

using namespace hecnn;
using namespace hecnn::test;

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
std::vector<ckks::Ciphertext> unbudgeted_run(const he::Runtime& rt, const std::vector<ckks::Ciphertext>& in, std::vector<he::StepRecord>& trace) {
    return rt.run(in, he::RunOptions{.exec = {.memory = he::MemoryBudget::unlimited()}}, &trace);
}

std::size_t peak_of(const std::vector<he::StepRecord>& trace) {
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
    std::vector<he::StepRecord> free_trace, trace;
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
        for (std::size_t i = 0; i < tr.size(); ++i)
            for (const auto& d : he::differences(pred.steps[i], tr[i])) ADD_FAILURE() << "step " << i << " budgeted " << budgeted << " " << d.describe();
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
        std::vector<he::StepRecord> trace;
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
    std::vector<he::StepRecord> free_trace, trace;
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
    for (std::size_t i = 0; i < trace.size(); ++i)
        for (const auto& d : he::differences(pred.steps[i], trace[i])) ADD_FAILURE() << "step " << i << " " << d.describe();
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
