// Vector element-wise RNS kernels (Google Highway, dynamic dispatch) behind the functions
// of hecnn/math/elementwise.h; the scalar reference is elementwise_scalar.cpp.
//
// Techniques (all exact; each output is the canonical residue, so it equals the scalar one):
//  * No 64x64->128 multiply on AVX2/AVX-512 without IFMA: products are assembled from
//    32x32->64 MulEven pieces. AVX-512DQ has a native 64-bit low product; AVX2 builds it
//    from pieces as well.
//  * Multiplication by a fixed w (Shoup): the quotient floor(x·w_shoup / 2^64) is taken
//    from three of the four partial products (MulHiApprox), which can fall short by up to
//    2; the remainder x·w - quot·q is then in [0, 4q) and two conditional subtractions make
//    it canonical. Exact for any 64-bit x.
//  * Pointwise a·b mod q (MulMod): the 122-bit product from four MulEven pieces, then a
//    Barrett reduction with mu = floor(2^2k / q) (k = bit length of q) applied to
//    floor(a·b / 2^(k-1)), which fits one word; with mu pre-shifted to the top of a word
//    the quotient is one MulHiApprox. Remainder in [0, 5q), three conditional subtractions.
//  * Rescale: x + q - c(v) ≡ x + K - v + [v > q_l/2]·(q_l mod q) (mod q) for a multiple K
//    of q above q_l, which needs no reduction of v: Shoup multiplication accepts any word.
//  * Key-switching inner product: each product a·k is split into its four 32x32 partial
//    products and summed in three 64-bit column accumulators that cannot overflow (the
//    low and high halves of p00 and of p01 + p10 go to separate columns); one 128-bit
//    reduction per output: hi·(2^64 mod q) + lo with two Shoup multiplications. No
//    precomputed Shoup quotients of the key: they would double the key's 58 MB (N = 2^15)
//    in a loop that is already bound by reading it from memory. The columns go in blocks
//    of 256 and the digits in pairs (partial sums kept in L1), so that few input streams
//    are open at a time.
//  * Base conversion: lazy Shoup products in [0, 4t) summed in [0, 4t) (one conditional
//    subtraction each, 8t < 2^64 for t < 2^61); the centred count is summed in double
//    precision exactly as the scalar code does (separately rounded products, an empty asm
//    statement stops the compiler from fusing them into FMAs).
//
// Targets narrower than AVX2 (SSSE3, SSE4, EMU128/SCALAR) call the scalar kernels, as the
// NTT does; the vector loops also leave their last n mod L elements to the scalar code.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "elementwise_hwy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "u64_simd-inl.h"

#include <algorithm>
#include <vector>

#include "hecnn/math/elementwise.h"

