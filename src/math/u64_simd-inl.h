// 64-bit lane helpers shared by the vector kernels (NTT, element-wise): built from 32x32->64
// products because AVX-512 without IFMA and AVX2 have no 64x64 high multiply. Highway's
// per-target "-inl.h" pattern: included once per target after hwy/foreach_target.h.
#if defined(HECNN_MATH_U64_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HECNN_MATH_U64_SIMD_INL_H_
#undef HECNN_MATH_U64_SIMD_INL_H_
#else
#define HECNN_MATH_U64_SIMD_INL_H_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace hecnn::math::simd {
namespace HWY_NAMESPACE {

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

namespace hn = hwy::HWY_NAMESPACE;
using D64 = hn::ScalableTag<std::uint64_t>;
using V64 = hn::Vec<D64>;

// a_lo * b_lo as 64 bits, where _lo is the low 32-bit half of each 64-bit lane.
HWY_INLINE V64 Mul32(V64 a, V64 b) {
    const hn::Repartition<uint32_t, D64> d32;
    return hn::MulEven(hn::BitCast(d32, a), hn::BitCast(d32, b));
}

// The high 32-bit half of each lane moved to the low half; the new high half is garbage
// that Mul32 ignores (a shuffle is cheaper than a shift on some CPUs).
HWY_INLINE V64 HighHalf(V64 a) {
    const hn::Repartition<uint32_t, D64> d32;
    return hn::BitCast(D64(), hn::Shuffle2301(hn::BitCast(d32, a)));
}

// v >= m ? v - m : v. On AVX-512 for any v; on AVX2 (no unsigned 64-bit Min: select on the
// sign bit of v - m) for m <= 2^63 and v < m + 2^63 — every caller keeps values below 8q.
HWY_INLINE V64 ReduceOnce(V64 v, V64 m) {
#if HWY_TARGET <= HWY_AVX3
    return hn::Min(v, v - m);  // v < m wraps v - m around to a larger value; Min keeps v
#else
    const hn::RebindToSigned<D64> di;
    const V64 diff = v - m;
    return hn::BitCast(D64(), hn::IfNegativeThenElse(hn::BitCast(di, diff), hn::BitCast(di, v), hn::BitCast(di, diff)));
#endif
}

#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

}  // namespace HWY_NAMESPACE
}  // namespace hecnn::math::simd
HWY_AFTER_NAMESPACE();

#endif  // HECNN_MATH_U64_SIMD_INL_H_
