// The execution options: one memory budget with one meaning (explicit bytes, the default
// resolved once against MemAvailable, unlimited; 0 and garbage refused), its shares, its
// printing, and the consumers refusing a default that was never resolved.
#include <omp.h>

#include <limits>

#include "he/he_engine.h"
#include "hecnn/he/execution.h"
#include "hecnn/he/memory.h"
#include "hecnn/he/schedule.h"
#include "hecnn/he/simulator.h"

using namespace hecnn;
using namespace hecnn::test;
using he::MemoryBudget;

namespace {

constexpr std::size_t GiB = std::size_t{1} << 30, MiB = std::size_t{1} << 20;

void expect_refused(const std::string& text, const std::string& needle) {
    try {
        MemoryBudget::parse(text);
        ADD_FAILURE() << "'" << text << "' accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

}  // namespace

TEST(MemoryBudget, ParsesHumanSizesUnlimitedAndDefault) {
    EXPECT_EQ(MemoryBudget::parse("8G").bytes(), 8 * GiB);
    EXPECT_EQ(MemoryBudget::parse("512MiB").bytes(), 512 * MiB);
    EXPECT_EQ(MemoryBudget::parse("1.5GiB").bytes(), 3 * GiB / 2);
    EXPECT_EQ(MemoryBudget::parse("300kB").bytes(), 300u * 1024);
    EXPECT_EQ(MemoryBudget::parse("123456").bytes(), 123456u);
    EXPECT_EQ(MemoryBudget::parse("8 GiB").bytes(), 8 * GiB);
    EXPECT_TRUE(MemoryBudget::parse("unlimited").is_unlimited());
    EXPECT_TRUE(MemoryBudget::parse("Unlimited").is_unlimited());
    EXPECT_EQ(MemoryBudget::parse("unlimited").bytes(), std::numeric_limits<std::size_t>::max());
    EXPECT_TRUE(MemoryBudget::parse("default").is_default());
    EXPECT_TRUE(MemoryBudget{}.is_default());
}

TEST(MemoryBudget, RefusesZeroAndGarbage) {
    for (const char* zero : {"0", "0G", "0.1", "0 B"}) expect_refused(zero, "0");
    expect_refused("0", "unlimited");  // says what to write instead
    for (const char* bad : {"", "lots", "8X", "8GG", "-1G", "nan", "1e30", "G8"}) expect_refused(bad, "memory budget");
    EXPECT_THROW(MemoryBudget::of(0), std::invalid_argument);
}

TEST(MemoryBudget, TheDefaultIsResolvedOnceAgainstMemAvailable) {
    EXPECT_THROW((void)MemoryBudget{}.bytes(), std::logic_error);  // never silently resolved
    const std::size_t before = he::mem_available_bytes();
    const MemoryBudget r = MemoryBudget{}.resolved();
    const std::size_t after = he::mem_available_bytes();
    ASSERT_GT(before, 0u) << "no MemAvailable in /proc/meminfo";
    EXPECT_FALSE(r.is_default());
    EXPECT_TRUE(r.from_default());
    // 60 % of what /proc said at the moment of resolution (it moves: bracket it).
    EXPECT_GE(r.bytes(), static_cast<std::size_t>(0.6 * static_cast<double>(std::min(before, after))) - 1);
    EXPECT_LE(r.bytes(), static_cast<std::size_t>(0.6 * static_cast<double>(std::max(before, after))) + 1);
    // Resolving again keeps those bytes: a resolved budget is a fixed figure.
    EXPECT_EQ(r.resolved().bytes(), r.bytes());
    EXPECT_NE(r.describe().find("60 % of MemAvailable"), std::string::npos) << r.describe();
    // Explicit and unlimited budgets do not change on resolution.
    EXPECT_EQ(MemoryBudget::of(12345).resolved(), MemoryBudget::of(12345));
    EXPECT_FALSE(MemoryBudget::of(12345).resolved().from_default());
    EXPECT_TRUE(MemoryBudget::unlimited().resolved().is_unlimited());
}

TEST(MemoryBudget, ExecutionOptionsResolveBudgetAndThreads) {
    const he::ExecutionOptions o{.memory = {}, .spill_dir = "/somewhere", .threads = 0, .wave_units = 8, .order = he::Order::Steps};
    const auto r = o.resolved();
    EXPECT_FALSE(r.memory.is_default());
    EXPECT_EQ(r.threads, omp_get_max_threads());
    EXPECT_EQ(r.spill_dir, "/somewhere");
    EXPECT_EQ(r.wave_units, 8u);
    EXPECT_EQ(r.order, he::Order::Steps);
    const auto again = r.resolved();
    EXPECT_EQ(again.memory.bytes(), r.memory.bytes());
    EXPECT_EQ(he::ExecutionOptions{.threads = 3}.resolved().threads, 3);
}

TEST(MemoryBudget, SharesNeverAddUpToMoreThanTheWhole) {
    const auto whole = MemoryBudget::of(3 * GiB + 2);
    for (std::size_t parts : {1u, 2u, 3u, 7u}) {
        const auto s = whole.share(parts);
        EXPECT_LE(s.bytes() * parts, whole.bytes()) << parts;
        EXPECT_GT((s.bytes() + 1) * parts, whole.bytes()) << parts;  // and no more is left over than needed
    }
    EXPECT_TRUE(MemoryBudget::unlimited().share(4).is_unlimited());
    EXPECT_THROW(MemoryBudget::of(2).share(3), std::invalid_argument);
    EXPECT_THROW(whole.share(0), std::invalid_argument);
    const auto d = MemoryBudget{}.share(2);  // the default: resolved first, then shared
    EXPECT_TRUE(d.from_default());
    EXPECT_LE(d.bytes(), static_cast<std::size_t>(0.6 * static_cast<double>(he::mem_available_bytes() + 64 * MiB)) / 2);
}

TEST(MemoryBudget, PrintsHumanSizesThatParseBack) {
    EXPECT_EQ(MemoryBudget::of(8 * GiB).describe(), "8 GiB");
    EXPECT_EQ(MemoryBudget::of(512 * MiB).describe(), "512 MiB");
    EXPECT_EQ(MemoryBudget::of(3 * GiB / 2).describe(), "1.50 GiB");
    EXPECT_EQ(MemoryBudget::of(100).describe(), "100 B");
    EXPECT_EQ(MemoryBudget::unlimited().describe(), "unlimited");
    for (std::size_t b : {8 * GiB, 512 * MiB, std::size_t{100}, std::size_t{7} << 10})
        EXPECT_EQ(MemoryBudget::parse(MemoryBudget::of(b).describe()), MemoryBudget::of(b)) << b;
    EXPECT_EQ(MemoryBudget::parse(MemoryBudget::unlimited().describe()), MemoryBudget::unlimited());
}

// The schedule takes a resolved (or unlimited) budget only; the simulator resolves a
// default itself and reports the bytes it simulated.
TEST(MemoryBudget, ConsumersRefuseAnUnresolvedDefault) {
    const auto plan = he::compile(cryptonets(16, 9));
    const std::size_t n = std::size_t{1} << 11;
    EXPECT_THROW(he::Schedule(plan, plan.depth, n, he::ExecutionOptions{}), std::logic_error);
    EXPECT_NO_THROW(he::Schedule(plan, plan.depth, n, he::ExecutionOptions{}.resolved()));
    const auto ctx = ckks::Context::create(he::choose_parameters(plan, {}, insecure_small()).literal);
    he::SimulateOptions so;
    const auto p = he::simulate(plan, *ctx, he::Rates::defaults(), so);
    EXPECT_FALSE(p.memory_budget.is_default());
    EXPECT_TRUE(p.memory_budget.from_default());
    so.exec.memory = MemoryBudget::unlimited();
    EXPECT_TRUE(he::simulate(plan, *ctx, he::Rates::defaults(), so).memory_budget.is_unlimited());
}