HWY_BEFORE_NAMESPACE();
namespace hecnn::math::ew {
namespace HWY_NAMESPACE {

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2

namespace hn = hwy::HWY_NAMESPACE;
using D = hn::ScalableTag<u64>;
using V = hn::Vec<D>;
using DI = hn::RebindToSigned<D>;
using DF = hn::Repartition<double, D>;
using VF = hn::Vec<DF>;
constexpr std::size_t kLanes = hn::MaxLanes(D());

using simd::HWY_NAMESPACE::HighHalf;
using simd::HWY_NAMESPACE::Mul32;
using simd::HWY_NAMESPACE::ReduceOnce;

HWY_INLINE V Low32(V a) { return hn::And(a, hn::Set(D(), 0xFFFFFFFFull)); }

// a * b mod 2^64.
HWY_INLINE V MulLo(V a, V b) {
#if HWY_TARGET <= HWY_AVX3
    return a * b;  // AVX-512DQ vpmullq
#else
    return Mul32(a, b) + hn::ShiftLeft<32>(Mul32(a, HighHalf(b)) + Mul32(HighHalf(a), b));
#endif
}

// floor(x * ws / 2^64) - e with e in {0, 1, 2}: the three 32x32 partial products that reach
// the high word, without the lowest one and without the carries out of the low halves of
// the middle ones (three dropped parts, each below 2^64).
HWY_INLINE V MulHiApprox(V x, V x_hi, V ws, V ws_hi) {
    const V hilo = Mul32(x_hi, ws);
    const V lohi = Mul32(x, ws_hi);
    const V hihi = Mul32(x_hi, ws_hi);
    return hihi + hn::ShiftRight<32>(hilo) + hn::ShiftRight<32>(lohi);
}

// The modulus broadcast, with its multiples and pieces.
struct VMod {
    V q, q_hi, two_q, four_q;
};

HWY_INLINE VMod MakeMod(u64 q) {
    const D d;
    return {hn::Set(d, q), hn::Set(d, q >> 32), hn::Set(d, 2 * q), hn::Set(d, 4 * q)};
}

// A fixed multiplier w < q with its Shoup quotient, broadcast and split.
struct VMult {
    V w, w_hi, ws, ws_hi;
};

HWY_INLINE VMult MakeMult(u64 w, u64 ws) {
    const D d;
    return {hn::Set(d, w), hn::Set(d, w >> 32), hn::Set(d, ws), hn::Set(d, ws >> 32)};
}

// x * w mod q in [0, 4q) for any 64-bit x (Shoup with the quotient from MulHiApprox).
HWY_INLINE V MulShoup4(V x, const VMult& m, const VMod& md) {
    const V x_hi = HighHalf(x);
    const V quot = MulHiApprox(x, x_hi, m.ws, m.ws_hi);
#if HWY_TARGET <= HWY_AVX3
    return x * m.w - quot * md.q;
#else
    // Expand both low products into 32-bit pieces and share the recombination.
    const V quot_hi = HighHalf(quot);
    const V low = Mul32(x, m.w) - Mul32(quot, md.q);
    const V cross = Mul32(x, m.w_hi) + Mul32(x_hi, m.w) - Mul32(quot, md.q_hi) - Mul32(quot_hi, md.q);
    return low + hn::ShiftLeft<32>(cross);
#endif
}

// x mod q in [0, 4q) for any 64-bit x: Shoup with w = 1, whose quotient is floor(2^64 / q)
// (passed split as r, r_hi).
HWY_INLINE V Reduce4(V x, V r, V r_hi, const VMod& md) {
    return x - MulLo(MulHiApprox(x, HighHalf(x), r, r_hi), md.q);
}

// [0, 4q) -> [0, q)
HWY_INLINE V Canonical4(V v, const VMod& md) { return ReduceOnce(ReduceOnce(v, md.two_q), md.q); }

// Barrett constants of the pointwise product for a k-bit q: mu = floor(2^2k / q) < 2^(k+1)
// shifted left by 63 - k, so that floor(X·mu / 2^(k+1)) = floor(X·mu' / 2^64).
struct VBarrett {
    V mu, mu_hi;
    int shl, shr;  // 65 - k, k - 1
};

HWY_INLINE VBarrett MakeBarrett(u64 q) {
    const D d;
    const int k = Modulus::bit_length(q);
    const u64 mu = static_cast<u64>((static_cast<u128>(1) << (2 * k)) / q) << (63 - k);
    return {hn::Set(d, mu), hn::Set(d, mu >> 32), 65 - k, k - 1};
}

// a * b mod q for a, b < q < 2^61, canonical.
HWY_INLINE V MulMod(V a, V b, const VMod& md, const VBarrett& br) {
    const V a_hi = HighHalf(a), b_hi = HighHalf(b);
    const V p00 = Mul32(a, b), mid = Mul32(a, b_hi) + Mul32(a_hi, b), p11 = Mul32(a_hi, b_hi);  // mid < 2^62
    const V lo = p00 + hn::ShiftLeft<32>(mid);
    const V carry = hn::ShiftRight<32>(hn::ShiftRight<32>(p00) + Low32(mid));
    const V hi = p11 + hn::ShiftRight<32>(mid) + carry;
    // X = floor(a·b / 2^(k-1)) < 2^(k+1); its quotient estimate is at most 4 short.
    const V x = hn::Or(hn::ShiftLeftSame(hi, br.shl), hn::ShiftRightSame(lo, br.shr));
    const V quot = MulHiApprox(x, HighHalf(x), br.mu, br.mu_hi);
    const V r = lo - MulLo(quot, md.q);  // [0, 5q)
    return ReduceOnce(ReduceOnce(ReduceOnce(r, md.four_q), md.two_q), md.q);
}

// Scalar tails: the vector loops handle whole vectors only.
inline std::size_t VectorPart(std::size_t n) { return n - n % kLanes; }

void Add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    const D d;
    const V vq = hn::Set(d, q);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes)
        hn::StoreU(ReduceOnce(hn::LoadU(d, a + i) + hn::LoadU(d, b + i), vq), d, out + i);
    scalar::add(a + nv, b + nv, out + nv, n - nv, q);
}

