// The large-block cache behind AlignedVector: reuse, bounds, thread safety.
#include <gtest/gtest.h>

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
