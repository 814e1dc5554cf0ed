// he::start_inference_process: the start every plan-evaluating front end makes (threads,
// allocator, budget, pre-faulted heap), checked against OpenMP's and /proc's own figures.
#include <gtest/gtest.h>
#include <omp.h>

#include "hecnn/he/memory.h"
#include "hecnn/he/process.h"

using namespace hecnn;

namespace {
constexpr std::size_t MiB = std::size_t{1} << 20;
}

TEST(InferenceProcess, FixesTheThreadsAndBoundsThePrefaultByTheBudget) {
    he::ExecutionOptions exec;
    exec.threads = 1;
    exec.memory = he::MemoryBudget::of(48 * MiB);
    const std::size_t rss0 = he::vm_rss_bytes();
    const auto p = he::start_inference_process(exec, 256 * MiB);
    EXPECT_EQ(omp_get_max_threads(), 1);
    EXPECT_FALSE(omp_get_dynamic());
    EXPECT_EQ(p.exec.threads, 1);
    EXPECT_EQ(p.exec.memory, he::MemoryBudget::of(48 * MiB));
    EXPECT_EQ(p.prefaulted_bytes, 48 * MiB);  // the budget, not the 256 MiB asked for
    EXPECT_GE(p.prefault_seconds, 0);
#ifndef __SANITIZE_ADDRESS__  // glibc's malloc keeps the pages (test_memory.cpp: PrefaultedHeap…)
    EXPECT_GE(he::vm_rss_bytes(), rss0 + 40 * MiB) << "the pre-faulted pages are not resident";
#endif
    (void)rss0;
}

TEST(InferenceProcess, ResolvesTheDefaultBudgetOnceAndKeepsOpenMpsThreads) {
    const int before = omp_get_max_threads();
    const auto p = he::start_inference_process({}, 0);
    EXPECT_EQ(omp_get_max_threads(), before);  // threads 0: OpenMP's default left alone
    EXPECT_EQ(p.exec.threads, before);
    EXPECT_FALSE(p.exec.memory.is_default());
    EXPECT_TRUE(p.exec.memory.from_default());
    EXPECT_EQ(p.prefaulted_bytes, 0u);
}

TEST(InferenceProcess, UnlimitedBudgetPrefaultsWhatIsAsked) {
    he::ExecutionOptions exec;
    exec.memory = he::MemoryBudget::unlimited();
    const auto p = he::start_inference_process(exec, 32 * MiB);
    EXPECT_TRUE(p.exec.memory.is_unlimited());
    EXPECT_EQ(p.prefaulted_bytes, 32 * MiB);
}