void Sub(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    const D d;
    const V vq = hn::Set(d, q);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) {
        const V va = hn::LoadU(d, a + i), vb = hn::LoadU(d, b + i);
        const V diff = va - vb;
#if HWY_TARGET <= HWY_AVX3
        const V r = hn::IfThenElse(hn::Lt(va, vb), diff + vq, diff);
#else
        const DI di;  // a, b < 2^63: the sign of a - b tells a < b
        const V r = hn::BitCast(d, hn::IfNegativeThenElse(hn::BitCast(di, diff), hn::BitCast(di, diff + vq), hn::BitCast(di, diff)));
#endif
        hn::StoreU(r, d, out + i);
    }
    scalar::sub(a + nv, b + nv, out + nv, n - nv, q);
}

void Negate(const u64* a, u64* out, std::size_t n, u64 q) {
    const D d;
    const V vq = hn::Set(d, q), zero = hn::Zero(d);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) {
        const V va = hn::LoadU(d, a + i);
        hn::StoreU(hn::IfThenZeroElse(hn::Eq(va, zero), vq - va), d, out + i);
    }
    scalar::negate(a + nv, out + nv, n - nv, q);
}

void MulScalar(const u64* a, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    const D d;
    const VMod md = MakeMod(q);
    const VMult m = MakeMult(w, w_shoup);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) hn::StoreU(Canonical4(MulShoup4(hn::LoadU(d, a + i), m, md), md), d, out + i);
    scalar::mul_scalar(a + nv, w, w_shoup, out + nv, n - nv, q);
}

void Mul(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    const D d;
    const VMod md = MakeMod(q);
    const VBarrett br = MakeBarrett(q);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) hn::StoreU(MulMod(hn::LoadU(d, a + i), hn::LoadU(d, b + i), md, br), d, out + i);
    scalar::mul(a + nv, b + nv, out + nv, n - nv, q);
}

void MulAdd(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) {
    const D d;
    const VMod md = MakeMod(q);
    const VBarrett br = MakeBarrett(q);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) {
        const V p = MulMod(hn::LoadU(d, a + i), hn::LoadU(d, b + i), md, br);
        hn::StoreU(ReduceOnce(hn::LoadU(d, out + i) + p, md.q), d, out + i);
    }
    scalar::mul_add(a + nv, b + nv, out + nv, n - nv, q);
}

void SubMulScalar(const u64* a, const u64* v, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    const D d;
    const VMod md = MakeMod(q);
    const VMult m = MakeMult(w, w_shoup);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) {
        const V y = hn::LoadU(d, a + i) + md.q - hn::LoadU(d, v + i);  // the same word as the scalar code
        hn::StoreU(Canonical4(MulShoup4(y, m, md), md), d, out + i);
    }
    scalar::sub_mul_scalar(a + nv, v + nv, w, w_shoup, out + nv, n - nv, q);
}

void Rescale(const u64* x, const u64* last, u64* out, std::size_t n, const RescaleConstants& k) {
    const D d;
    const DI di;
    const VMod md = MakeMod(k.q);
    const VMult m = MakeMult(k.inv, k.inv_shoup);
    // x + q - c(v) ≡ x + K - v + [v > q_l/2]·(q_l mod q) with K = q·ceil(q_l / q) >= v:
    // a word below q + (q_l + q) + q < 2^63, congruent to the scalar one, and the Shoup
    // product reduces any word exactly.
    const V big_k = hn::Set(d, (k.ql + k.q - 1) / k.q * k.q);
    const V half = hn::Set(d, k.ql >> 1), qlm = hn::Set(d, k.ql_mod_q);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) {
        const V v = hn::LoadU(d, last + i);
        const auto upper = hn::RebindMask(d, hn::Gt(hn::BitCast(di, v), hn::BitCast(di, half)));  // both < 2^63
        const V y = hn::LoadU(d, x + i) + big_k - v + hn::IfThenElseZero(upper, qlm);
        hn::StoreU(Canonical4(MulShoup4(y, m, md), md), d, out + i);
    }
    scalar::rescale(x + nv, last + nv, out + nv, n - nv, k);
}

