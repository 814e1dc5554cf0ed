// std::vector with 64-byte aligned storage whose elements are default-initialised
// (not zeroed) on resize: residue buffers are always fully written before being read,
// and zeroing hundreds of megabytes per layer would be pure waste.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace hecnn::math {

template <class T>
struct AlignedAllocator {
    using value_type = T;
    static constexpr std::size_t kAlign = 64;
    AlignedAllocator() = default;
    template <class U>
    AlignedAllocator(const AlignedAllocator<U>&) {}
    T* allocate(std::size_t n) {
        std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
        void* p = std::aligned_alloc(kAlign, bytes == 0 ? kAlign : bytes);
        if (!p) throw std::bad_alloc();
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) { std::free(p); }
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
