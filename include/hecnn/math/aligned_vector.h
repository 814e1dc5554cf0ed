// std::vector with 64-byte aligned storage whose elements are default-initialised
// (not zeroed) on resize: residue buffers are always fully written before being read,
// and zeroing hundreds of megabytes per layer would be pure waste.
//
// Large blocks (>= kCachedBlockBytes) go through a bounded process-wide cache of freed
// blocks (buffer_cache.cpp): a CNN layer frees and allocates thousands of ciphertexts
// of the same few sizes, and fresh pages cost a page fault and a kernel zeroing each.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace hecnn::math {

inline constexpr std::size_t kCachedBlockBytes = std::size_t{1} << 18;

// 64-byte aligned blocks; large ones are recycled through the cache.
void* aligned_acquire(std::size_t bytes);
void aligned_release(void* p, std::size_t bytes) noexcept;
// Upper bound on the bytes kept in the cache (default 1 GiB); 0 disables caching.
void set_buffer_cache_limit(std::size_t bytes);
std::size_t buffer_cache_bytes();
// Return every cached block to the system.
void release_buffer_cache();
// Advise transparent huge pages (madvise MADV_HUGEPAGE) for the heap that large blocks
// come from, as it grows (default off). Only for a heap that is never trimmed
// (he::configure_allocator_for_inference): a range once advised is not advised again.
void set_huge_pages(bool on);

template <class T>
struct AlignedAllocator {
    using value_type = T;
    static constexpr std::size_t kAlign = 64;
    AlignedAllocator() = default;
    template <class U>
    AlignedAllocator(const AlignedAllocator<U>&) {}
    static std::size_t bytes_for(std::size_t n) {
        const std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
        return bytes == 0 ? kAlign : bytes;
    }
    T* allocate(std::size_t n) { return static_cast<T*>(aligned_acquire(bytes_for(n))); }
    void deallocate(T* p, std::size_t n) noexcept { aligned_release(p, bytes_for(n)); }
    template <class U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;  // default-init: no zeroing
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
    template <class U>
    bool operator==(const AlignedAllocator<U>&) const { return true; }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace hecnn::math