void CentredResidue(const u64* last, u64* out, std::size_t n, u64 q, u64 ql, u64 ql_mod_q) {
    const D d;
    const DI di;
    const VMod md = MakeMod(q);
    const u64 ratio = ~u64{0} / q;  // floor(2^64 / q), q odd
    const V r = hn::Set(d, ratio), r_hi = hn::Set(d, ratio >> 32);
    // (v - q_l) mod q = (v + q - (q_l mod q)) mod q; v + q < 2^62.
    const V half = hn::Set(d, ql >> 1), shift = hn::Set(d, q - ql_mod_q);
    const std::size_t nv = VectorPart(n);
    for (std::size_t i = 0; i < nv; i += kLanes) {
        const V v = hn::LoadU(d, last + i);
        const auto upper = hn::RebindMask(d, hn::Gt(hn::BitCast(di, v), hn::BitCast(di, half)));
        hn::StoreU(Canonical4(Reduce4(v + hn::IfThenElseZero(upper, shift), r, r_hi, md), md), d, out + i);
    }
    scalar::centred_residue(last + nv, out + nv, n - nv, q, ql, ql_mod_q);
}

// The exact sum Σ a·k in three column accumulators: lo32 = Σ low halves of p00 (weight
// 1), mid = Σ high halves of p00 + low halves of p01 + p10 (weight 2^32), hi = Σ p11 + high
// halves of p01 + p10 (weight 2^64). Each product adds below 2^32, 2^33 and 2^58 (the last
// because a·k < 2^122), so none of them can overflow while the exact sum is below 2^128.
struct Acc128 {
    V lo32, mid, hi;
};

HWY_INLINE void Accumulate(Acc128& s, V a, V a_hi, V k, V k_hi) {
    const V p00 = Mul32(a, k), cross = Mul32(a, k_hi) + Mul32(a_hi, k), p11 = Mul32(a_hi, k_hi);
    s.lo32 += Low32(p00);
    s.mid += hn::ShiftRight<32>(p00) + Low32(cross);
    s.hi += p11 + hn::ShiftRight<32>(cross);
}

// The accumulated sum mod q, canonical: (hi·2^64 + lo) ≡ hi·(2^64 mod q) + lo, both
// Shoup products in [0, 4q) for any words, their sum below 8q < 2^64.
struct VReduce128 {
    VMult r64;  // 2^64 mod q and its Shoup quotient
    V ratio, ratio_hi;
};

HWY_INLINE V Finish(const Acc128& s, const VReduce128& red, const VMod& md) {
    const V t = hn::ShiftRight<32>(s.lo32) + Low32(s.mid);  // < 2^39 + 2^32
    const V lo = hn::Or(hn::ShiftLeft<32>(t), Low32(s.lo32));
    const V hi = s.hi + hn::ShiftRight<32>(s.mid) + hn::ShiftRight<32>(t);
    const V r = MulShoup4(hi, red.r64, md) + Reduce4(lo, red.ratio, red.ratio_hi, md);  // [0, 8q)
    return Canonical4(ReduceOnce(r, md.four_q), md);
}

