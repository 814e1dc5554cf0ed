// Vector negacyclic NTT (Google Highway, dynamic dispatch) behind NTTTables::forward and
// NTTTables::inverse.
//
// Same algorithm and lazy bounds as the scalar reference in ntt_scalar.cpp: Cooley-Tukey
// forward / Gentleman-Sande inverse with Harvey's butterflies (values in [0, 4q) forward,
// [0, 2q) inverse between stages) and Shoup multiplication. Outputs are canonical, so they
// are bit-identical to the scalar ones.
//
// Three things differ from a plain transliteration:
//  * AVX2/AVX-512 have no 64x64->128 multiply (and we do not assume IFMA), so the Shoup
//    quotient is assembled from 32x32->64 MulEven products; it may fall short by up to 2,
//    which one extra conditional subtraction absorbs (MulShoupLazy). AVX2 also lacks a
//    64-bit low product, so there the low words come from MulEven pieces too.
//  * The stages whose butterfly gap is below the vector width L are done in registers on
//    chunks of 2L coefficients: before each such stage the two vectors exchange the lane
//    bit of that gap with the "which vector" bit (SwapLaneBit), so that butterfly partners
//    sit in the same lane of x and y; the exchanges are undone afterwards.
//  * The inverse folds the 1/N scaling into its last stage, the forward folds the final
//    reduction to [0, q) into its last stage.
//
// Targets narrower than AVX2 (SSSE3, SSE4, EMU128/SCALAR) call the scalar kernels: with
// two 64-bit lanes the emulated products cost more than they save (measured 0.5-0.8x of
// scalar speed).

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ntt_hwy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "u64_simd-inl.h"

#include "ntt_kernels.h"
#include "ntt_tables.h"

