// The large-block cache behind AlignedVector: reuse, bounds, thread safety.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "hecnn/math/aligned_vector.h"

using namespace hecnn::math;

TEST(BufferCache, ReleasedLargeBlocksAreReusedAndBounded) {
    release_buffer_cache();
    set_buffer_cache_limit(std::size_t{64} << 20);
    const std::size_t bytes = std::size_t{1} << 20;
    void* a = aligned_acquire(bytes);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 64, 0u);
    aligned_release(a, bytes);
    EXPECT_EQ(buffer_cache_bytes(), bytes);
    void* b = aligned_acquire(bytes);
    EXPECT_EQ(a, b) << "a released block of the same size is handed out again";
    EXPECT_EQ(buffer_cache_bytes(), 0u);
    void* c = aligned_acquire(2 * bytes);  // another size never takes it
    aligned_release(b, bytes);
    void* d = aligned_acquire(2 * bytes);
    EXPECT_NE(d, b);
    aligned_release(c, 2 * bytes);
    aligned_release(d, 2 * bytes);
    EXPECT_EQ(buffer_cache_bytes(), 5 * bytes);

    // The limit bounds what is kept; lowering it releases the cache.
    set_buffer_cache_limit(bytes);
    EXPECT_EQ(buffer_cache_bytes(), 0u);
    void* e = aligned_acquire(2 * bytes);
    aligned_release(e, 2 * bytes);
    EXPECT_EQ(buffer_cache_bytes(), 0u) << "a block larger than the limit is freed, not cached";
    set_buffer_cache_limit(std::size_t{1} << 30);
}

TEST(BufferCache, SmallBlocksBypassTheCache) {
    release_buffer_cache();
    void* p = aligned_acquire(4096);
    aligned_release(p, 4096);
    EXPECT_EQ(buffer_cache_bytes(), 0u);
}

TEST(BufferCache, ConcurrentUseIsSafe) {
    release_buffer_cache();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([t] {
            for (int i = 0; i < 200; ++i) {
                AlignedVector<std::uint64_t> v((std::size_t{1} << 15) * (1 + (i + t) % 3));
                for (std::size_t k = 0; k < v.size(); k += 512) v[k] = k;  // touch it
                ASSERT_EQ(v[512], 512u);
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_LE(buffer_cache_bytes(), std::size_t{1} << 30);
    release_buffer_cache();
    EXPECT_EQ(buffer_cache_bytes(), 0u);
}

// The VmFlags of the mapping holding address p in /proc/self/smaps ("" if none).
static std::string vm_flags_of(const void* p) {
    std::ifstream f("/proc/self/smaps");
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    std::string line;
    bool inside = false;
    while (std::getline(f, line)) {
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) inside = a >= lo && a < hi;
        else if (inside && line.rfind("VmFlags:", 0) == 0) return line;
    }
    return "";
}

TEST(BufferCache, HugePagesAreAdvisedForLargeBlocksWhenAsked) {
    set_buffer_cache_limit(0);
    const std::size_t bytes = std::size_t{8} << 20;  // holds at least two whole 2 MiB pages
    set_huge_pages(false);
    void* plain = aligned_acquire(bytes);
    const std::string off = vm_flags_of(static_cast<char*>(plain) + bytes / 2);
    ASSERT_FALSE(off.empty()) << "no mapping found for the block";
    EXPECT_EQ(off.find(" hg"), std::string::npos) << off;  // madvise(MADV_HUGEPAGE) sets "hg"
    set_huge_pages(true);
    void* big = aligned_acquire(bytes);
    auto* c = static_cast<unsigned char*>(big);
    for (std::size_t i = 0; i < bytes; i += 4096) c[i] = static_cast<unsigned char>(i >> 12);
    const std::string on = vm_flags_of(c + bytes / 2);
    EXPECT_NE(on.find(" hg"), std::string::npos) << on;
    for (std::size_t i = 0; i < bytes; i += 4096) ASSERT_EQ(c[i], static_cast<unsigned char>(i >> 12));
    set_huge_pages(false);
    aligned_release(big, bytes);
    aligned_release(plain, bytes);
}