void InnerProduct(const u64* const* a, const u64* const* k0, const u64* const* k1, std::size_t digits, const u64* e0,
                  const u64* e1, u64 w, u64* out0, u64* out1, std::size_t n, u64 q) {
    const D d;
    const VMod md = MakeMod(q);
    const u64 r64 = static_cast<u64>((static_cast<u128>(1) << 64) % q);
    const u64 ratio = ~u64{0} / q;
    const VReduce128 red{MakeMult(r64, shoup_precompute(r64, q)), hn::Set(d, ratio), hn::Set(d, ratio >> 32)};
    const V vw = hn::Set(d, w), vw_hi = hn::Set(d, w >> 32);
    const std::size_t nv = VectorPart(n);
    // Columns in blocks whose partial sums stay in L1, the digits in pairs: only six input
    // streams are read at a time. With all digits at once (18 streams for 6 digits) the
    // hardware prefetchers keep up less well: ~30% slower from DRAM at N = 2^15.
    constexpr std::size_t kBlock = 256, kGroup = 2;
    HWY_ALIGN u64 partial[6 * kBlock];
    const V zero = hn::Zero(d);
    for (std::size_t x0 = 0; x0 < nv; x0 += kBlock) {
        const std::size_t len = std::min(kBlock, nv - x0);
        for (std::size_t j0 = 0;; j0 += kGroup) {
            const std::size_t j1 = std::min(digits, j0 + kGroup);
            for (std::size_t c = 0; c < len; c += kLanes) {
                const std::size_t x = x0 + c;
                Acc128 s0{zero, zero, zero}, s1{zero, zero, zero};
                if (j0 == 0) {
                    if (e0) {
                        const V e = hn::LoadU(d, e0 + x);
                        Accumulate(s0, e, HighHalf(e), vw, vw_hi);
                    }
                    if (out1 && e1) {
                        const V e = hn::LoadU(d, e1 + x);
                        Accumulate(s1, e, HighHalf(e), vw, vw_hi);
                    }
                } else {
                    s0 = {hn::Load(d, partial + c), hn::Load(d, partial + kBlock + c), hn::Load(d, partial + 2 * kBlock + c)};
                    s1 = {hn::Load(d, partial + 3 * kBlock + c), hn::Load(d, partial + 4 * kBlock + c), hn::Load(d, partial + 5 * kBlock + c)};
                }
                for (std::size_t j = j0; j < j1; ++j) {
                    const V va = hn::LoadU(d, a[j] + x), va_hi = HighHalf(va);
                    const V vk0 = hn::LoadU(d, k0[j] + x);
                    Accumulate(s0, va, va_hi, vk0, HighHalf(vk0));
                    if (out1) {
                        const V vk1 = hn::LoadU(d, k1[j] + x);
                        Accumulate(s1, va, va_hi, vk1, HighHalf(vk1));
                    }
                }
                if (j1 == digits) {
                    hn::StoreU(Finish(s0, red, md), d, out0 + x);
                    if (out1) hn::StoreU(Finish(s1, red, md), d, out1 + x);
                } else {
                    hn::Store(s0.lo32, d, partial + c);
                    hn::Store(s0.mid, d, partial + kBlock + c);
                    hn::Store(s0.hi, d, partial + 2 * kBlock + c);
                    hn::Store(s1.lo32, d, partial + 3 * kBlock + c);
                    hn::Store(s1.mid, d, partial + 4 * kBlock + c);
                    hn::Store(s1.hi, d, partial + 5 * kBlock + c);
                }
            }
            if (j1 == digits) break;
        }
    }
    if (nv == n) return;
    std::vector<const u64*> ta(digits), t0(digits), t1(out1 ? digits : 0);
    for (std::size_t j = 0; j < digits; ++j) {
        ta[j] = a[j] + nv;
        t0[j] = k0[j] + nv;
        if (out1) t1[j] = k1[j] + nv;
    }
    scalar::inner_product(ta.data(), t0.data(), t1.data(), digits, e0 ? e0 + nv : nullptr, out1 && e1 ? e1 + nv : nullptr, w,
                          out0 + nv, out1 ? out1 + nv : nullptr, n - nv, q);
}

// Forces a product to be rounded on its own (no contraction into an FMA with the sum).
HWY_INLINE VF Opaque(VF v) {
    __asm__("" : "+v"(v.raw));
    return v;
}

void ConvertCount(const u64* y, std::size_t stride, std::size_t s, const double* inv_q, u64* count, std::size_t len) {
    const D d;
    const DI di;
    const DF df;
    const std::size_t nv = VectorPart(len);
    const VF two52 = hn::Set(df, 4503599627370496.0);  // 2^52
    for (std::size_t c = 0; c < nv; c += kLanes) {
        VF v = hn::Set(df, 0.5);
        for (std::size_t i = 0; i < s; ++i) {
            // y < 2^63: the signed conversion is the unsigned one, correctly rounded.
            const VF yf = hn::ConvertTo(df, hn::BitCast(di, hn::LoadU(d, y + i * stride + c)));
            v = v + Opaque(yf * hn::Set(df, inv_q[i]));
        }
        // v in [0.5, s + 0.5) < 2^52: floor(v) + 2^52 is exact, its low mantissa bits are floor(v).
        const V f = hn::BitCast(d, hn::Floor(v) + two52) - hn::BitCast(d, two52);
        hn::StoreU(f, d, count + c);
    }
    scalar::convert_count(y + nv, stride, s, inv_q, count + nv, len - nv);
}