HWY_BEFORE_NAMESPACE();
namespace hecnn::math::detail {
namespace HWY_NAMESPACE {

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

namespace hn = hwy::HWY_NAMESPACE;
using D = hn::ScalableTag<u64>;
using V = hn::Vec<D>;
constexpr std::size_t kLanes = hn::MaxLanes(D());
static_assert(kLanes == 4 || kLanes == 8, "SwapLaneBit covers AVX2 and AVX-512 widths only");
// log2(kLanes) - 1: the in-register stages handle gaps 2^0 .. 2^kTopBit.
constexpr int kTopBit = kLanes == 4 ? 1 : 2;

// The modulus broadcast, with the pieces the multiplications need.
struct VModulus {
    V q, two_q, q_hi;  // q_hi = q >> 32
};

// A multiplier w < q with its Shoup quotient ws = floor(w * 2^64 / q), split in 32-bit
// halves for the MulEven products.
struct Twiddle {
    V w, w_hi, ws, ws_hi;
};

HWY_INLINE Twiddle MakeTwiddle(V w, V ws) {
    return {w, hn::ShiftRight<32>(w), ws, hn::ShiftRight<32>(ws)};
}

HWY_INLINE Twiddle BroadcastTwiddle(u64 w, u64 ws) {
    const D d;
    return MakeTwiddle(hn::Set(d, w), hn::Set(d, ws));
}

using simd::HWY_NAMESPACE::HighHalf;
using simd::HWY_NAMESPACE::Mul32;
using simd::HWY_NAMESPACE::ReduceOnce;

// floor(x * ws / 2^64) - e with e in {0, 1, 2}: the three 32x32 partial products that reach
// the high word, without the lowest one and without the carries out of the low halves of
// the middle ones. Each of the three dropped parts is below 2^64 in the 128-bit product
// x * ws, so together they shift the floor by at most 2.
HWY_INLINE V MulHiApprox(V x, V x_hi, const Twiddle& tw) {
    const V hilo = Mul32(x_hi, tw.ws);
    const V lohi = Mul32(x, tw.ws_hi);
    const V hihi = Mul32(x_hi, tw.ws_hi);
    return hihi + hn::ShiftRight<32>(hilo) + hn::ShiftRight<32>(lohi);
}

// x * w mod q in [0, 2q) for any 64-bit x: Shoup's method (as mul_shoup_lazy) with the
// quotient from MulHiApprox, which saves a quarter of the multiplications. With the exact
// quotient Q, x * w - Q * q = r is in [0, 2q); with Q - e it is r + e * q < 4q < 2^63, and
// one conditional subtraction of 2q brings it back to [0, 2q). The result may differ from
// mul_shoup_lazy's by q; the transforms' final reductions to [0, q) make that invisible.
HWY_INLINE V MulShoupLazy(V x, const Twiddle& tw, const VModulus& m) {
    const V x_hi = HighHalf(x);
    const V quot = MulHiApprox(x, x_hi, tw);
#if HWY_TARGET <= HWY_AVX3
    const V r = x * tw.w - quot * m.q;  // native 64-bit low product (AVX-512DQ)
#else
    // Without a 64-bit low product, expand both products into 32-bit pieces and share the
    // recombination: only the low 32 bits of the cross terms survive the shift.
    const V quot_hi = HighHalf(quot);
    const V low = Mul32(x, tw.w) - Mul32(quot, m.q);
    const V cross = Mul32(x, tw.w_hi) + Mul32(x_hi, tw.w) - Mul32(quot, m.q_hi) - Mul32(quot_hi, m.q);
    const V r = low + hn::ShiftLeft<32>(cross);
#endif
    return ReduceOnce(r, m.two_q);
}

// Cooley-Tukey butterfly: x, y in [0, 4q) -> x + wy, x - wy in [0, 4q).
HWY_INLINE void ForwardButterfly(V& x, V& y, const Twiddle& tw, const VModulus& m) {
    const V u = ReduceOnce(x, m.two_q);
    const V v = MulShoupLazy(y, tw, m);
    x = u + v;
    y = u + m.two_q - v;
}

// Gentleman-Sande butterfly: x, y in [0, 2q) -> x + y, (x - y) w in [0, 2q).
HWY_INLINE void InverseButterfly(V& x, V& y, const Twiddle& tw, const VModulus& m) {
    const V u = x;
    x = ReduceOnce(u + y, m.two_q);
    y = MulShoupLazy(u + m.two_q - y, tw, m);
}

// Treat (x, y) as 2L consecutive coefficients and exchange the "which vector" bit with
// lane bit kBit: afterwards coefficients 2^kBit apart in the chunk share a lane of x and y.
// Every variant is an involution, so calling it again restores the layout.
template <int kBit>
HWY_INLINE void SwapLaneBit(V& x, V& y) {
    const D d;
    V lo, hi;
    if constexpr (kBit == 0) {  // neighbours: 64-bit lanes within each 128-bit block
        lo = hn::InterleaveLower(d, x, y);
        hi = hn::InterleaveUpper(d, x, y);
    } else if constexpr (kBit == kTopBit) {  // vector halves
        lo = hn::ConcatLowerLower(d, y, x);
        hi = hn::ConcatUpperUpper(d, y, x);
    } else {  // kBit == 1 with 8 lanes: 128-bit blocks within each half
        static_assert(kBit == 1 && kLanes == 8);
        lo = hn::OddEvenBlocks(hn::SwapAdjacentBlocks(y), x);
        hi = hn::OddEvenBlocks(y, hn::SwapAdjacentBlocks(x));
    }
    x = lo;
    y = hi;
}

// Constants of one transform, shared by its stages.
struct Context {
    const u64* psi;  // psi or inv_psi (bit-reversed powers)
    const u64* psi_shoup;
    std::size_t n;
    VModulus mod;
};

// Twiddles of the in-register stage with gap 2^kBit for chunk c. After the SwapLaneBit calls
// leading to that stage, lane l of the chunk belongs to butterfly group (l >> kBit) of the
// chunk's (L >> kBit) consecutive groups, so the contiguous twiddles are spread accordingly.
template <int kBit>
HWY_INLINE Twiddle ChunkTwiddle(const Context& ctx, std::size_t c) {
    const D d;
    const std::size_t first = (ctx.n >> (kBit + 1)) + c * (kLanes >> kBit);
    V w = hn::LoadU(d, ctx.psi + first);
    V ws = hn::LoadU(d, ctx.psi_shoup + first);
    if constexpr (kBit > 0) {
        const auto idx = hn::IndicesFromVec(d, hn::ShiftRight<kBit>(hn::Iota(d, 0)));
        w = hn::TableLookupLanes(w, idx);
        ws = hn::TableLookupLanes(ws, idx);
    }
    return MakeTwiddle(w, ws);
}

// Forward stages with gaps 2^kBit, ..., 1 on one chunk, then the final reduction to [0, q).
template <int kBit>
HWY_INLINE void ForwardChunkStages(V& x, V& y, const Context& ctx, std::size_t c) {
    SwapLaneBit<kBit>(x, y);
    ForwardButterfly(x, y, ChunkTwiddle<kBit>(ctx, c), ctx.mod);
    if constexpr (kBit > 0) {
        ForwardChunkStages<kBit - 1>(x, y, ctx, c);
    } else {
        x = ReduceOnce(ReduceOnce(x, ctx.mod.two_q), ctx.mod.q);
        y = ReduceOnce(ReduceOnce(y, ctx.mod.two_q), ctx.mod.q);
    }
    SwapLaneBit<kBit>(x, y);
}

// Inverse stages with gaps 1, ..., 2^kBit on one chunk (smallest gap first).
template <int kBit>
HWY_INLINE void InverseChunkStages(V& x, V& y, const Context& ctx, std::size_t c) {
    SwapLaneBit<kBit>(x, y);
    if constexpr (kBit > 0) InverseChunkStages<kBit - 1>(x, y, ctx, c);
    InverseButterfly(x, y, ChunkTwiddle<kBit>(ctx, c), ctx.mod);
    SwapLaneBit<kBit>(x, y);
}

// One stage whose gap is a multiple of the vector width (Cooley-Tukey butterflies forward,
// Gentleman-Sande inverse; ctx holds the direction's twiddles).
template <bool kForward>
void Stage(const Context& ctx, u64* a, std::size_t m, std::size_t gap) {
    const D d;
    const VModulus mod = ctx.mod;  // a local copy stays in registers across the stores to a
    for (std::size_t i = 0; i < m; ++i) {
        const Twiddle tw = BroadcastTwiddle(ctx.psi[m + i], ctx.psi_shoup[m + i]);
        u64* x = a + 2 * i * gap;
        u64* y = x + gap;
        for (std::size_t j = 0; j < gap; j += kLanes) {
            V vx = hn::LoadU(d, x + j), vy = hn::LoadU(d, y + j);
            if constexpr (kForward) ForwardButterfly(vx, vy, tw, mod);
            else InverseButterfly(vx, vy, tw, mod);
            hn::StoreU(vx, d, x + j);
            hn::StoreU(vy, d, y + j);
        }
    }
}

// The inverse's last stage (one group, gap n/2) with the 1/N scaling folded in:
// x' = (x + y) / N and y' = (x - y) psi^-1 / N, both reduced to [0, q).
void InverseLastStage(const NTTTables::Tables& t, const Context& ctx, u64* a) {
    const D d;
    const Twiddle inv_n = BroadcastTwiddle(t.inv_n, t.inv_n_shoup);
    const Twiddle w_inv_n = BroadcastTwiddle(t.inv_psi1_n, t.inv_psi1_n_shoup);
    const std::size_t half = ctx.n / 2;
    const VModulus mod = ctx.mod;
    for (std::size_t j = 0; j < half; j += kLanes) {
        const V u = hn::LoadU(d, a + j), v = hn::LoadU(d, a + half + j);
        const V x = MulShoupLazy(u + v, inv_n, mod);
        const V y = MulShoupLazy(u + mod.two_q - v, w_inv_n, mod);
        hn::StoreU(ReduceOnce(x, mod.q), d, a + j);
        hn::StoreU(ReduceOnce(y, mod.q), d, a + half + j);
    }
}

Context MakeContext(const NTTTables& t, const std::vector<u64>& psi, const std::vector<u64>& psi_shoup) {
    const D d;
    const u64 q = t.modulus().value();
    return {psi.data(), psi_shoup.data(), t.n(), {hn::Set(d, q), hn::Set(d, 2 * q), hn::Set(d, q >> 32)}};
}

void Forward(const NTTTables& t, u64* a) {
    const std::size_t n = t.n();
    if (n < 2 * kLanes) return ntt_forward_scalar(t, a);
    const Context ctx = MakeContext(t, t.tables().psi, t.tables().psi_shoup);
    std::size_t m = 1, gap = n / 2;
    for (; gap >= kLanes; m <<= 1, gap >>= 1) Stage<true>(ctx, a, m, gap);
    const D d;
    for (std::size_t c = 0; c < n / (2 * kLanes); ++c) {
        u64* p = a + 2 * kLanes * c;
        V x = hn::LoadU(d, p), y = hn::LoadU(d, p + kLanes);
        ForwardChunkStages<kTopBit>(x, y, ctx, c);
        hn::StoreU(x, d, p);
        hn::StoreU(y, d, p + kLanes);
    }
}

void Inverse(const NTTTables& t, u64* a) {
    const std::size_t n = t.n();
    if (n < 2 * kLanes) return ntt_inverse_scalar(t, a);
    const Context ctx = MakeContext(t, t.tables().inv_psi, t.tables().inv_psi_shoup);
    const D d;
    for (std::size_t c = 0; c < n / (2 * kLanes); ++c) {
        u64* p = a + 2 * kLanes * c;
        V x = hn::LoadU(d, p), y = hn::LoadU(d, p + kLanes);
        InverseChunkStages<kTopBit>(x, y, ctx, c);
        hn::StoreU(x, d, p);
        hn::StoreU(y, d, p + kLanes);
    }
    std::size_t m = n / (2 * kLanes), gap = kLanes;
    for (; m > 1; m >>= 1, gap <<= 1) Stage<false>(ctx, a, m, gap);
    InverseLastStage(t.tables(), ctx, a);
}

#else  // SCALAR, EMU128, SSSE3, SSE4

void Forward(const NTTTables& t, u64* a) { ntt_forward_scalar(t, a); }
void Inverse(const NTTTables& t, u64* a) { ntt_inverse_scalar(t, a); }

#endif

std::int64_t Target() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace hecnn::math::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hecnn::math {
namespace detail {

HWY_EXPORT(Forward);
HWY_EXPORT(Inverse);
HWY_EXPORT(Target);

std::int64_t ntt_dispatched_target() { return HWY_DYNAMIC_DISPATCH(Target)(); }

// Must be evaluated in this file: HWY_TARGETS (the compiled set) is per translation unit.
std::vector<std::int64_t> ntt_runnable_targets() {
    return hwy::SupportedAndGeneratedTargets();  // lowest target bit, i.e. the best, first
}

}  // namespace detail

void NTTTables::forward(u64* a) const { HWY_DYNAMIC_DISPATCH(detail::Forward)(*this, a); }
void NTTTables::inverse(u64* a) const { HWY_DYNAMIC_DISPATCH(detail::Inverse)(*this, a); }

}  // namespace hecnn::math
#endif  // HWY_ONCE
