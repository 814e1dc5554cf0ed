// A bounded cache of freed large blocks, keyed by exact size (see aligned_vector.h).
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
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

// Transparent huge pages for large blocks (set_huge_pages): a fault then maps 2 MiB
// instead of 4 KiB, and on virtual machines each fault is expensive (microseconds), so a
// fresh run's first touch of gigabytes of ciphertexts costs a fraction. The heap is
// advised as it grows: a block beyond the ranges advised so far advises from its 2 MiB
// page to kAhead past its end, so that the allocator's own writes just past a block
// (the next chunk's header) fall in advised memory before they fault. Ranges are kept
// merged; the memory they cover stays mapped (configure_allocator_for_inference never
// trims the heap), and blocks re-used from it cost no system call.
constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
constexpr std::uintptr_t kAhead = std::uintptr_t{64} << 20;

struct HugePages {
    std::mutex mu;
    bool on = false;
    std::map<std::uintptr_t, std::uintptr_t> advised;  // start → end, disjoint, merged
};

HugePages& huge_pages() {
    static HugePages* h = new HugePages;
    return *h;
}

void advise_huge(void* p, std::size_t bytes) {
    HugePages& h = huge_pages();
    std::lock_guard lock(h.mu);
    if (!h.on) return;
    const auto a = reinterpret_cast<std::uintptr_t>(p), e = a + bytes;
    auto it = h.advised.upper_bound(a);
    if (it != h.advised.begin() && std::prev(it)->second >= e) return;  // inside an advised range
    const std::uintptr_t start = a & ~(kHugePage - 1), end = (e + kAhead + kHugePage - 1) & ~(kHugePage - 1);
    // Beyond the mapped heap the call fails for the unmapped part (ENOMEM) and still
    // advises the mapped part; only [start, e) is known to be mapped, so only that is kept.
    (void)::madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
    std::uintptr_t lo = start, hi = e;
    it = h.advised.lower_bound(lo);
    if (it != h.advised.begin() && std::prev(it)->second >= lo) --it;
    while (it != h.advised.end() && it->first <= hi) {
        lo = std::min(lo, it->first), hi = std::max(hi, it->second);
        it = h.advised.erase(it);
    }
    h.advised.emplace(lo, hi);
}

}  // namespace

void set_huge_pages(bool on) {
    std::lock_guard lock(huge_pages().mu);
    huge_pages().on = on;
    if (!on) huge_pages().advised.clear();
}

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
    if (bytes >= kCachedBlockBytes) advise_huge(p, bytes);
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