// convert_sum over whole vectors; kS > 0: exactly kS sources, their constants kept in
// registers (the common ModUp / ModDown sizes), kS = 0: any number s.
template <std::size_t kS>
HWY_INLINE void ConvertSumVectors(const u64* y, std::size_t stride, std::size_t s, const u64* pm, const u64* pm_shoup,
                                  const u64* count, const VMult& qm, const VMod& md, u64* out, std::size_t nv) {
    const D d;
    VMult fixed[kS > 0 ? kS : 1];
    for (std::size_t i = 0; i < kS; ++i) fixed[i] = MakeMult(pm[i], pm_shoup[i]);
    for (std::size_t c = 0; c < nv; c += kLanes) {
        V acc = hn::Zero(d);  // [0, 4t)
        for (std::size_t i = 0; i < (kS > 0 ? kS : s); ++i) {
            const VMult m = kS > 0 ? fixed[i] : MakeMult(pm[i], pm_shoup[i]);
            acc = ReduceOnce(acc + MulShoup4(hn::LoadU(d, y + i * stride + c), m, md), md.four_q);
        }
        if (count) acc = ReduceOnce(acc + md.four_q - MulShoup4(hn::LoadU(d, count + c), qm, md), md.four_q);
        hn::StoreU(Canonical4(acc, md), d, out + c);
    }
}

void ConvertSum(const u64* y, std::size_t stride, std::size_t s, const u64* pm, const u64* pm_shoup, const u64* count,
                u64 q_mod_t, u64 q_mod_t_shoup, u64* out, std::size_t len, u64 t) {
    const VMod md = MakeMod(t);
    const VMult qm = MakeMult(q_mod_t, q_mod_t_shoup);
    const std::size_t nv = VectorPart(len);
    switch (s) {
        case 1: ConvertSumVectors<1>(y, stride, s, pm, pm_shoup, count, qm, md, out, nv); break;
        case 2: ConvertSumVectors<2>(y, stride, s, pm, pm_shoup, count, qm, md, out, nv); break;
        case 3: ConvertSumVectors<3>(y, stride, s, pm, pm_shoup, count, qm, md, out, nv); break;
        case 4: ConvertSumVectors<4>(y, stride, s, pm, pm_shoup, count, qm, md, out, nv); break;
        default: ConvertSumVectors<0>(y, stride, s, pm, pm_shoup, count, qm, md, out, nv); break;
    }
    scalar::convert_sum(y + nv, stride, s, pm, pm_shoup, count ? count + nv : nullptr, q_mod_t, q_mod_t_shoup, out + nv,
                        len - nv, t);
}

#else  // SCALAR, EMU128, SSSE3, SSE4: the scalar kernels

