// A bounded cache of freed large blocks, keyed by exact size (see aligned_vector.h).
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "hecnn/math/aligned_vector.h"

namespace hecnn::math {
namespace {

struct Cache {
    std::mutex mu;
    std::unordered_map<std::size_t, std::vector<void*>> free_blocks;
    std::size_t cached = 0;
    std::size_t limit = std::size_t{1} << 30;
};

// Never destroyed: vectors with static storage may release blocks during exit.
Cache& cache() {
    static Cache* c = new Cache;
    return *c;
}

}  // namespace

void* aligned_acquire(std::size_t bytes) {
    if (bytes >= kCachedBlockBytes) {
        Cache& c = cache();
        std::lock_guard lock(c.mu);
        auto it = c.free_blocks.find(bytes);
        if (it != c.free_blocks.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.cached -= bytes;
            return p;
        }
    }
    void* p = std::aligned_alloc(AlignedAllocator<char>::kAlign, bytes);
    if (!p) throw std::bad_alloc();
    return p;
}

void aligned_release(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (bytes >= kCachedBlockBytes) {
        Cache& c = cache();
        std::lock_guard lock(c.mu);
        if (c.cached + bytes <= c.limit) {
            try {
                c.free_blocks[bytes].push_back(p);
                c.cached += bytes;
                return;
            } catch (...) {
                // no room for the bookkeeping: free it below
            }
        }
    }
    std::free(p);
}

void set_buffer_cache_limit(std::size_t bytes) {
    {
        std::lock_guard lock(cache().mu);
        cache().limit = bytes;
    }
    if (buffer_cache_bytes() > bytes) release_buffer_cache();
}

std::size_t buffer_cache_bytes() {
    std::lock_guard lock(cache().mu);
    return cache().cached;
}

void release_buffer_cache() {
    Cache& c = cache();
    std::lock_guard lock(c.mu);
    for (auto& [bytes, list] : c.free_blocks)
        for (void* p : list) std::free(p);
    c.free_blocks.clear();
    c.cached = 0;
}

}  // namespace hecnn::math