void Add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { scalar::add(a, b, out, n, q); }
void Sub(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { scalar::sub(a, b, out, n, q); }
void Negate(const u64* a, u64* out, std::size_t n, u64 q) { scalar::negate(a, out, n, q); }
void MulScalar(const u64* a, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    scalar::mul_scalar(a, w, w_shoup, out, n, q);
}
void Mul(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { scalar::mul(a, b, out, n, q); }
void MulAdd(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { scalar::mul_add(a, b, out, n, q); }
void SubMulScalar(const u64* a, const u64* v, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    scalar::sub_mul_scalar(a, v, w, w_shoup, out, n, q);
}
void Rescale(const u64* x, const u64* last, u64* out, std::size_t n, const RescaleConstants& k) {
    scalar::rescale(x, last, out, n, k);
}
void CentredResidue(const u64* last, u64* out, std::size_t n, u64 q, u64 ql, u64 ql_mod_q) {
    scalar::centred_residue(last, out, n, q, ql, ql_mod_q);
}
void InnerProduct(const u64* const* a, const u64* const* k0, const u64* const* k1, std::size_t digits, const u64* e0,
                  const u64* e1, u64 w, u64* out0, u64* out1, std::size_t n, u64 q) {
    scalar::inner_product(a, k0, k1, digits, e0, e1, w, out0, out1, n, q);
}
void ConvertCount(const u64* y, std::size_t stride, std::size_t s, const double* inv_q, u64* count, std::size_t len) {
    scalar::convert_count(y, stride, s, inv_q, count, len);
}
void ConvertSum(const u64* y, std::size_t stride, std::size_t s, const u64* pm, const u64* pm_shoup, const u64* count,
                u64 q_mod_t, u64 q_mod_t_shoup, u64* out, std::size_t len, u64 t) {
    scalar::convert_sum(y, stride, s, pm, pm_shoup, count, q_mod_t, q_mod_t_shoup, out, len, t);
}

#endif

std::int64_t Target() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace hecnn::math::ew
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hecnn::math::ew {

HWY_EXPORT(Add);
HWY_EXPORT(Sub);
HWY_EXPORT(Negate);
HWY_EXPORT(MulScalar);
HWY_EXPORT(Mul);
HWY_EXPORT(MulAdd);
HWY_EXPORT(SubMulScalar);
HWY_EXPORT(Rescale);
HWY_EXPORT(CentredResidue);
HWY_EXPORT(InnerProduct);
HWY_EXPORT(ConvertCount);
HWY_EXPORT(ConvertSum);
HWY_EXPORT(Target);

void add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { HWY_DYNAMIC_DISPATCH(Add)(a, b, out, n, q); }
void sub(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { HWY_DYNAMIC_DISPATCH(Sub)(a, b, out, n, q); }
void negate(const u64* a, u64* out, std::size_t n, u64 q) { HWY_DYNAMIC_DISPATCH(Negate)(a, out, n, q); }
void mul_scalar(const u64* a, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    HWY_DYNAMIC_DISPATCH(MulScalar)(a, w, w_shoup, out, n, q);
}
void mul(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { HWY_DYNAMIC_DISPATCH(Mul)(a, b, out, n, q); }
void mul_add(const u64* a, const u64* b, u64* out, std::size_t n, u64 q) { HWY_DYNAMIC_DISPATCH(MulAdd)(a, b, out, n, q); }
void sub_mul_scalar(const u64* a, const u64* v, u64 w, u64 w_shoup, u64* out, std::size_t n, u64 q) {
    HWY_DYNAMIC_DISPATCH(SubMulScalar)(a, v, w, w_shoup, out, n, q);
}
void rescale(const u64* x, const u64* last, u64* out, std::size_t n, const RescaleConstants& k) {
    HWY_DYNAMIC_DISPATCH(Rescale)(x, last, out, n, k);
}
void centred_residue(const u64* last, u64* out, std::size_t n, u64 q, u64 ql, u64 ql_mod_q) {
    HWY_DYNAMIC_DISPATCH(CentredResidue)(last, out, n, q, ql, ql_mod_q);
}
void inner_product(const u64* const* a, const u64* const* k0, const u64* const* k1, std::size_t digits, const u64* e0,
                   const u64* e1, u64 w, u64* out0, u64* out1, std::size_t n, u64 q) {
    HWY_DYNAMIC_DISPATCH(InnerProduct)(a, k0, k1, digits, e0, e1, w, out0, out1, n, q);
}
void convert_count(const u64* y, std::size_t stride, std::size_t s, const double* inv_q, u64* count, std::size_t len) {
    HWY_DYNAMIC_DISPATCH(ConvertCount)(y, stride, s, inv_q, count, len);
}
void convert_sum(const u64* y, std::size_t stride, std::size_t s, const u64* pm, const u64* pm_shoup, const u64* count,
                 u64 q_mod_t, u64 q_mod_t_shoup, u64* out, std::size_t len, u64 t) {
    HWY_DYNAMIC_DISPATCH(ConvertSum)(y, stride, s, pm, pm_shoup, count, q_mod_t, q_mod_t_shoup, out, len, t);
}

std::int64_t dispatched_target() { return HWY_DYNAMIC_DISPATCH(Target)(); }

// Must be evaluated in this file: HWY_TARGETS (the compiled set) is per translation unit.
std::vector<std::int64_t> runnable_targets() { return hwy::SupportedAndGeneratedTargets(); }

}  // namespace hecnn::math::ew
#endif  // HWY_ONCE
