// Exact modular GEMM through FP64 fused multiply-adds (see include/hecnn/math/modgemm.h).
//
// Per call apply(q, in, out, n):
//  1. Plan (make_plan). Residues x in [0, q) are taken in balanced form |x| <= (q-1)/2
//     and split into dx balanced digits of xb bits (x = sum_i 2^(i xb) x_i, digits below
//     the top one in [-2^(xb-1), 2^(xb-1)), the top digit holds the rest). Weights:
//       direct: each weight is replaced by its smallest-magnitude representative mod q and
//               split into dw balanced digits of wb bits; piece (i, j) = sum_k x_i[k] w_j[k]
//               and S = sum_{i,j} 2^(i xb + j wb) piece(i, j);
//       folded: w'[k][i] = w[k] 2^(i xb) mod q (balanced, |w'| <= (q-1)/2), split into dw
//               digits; piece j = sum_{k,i} x_i[k] w'_j[k][i] and S = sum_j 2^(j wb) piece j.
//     Either way S is an integer congruent to the wanted output mod q.
//     Exactness. Digit bounds follow from the bound m on the value split (|x| <= (q-1)/2,
//     the largest weight representative, or (q-1)/2 for w'): a non-top digit is bounded by
//     min(2^(b-1), m_i), the remainder by m_(i+1) = floor((m_i + 2^(b-1)) / 2^b). The bound
//     B_p of a piece is (number of terms) x (digit bounds) summed over its terms, e.g.
//     K * X_i * W_j for a direct piece. The plan requires B_p < 2^51 for every piece (and
//     every digit < 2^51): every partial sum of the FMA chain is then an integer below
//     2^51 < 2^53, hence exact in FP64 in any order, and the final sums convert to int64
//     with the 1.5*2^52 constant. Among all (mode, dx, xb, dw, wb) that satisfy this and
//     the reduction condition below, the plan takes the one of least estimated cost (FMAs
//     per output, plus recombination per piece and digit splitting per input row).
//     Karatsuba (2 x 2 direct digits of a common size b, see modgemm.h) is one more
//     candidate: its three pieces are bounded by K X1 W1, K X0 W0 and K (X0 + X1)(W0 + W1)
//     (the digit sums are exact sums of two bounded digits), their recombination weights
//     c_p = 2^(2b) - 2^b, 1 - 2^b, 2^b enter A as |c_p| B_p, and the input digit rows gain a
//     third row x0 + x1 (the weights a third plane w0 + w1).
//  2. Kernel (Highway, dynamic dispatch). Columns are tiled so that a tile's digit rows
//     stay in cache; when K is large it is chunked (weights of a chunk in L2, the digits
//     of a column block in L1) and the sums of a block are parked between chunks. A
//     register block of 8 output rows x kCV vectors accumulates each piece with FMAs
//     (weight broadcast x digit vector).
//  3. Recombination, once per output. sw = S mod 2^64 is summed from the pieces in
//     wrapping int64 arithmetic (shift by the piece's exponent); sf ~ S is summed in FP64
//     and t = round(sf / q) is taken with one FMA against the 1.5*2^52 constant. With
//     A = sum_p 2^(s_p) B_p >= |S| and D pieces, |sf - S| <= D u A and the plan requires
//     A/q <= 2^51 / ((D+1) 1.01), so |S/q - t| <= 1/2 + 1/4 and r = S - t q has |r| < q:
//     it is exact in wrapping int64 (sw - t*q mod 2^64), and r += q if negative gives the
//     canonical residue.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "modgemm.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "hecnn/math/aligned_vector.h"
#include "hecnn/math/modgemm.h"

#ifndef HECNN_MODGEMM_CONTEXT_ONCE
#define HECNN_MODGEMM_CONTEXT_ONCE
namespace hecnn::math::modgemm_detail {

// One accumulated piece: rows (i, k) for i in [i_first, i_first + i_count), all k.
// Weight of row (i, k) for output o: w[(i - i_first) * w_digit_stride + k * opad + o].
struct Piece {
    int i_first = 0, i_count = 0;
    const double* w = nullptr;
    std::size_t w_digit_stride = 0;
    int shift = 0;       // recombination weight 2^shift (- 2^neg_shift if neg_shift >= 0)
    double scale = 1;    // the recombination weight as a double (exact)
    int neg_shift = -1;  // Karatsuba pieces: second, negative term of the weight
};

struct Context {
    u64 q = 0;
    double q_inv = 0;
    std::size_t rows = 0, cols = 0, opad = 0, n = 0;
    int x_digits = 1, x_digit_bits = 0;
    bool karatsuba = false;             // x_digits == 2; digit row 2 holds x0 + x1
    int x_rows = 1;                     // digit rows per input row (x_digits, + 1 for Karatsuba)
    std::size_t weight_rows_per_k = 1;  // weight rows (of opad doubles) read per input row
    const Piece* pieces = nullptr;
    std::size_t num_pieces = 0;
    u64 magic_bias = 0;  // sum over pieces of bits(kMagic) * (recombination weight) (mod 2^64)
    const u64* const* in = nullptr;
    u64* const* out = nullptr;
};

// Register block: R output rows; the row padding of the weights is a multiple of this.
constexpr std::size_t kRowBlock = 8;
// Cache budgets (bytes) of the tiling: digit rows of one column block of a K chunk (L1),
// weights of a K chunk, digits of a tile, parked sums of a chunked tile (L2).
constexpr std::size_t kL1Digits = 32 * 1024;
constexpr std::size_t kL2Weights = 192 * 1024;
constexpr std::size_t kL2Digits = 256 * 1024;
constexpr std::size_t kL2Acc = 128 * 1024;
constexpr std::size_t kMaxTileCols = 512;
// 1.5 * 2^52: for an integer |v| < 2^51, v + kMagic is exact and its bit pattern is
// bits(kMagic) + v, which converts between int64 and double in one add.
constexpr double kMagic = 6755399441055744.0;

}  // namespace hecnn::math::modgemm_detail
#endif

HWY_BEFORE_NAMESPACE();
namespace hecnn::math::modgemm_detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<double>;
using DI = hn::ScalableTag<std::int64_t>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;
constexpr std::size_t kL = hn::MaxLanes(DF());
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr std::size_t kCV = 3;  // AVX-512: 8 x 3 accumulators of 32 registers
#else
constexpr std::size_t kCV = 1;  // 8 x 1 accumulators (16 registers on AVX2)
#endif
constexpr std::size_t kCW = kCV * kL;  // columns per register block

struct Tiling {
    std::size_t tile = 0, chunk = 0;
};

Tiling ChooseTiling(const Context& c) {
    const std::size_t dx = static_cast<std::size_t>(c.x_rows), K = c.cols, D = c.num_pieces;
    const std::size_t kc_l1 = kL1Digits / (8 * dx * kCW);
    const std::size_t kc_w = kL2Weights / (8 * c.opad * c.weight_rows_per_k);
    Tiling t;
    std::size_t cols;
    if (K <= std::min(kc_l1, kc_w)) {
        t.chunk = K;
        cols = kL2Digits / (8 * dx * K);
    } else {
        t.chunk = std::max<std::size_t>(1, std::min(kc_l1, kc_w));
        cols = std::min(kL2Acc / (8 * D * c.opad), kL2Digits / (8 * dx * t.chunk));
    }
    cols = std::min(kMaxTileCols, cols) / kCW * kCW;
    const std::size_t n_pad = (c.n + kCW - 1) / kCW * kCW;
    t.tile = std::min(std::max(cols, kCW), n_pad);
    return t;
}

// Balanced digits of the columns [c0, c0 + width) of input rows [k0, k0 + kc) into
// xd[(i * kc + kk) * tile + col] (Karatsuba: i = 2 holds digit 0 + digit 1); columns
// width .. tile are zero.
void SplitDigits(const Context& c, std::size_t c0, std::size_t width, std::size_t tile, std::size_t k0,
                 std::size_t kc, double* HWY_RESTRICT xd) {
    const DF df;
    const DI di;
    const VI q = hn::Set(di, static_cast<std::int64_t>(c.q));
    const VI half = hn::Set(di, static_cast<std::int64_t>((c.q - 1) / 2));
    const VF magic = hn::Set(df, kMagic);
    const VI magic_i = hn::BitCast(di, magic);
    const int b = c.x_digit_bits, dx = c.x_digits;
    const std::size_t plane = kc * tile;
    // Exact int64 -> double for |d| < 2^51 (the plan bounds every digit so).
    const auto to_double = [&](VI d) { return hn::Sub(hn::BitCast(df, hn::Add(d, magic_i)), magic); };
    HWY_ALIGN std::int64_t tmp[kL];
    const bool prefetch = c0 + 2 * tile <= c.n;  // the next tile of each row is read next
    for (std::size_t kk = 0; kk < kc; ++kk) {
        const std::int64_t* src = reinterpret_cast<const std::int64_t*>(c.in[k0 + kk] + c0);
        double* dst = xd + kk * tile;
        for (std::size_t col = 0; col < tile; col += kL) {
            VI x;
            if (col + kL <= width) {
                x = hn::LoadU(di, src + col);
                if (prefetch && col % 8 == 0) __builtin_prefetch(src + col + tile);  // this row, next tile
            } else {
                for (std::size_t l = 0; l < kL; ++l) tmp[l] = col + l < width ? src[col + l] : 0;
                x = hn::Load(di, tmp);
            }
            x = hn::Sub(x, hn::IfThenElseZero(hn::Gt(x, half), q));  // balanced, |x| <= (q-1)/2
            double* p = dst + col;
            VF lo = hn::Zero(df);
            for (int i = 0; i + 1 < dx; ++i, p += plane) {
                const VI d = hn::ShiftRightSame(hn::ShiftLeftSame(x, 64 - b), 64 - b);
                lo = to_double(d);
                hn::Store(lo, df, p);
                x = hn::ShiftRightSame(hn::Sub(x, d), b);
            }
            const VF hi = to_double(x);
            hn::Store(hi, df, p);
            if (c.karatsuba) hn::Store(hn::Add(lo, hi), df, p + plane);  // exact: |x0 + x1| < 2^51
        }
    }
}

// One register block: 8 output rows x kCV vectors of columns, all pieces, rows of one K chunk.
// Unless kLast, the sums are parked in acc_buf ([(p * opad + o) * tile + col]) for the next
// chunk. On the last chunk the pieces go to stash ([p][o][kCW]) and are recombined.
template <bool kFirst, bool kLast>
HWY_NOINLINE void Block(const Context& c, const double* HWY_RESTRICT xd, std::size_t tile, std::size_t k0,
                        std::size_t kc, std::size_t ob, std::size_t cb, double* HWY_RESTRICT acc_buf,
                        double* HWY_RESTRICT stash, std::size_t c0, std::size_t width) {
    const DF df;
    const DI di;
    constexpr std::size_t R = kRowBlock;
    static_assert(kCV >= 1 && kCV <= 3, "accumulators are written out for kCV <= 3");
    const std::size_t opad = c.opad;
    const std::size_t plane = kc * tile;
    const std::size_t np = c.num_pieces;
    for (std::size_t p = 0; p < np; ++p) {
        const Piece& pc = c.pieces[p];
        VF a0[R], a1[R], a2[R];
        double* park = nullptr;
        if constexpr (!(kFirst && kLast)) park = acc_buf + (p * opad + ob) * tile + cb;
        for (std::size_t o = 0; o < R; ++o) {
            if constexpr (kFirst) {
                a0[o] = a1[o] = a2[o] = hn::Zero(df);
            } else {
                a0[o] = hn::Load(df, park + o * tile);
                if (kCV > 1) a1[o] = hn::Load(df, park + o * tile + kL);
                if (kCV > 2) a2[o] = hn::Load(df, park + o * tile + 2 * kL);
            }
        }
        for (int il = 0; il < pc.i_count; ++il) {
            const double* HWY_RESTRICT xr = xd + static_cast<std::size_t>(pc.i_first + il) * plane + cb;
            const double* HWY_RESTRICT wr = pc.w + static_cast<std::size_t>(il) * pc.w_digit_stride + k0 * opad + ob;
            for (std::size_t kk = 0; kk < kc; ++kk, xr += tile, wr += opad) {
                const VF x0 = hn::Load(df, xr);
                const VF x1 = kCV > 1 ? hn::Load(df, xr + kL) : x0;
                const VF x2 = kCV > 2 ? hn::Load(df, xr + 2 * kL) : x0;
                for (std::size_t o = 0; o < R; ++o) {
                    const VF w = hn::Set(df, wr[o]);
                    a0[o] = hn::MulAdd(w, x0, a0[o]);
                    if (kCV > 1) a1[o] = hn::MulAdd(w, x1, a1[o]);
                    if (kCV > 2) a2[o] = hn::MulAdd(w, x2, a2[o]);
                }
            }
        }
        double* dst = kLast ? stash + p * R * kCW : park;
        const std::size_t stride = kLast ? kCW : tile;
        for (std::size_t o = 0; o < R; ++o) {
            hn::Store(a0[o], df, dst + o * stride);
            if (kCV > 1) hn::Store(a1[o], df, dst + o * stride + kL);
            if (kCV > 2) hn::Store(a2[o], df, dst + o * stride + 2 * kL);
        }
    }
    if constexpr (kLast) {
        // S = sum_p 2^(s_p) P_p: mod 2^64 in int64 lanes (P_p + 1.5*2^52 reinterpreted is
        // P_p + bits(1.5*2^52), the constant is removed once), approximately in FP64.
        const VF q_inv = hn::Set(df, c.q_inv);
        const VF magic = hn::Set(df, kMagic);
        const VI magic_i = hn::BitCast(di, magic);
        const VI q = hn::Set(di, static_cast<std::int64_t>(c.q));
        const VI bias = hn::Set(di, static_cast<std::int64_t>(c.magic_bias));
        HWY_ALIGN std::int64_t tmp[kL];
        for (std::size_t o = 0; o < R && ob + o < c.rows; ++o) {
            std::int64_t* out = reinterpret_cast<std::int64_t*>(c.out[ob + o] + c0 + cb);
            for (std::size_t v = 0; v < kCV; ++v) {
                const double* src = stash + o * kCW + v * kL;
                VI sw = hn::Zero(di);
                VF sf = hn::Zero(df);
                for (const Piece* pc = c.pieces; pc != c.pieces + np; ++pc) {
                    const VF a = hn::Load(df, src);
                    src += R * kCW;
                    const VI ai = hn::BitCast(di, hn::Add(a, magic));
                    if (pc->shift < 64)  // 2^shift P vanishes mod 2^64 otherwise
                        sw = hn::Add(sw, hn::ShiftLeftSame(ai, pc->shift));
                    if (pc->neg_shift >= 0 && pc->neg_shift < 64)  // Karatsuba: - 2^neg_shift P
                        sw = hn::Sub(sw, hn::ShiftLeftSame(ai, pc->neg_shift));
                    sf = hn::MulAdd(a, hn::Set(df, pc->scale), sf);
                }
                sw = hn::Sub(sw, bias);
                const VI t = hn::Sub(hn::BitCast(di, hn::MulAdd(sf, q_inv, magic)), magic_i);  // round(S / q)
                VI r = hn::Sub(sw, hn::Mul(t, q));                                                // S - t q, |.| < q
                r = hn::Add(r, hn::And(hn::ShiftRight<63>(r), q));
                const std::size_t col = cb + v * kL;
                if (col + kL <= width) {
                    hn::StoreU(r, di, out + v * kL);
                } else if (col < width) {
                    hn::Store(r, di, tmp);
                    for (std::size_t l = 0; col + l < width; ++l) out[v * kL + l] = tmp[l];
                }
            }
        }
    }
}

void Run(const Context& c) {
    const Tiling t = ChooseTiling(c);
    const std::size_t dx = static_cast<std::size_t>(c.x_rows);
    AlignedVector<double> xd(dx * t.chunk * t.tile);
    AlignedVector<double> stash(c.num_pieces * kRowBlock * kCW);
    AlignedVector<double> acc_buf;
    if (t.chunk < c.cols) acc_buf.resize(c.num_pieces * c.opad * t.tile);
    for (std::size_t c0 = 0; c0 < c.n; c0 += t.tile) {
        const std::size_t width = std::min(t.tile, c.n - c0);
        const std::size_t used = (width + kCW - 1) / kCW * kCW;
        for (std::size_t k0 = 0; k0 < c.cols; k0 += t.chunk) {
            const std::size_t kc = std::min(t.chunk, c.cols - k0);
            const bool first = k0 == 0, last = k0 + kc == c.cols;
            SplitDigits(c, c0, width, t.tile, k0, kc, xd.data());
            auto* block = first ? (last ? &Block<true, true> : &Block<true, false>)
                                : (last ? &Block<false, true> : &Block<false, false>);
            for (std::size_t cb = 0; cb < used; cb += kCW)
                for (std::size_t ob = 0; ob < c.opad; ob += kRowBlock)
                    block(c, xd.data(), t.tile, k0, kc, ob, cb, acc_buf.data(), stash.data(), c0, width);
        }
    }
}

}  // namespace HWY_NAMESPACE
}  // namespace hecnn::math::modgemm_detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hecnn::math {
namespace modgemm_detail {

HWY_EXPORT(Run);

namespace {

// Bound on every piece (so on every partial sum of its FMA chain) and on every digit: below
// 2^51, for the magic-constant conversions (exact FP64 needs only 2^53).
constexpr u128 kExactLimit = (u128{1} << 51) - 1;
constexpr int kMaxDigits = 16;

u128 mul_sat(u128 a, u128 b) {
    constexpr u128 kSat = u128{1} << 127;
    if (a == 0 || b == 0) return 0;
    return a > kSat / b ? kSat : std::min(a * b, kSat);
}

// Bounds on the balanced digits (base 2^bits, `digits` of them) of any value in [-m, m].
struct Split {
    int digits = 1, bits = 0;
    u64 bound[kMaxDigits] = {};
    u64 max_bound = 0;
};

Split split_bounds(u64 m, int digits, int bits) {
    Split s;
    s.digits = digits;
    s.bits = bits;
    for (int i = 0; i + 1 < digits; ++i) {
        const u64 h = u64{1} << (bits - 1);
        s.bound[i] = std::min(h, m);
        m = (m + h) >> bits;  // |(v - d) / 2^bits| <= (|v| + 2^(bits-1)) / 2^bits
    }
    s.bound[digits - 1] = m;
    s.max_bound = *std::max_element(s.bound, s.bound + digits);
    return s;
}

// The split of [-m, m] (m < 2^62) into `digits` digits with the smallest largest digit.
Split best_split(u64 m, int digits) {
    if (digits == 1) return split_bounds(m, 1, 0);
    Split best = split_bounds(m, digits, 1);
    for (int bits = 2; bits <= 62; ++bits) {
        const Split s = split_bounds(m, digits, bits);
        if (s.max_bound < best.max_bound) best = s;
    }
    return best;
}

struct FullPlan {
    ModGemmPlan info;
    Split x, w;
    double cost = 0;
};

// Smallest-magnitude representative of w mod q.
std::int64_t min_representative(std::int64_t w, const Modulus& q) {
    const u64 m = q.reduce_signed(w);
    const std::int64_t bal =
        m > (q.value() - 1) / 2 ? -static_cast<std::int64_t>(q.value() - m) : static_cast<std::int64_t>(m);
    const u64 aw = w < 0 ? static_cast<u64>(-w) : static_cast<u64>(w);
    const u64 ab = bal < 0 ? static_cast<u64>(-bal) : static_cast<u64>(bal);
    return aw <= ab ? w : bal;
}

// Cost model, in FMAs per output: K * (digit products) FMAs, plus per piece its
// recombination, plus per digit row its splitting (shared by the `rows` outputs).
constexpr double kPieceCost = 3.0;
constexpr double kSplitCost = 2.0;
// Karatsuba: a piece's recombination has a second (negative) shift; the digit-sum row of an
// input costs one add and store.
constexpr double kKaratsubaPieceCost = 4.0;
constexpr double kSumRowCost = 1.0;

FullPlan make_plan(const Modulus& q, std::size_t rows, std::size_t cols, u64 w_direct_max) {
    const u64 half = (q.value() - 1) / 2;
    const double K = static_cast<double>(cols);
    const double qv = static_cast<double>(q.value());
    FullPlan best;
    bool found = false;
    const auto consider = [&](bool folded, const Split& xs, const Split& ws) {
        const std::size_t fmas = static_cast<std::size_t>(xs.digits) * static_cast<std::size_t>(ws.digits);
        const std::size_t D = folded ? static_cast<std::size_t>(ws.digits) : fmas;
        const double cost = static_cast<double>(fmas) * K + kPieceCost * static_cast<double>(D) +
                            kSplitCost * K * xs.digits / static_cast<double>(rows);
        if (found && cost >= best.cost) return;
        if (xs.max_bound > kExactLimit || ws.max_bound > kExactLimit) return;
        // Exactness: the bound of each piece, exactly (saturating 128-bit).
        u128 max_piece = 0;
        double a = 0;  // A = sum_p 2^(s_p) B_p (approximate; the test below has 1% slack)
        for (int j = 0; j < ws.digits; ++j) {
            if (folded) {
                u128 sum = 0;
                for (int i = 0; i < xs.digits; ++i) sum += xs.bound[i];
                const u128 b = mul_sat(mul_sat(cols, sum), ws.bound[j]);
                max_piece = std::max(max_piece, b);
                a += std::ldexp(static_cast<double>(b), j * ws.bits);
            } else {
                for (int i = 0; i < xs.digits; ++i) {
                    const u128 b = mul_sat(mul_sat(cols, xs.bound[i]), ws.bound[j]);
                    max_piece = std::max(max_piece, b);
                    a += std::ldexp(static_cast<double>(b), i * xs.bits + j * ws.bits);
                }
            }
        }
        if (max_piece > kExactLimit) return;
        // Reduction: |S/q - round(sf/q)| < 3/4.
        if (a / qv > std::ldexp(1.0, 51) / ((static_cast<double>(D) + 1) * 1.01)) return;
        found = true;
        best.cost = cost;
        best.x = xs;
        best.w = ws;
        best.info.folded = folded;
        best.info.x_digits = xs.digits;
        best.info.x_digit_bits = xs.bits;
        best.info.w_digits = ws.digits;
        best.info.w_digit_bits = ws.bits;
        best.info.pieces = D;
        best.info.fp64_macs_per_mac = fmas;
        best.info.max_piece_bound = static_cast<double>(max_piece);
    };
    Split w_direct[kMaxDigits], w_folded[kMaxDigits];
    for (int d = 1; d <= kMaxDigits; ++d) {
        w_direct[d - 1] = best_split(w_direct_max, d);
        w_folded[d - 1] = best_split(half, d);
    }
    for (int dx = 1; dx <= kMaxDigits; ++dx) {
        if (found && static_cast<double>(dx) * K >= best.cost) break;  // every later plan costs more
        const Split xs = best_split(half, dx);
        for (int dw = 1; dw <= kMaxDigits; ++dw) {
            consider(false, xs, w_direct[dw - 1]);
            consider(true, xs, w_folded[dw - 1]);
        }
    }
    // Karatsuba: x and w (the direct-mode weights) in 2 digits of a common size b; pieces
    // P_hi = sum x1 w1, P_lo = sum x0 w0, P_mid = sum (x0 + x1)(w0 + w1), S = P_hi (2^(2b) - 2^b)
    // + P_lo (1 - 2^b) + P_mid 2^b. Digit sums are bounded by X0 + X1 (resp. W0 + W1), so
    // B_mid = K (X0 + X1)(W0 + W1); A = sum_p |c_p| B_p. b <= 51 keeps the recombination
    // weights c_p (b significant bits) exact in FP64; among the exact b the one with the
    // smallest largest piece bound is taken.
    const double k_cost = 3.0 * K + kKaratsubaPieceCost * 3.0 +
                          (2.0 * kSplitCost + kSumRowCost) * K / static_cast<double>(rows);
    if (!found || k_cost < best.cost) {
        bool have = false;
        for (int b = 1; b <= 51; ++b) {
            const Split xs = split_bounds(half, 2, b), ws = split_bounds(w_direct_max, 2, b);
            const u128 xsum = u128{xs.bound[0]} + xs.bound[1], wsum = u128{ws.bound[0]} + ws.bound[1];
            if (xsum > kExactLimit || wsum > kExactLimit) continue;  // also bounds every digit
            const u128 b_hi = mul_sat(mul_sat(cols, xs.bound[1]), ws.bound[1]);
            const u128 b_lo = mul_sat(mul_sat(cols, xs.bound[0]), ws.bound[0]);
            const u128 b_mid = mul_sat(mul_sat(cols, xsum), wsum);
            const u128 max_piece = std::max({b_hi, b_lo, b_mid});
            if (max_piece > kExactLimit) continue;
            const double c_hi = std::ldexp(1.0, 2 * b) - std::ldexp(1.0, b), c_lo = std::ldexp(1.0, b) - 1.0;
            const double a = c_hi * static_cast<double>(b_hi) + c_lo * static_cast<double>(b_lo) +
                             std::ldexp(static_cast<double>(b_mid), b);
            if (a / qv > std::ldexp(1.0, 51) / (4.0 * 1.01)) continue;  // D = 3 pieces
            if (have && static_cast<double>(max_piece) >= best.info.max_piece_bound) continue;
            have = found = true;
            best.cost = k_cost;
            best.x = xs;
            best.w = ws;
            best.info = ModGemmPlan{};
            best.info.karatsuba = true;
            best.info.x_digits = 2;
            best.info.x_digit_bits = b;
            best.info.w_digits = 2;
            best.info.w_digit_bits = b;
            best.info.pieces = 3;
            best.info.fp64_macs_per_mac = 3;
            best.info.max_piece_bound = static_cast<double>(max_piece);
        }
    }
    if (!found) throw std::invalid_argument("ModGemm: no exact FP64 digit plan for K = " + std::to_string(cols));
    return best;
}

// x = sum_j 2^(j bits) d_j with balanced digits (the same recurrence as the kernel's).
void split_value(std::int64_t v, int digits, int bits, std::int64_t* d) {
    for (int j = 0; j + 1 < digits; ++j) {
        const std::int64_t lo = static_cast<std::int64_t>(static_cast<u64>(v) << (64 - bits)) >> (64 - bits);
        d[j] = lo;
        v = (v - lo) >> bits;
    }
    d[digits - 1] = v;
}

}  // namespace
}  // namespace modgemm_detail

// The plan and the weight digits for one modulus.
struct ModGemm::Prepared {
    u64 q = 0;
    modgemm_detail::FullPlan plan;
    std::size_t opad = 0;
    AlignedVector<double> wd;  // weight digits, [j][(i * K + k) * opad + o] (i only when folded)
    std::vector<modgemm_detail::Piece> pieces;
    u64 magic_bias = 0;
};

// Preparations by modulus, shared by copies of a ModGemm (the weights are immutable).
struct ModGemm::Cache {
    static constexpr std::size_t kMaxEntries = 64;
    std::mutex mutex;
    std::vector<std::shared_ptr<const Prepared>> entries;  // oldest first
};

ModGemm::ModGemm(std::span<const std::int64_t> w, std::size_t rows, std::size_t cols)
    : rows_(rows), cols_(cols), cache_(std::make_shared<Cache>()) {
    if (rows == 0 || cols == 0) throw std::invalid_argument("ModGemm: rows and cols must be positive");
    if (cols > w.size() / rows || w.size() != rows * cols)
        throw std::invalid_argument("ModGemm: weight count " + std::to_string(w.size()) + " != rows * cols");
    constexpr u64 kLimit = u64{1} << 62;
    for (std::int64_t x : w) {
        const u64 a = x < 0 ? u64{0} - static_cast<u64>(x) : static_cast<u64>(x);
        if (a >= kLimit) throw std::invalid_argument("ModGemm: weight magnitude must be below 2^62");
        max_abs_ = std::max(max_abs_, a);
    }
    w_.assign(w.begin(), w.end());
}

std::shared_ptr<const ModGemm::Prepared> ModGemm::prepare(const Modulus& q) const {
    using namespace modgemm_detail;
    if (q.value() < 3) throw std::invalid_argument("ModGemm: uninitialised modulus");
    if (cache_) {
        std::lock_guard<std::mutex> lock(cache_->mutex);
        for (const auto& e : cache_->entries)
            if (e->q == q.value()) return e;
    }
    auto p = std::make_shared<Prepared>();
    p->q = q.value();
    const u64 half = (q.value() - 1) / 2;
    const bool raw = max_abs_ <= half;  // direct mode can use the weights as they are
    u64 w_direct_max = max_abs_;
    if (!raw) {
        w_direct_max = 0;
        for (std::int64_t x : w_) {
            const std::int64_t r = min_representative(x, q);
            w_direct_max = std::max(w_direct_max, r < 0 ? u64{0} - static_cast<u64>(r) : static_cast<u64>(r));
        }
    }
    p->plan = make_plan(q, rows_, cols_, w_direct_max);
    const FullPlan& plan = p->plan;
    const std::size_t opad = (rows_ + kRowBlock - 1) / kRowBlock * kRowBlock;
    const int dx = plan.x.digits, dw = plan.w.digits;
    const std::size_t K = cols_;
    p->opad = opad;

    // Weight digits as doubles, [digit j][(i * K + k) * opad + o], rows o >= rows_ zero.
    // Karatsuba: planes w0, w1, w0 + w1.
    const std::size_t per_digit = (plan.info.folded ? static_cast<std::size_t>(dx) : 1) * K * opad;
    const std::size_t planes = static_cast<std::size_t>(dw) + (plan.info.karatsuba ? 1 : 0);
    p->wd.assign(planes * per_digit, 0.0);
    double* wd = p->wd.data();
    std::int64_t digits[kMaxDigits];
    if (plan.info.karatsuba) {
        for (std::size_t o = 0; o < rows_; ++o)
            for (std::size_t k = 0; k < K; ++k) {
                const std::int64_t w = w_[o * K + k];
                split_value(raw ? w : min_representative(w, q), 2, plan.w.bits, digits);
                wd[k * opad + o] = static_cast<double>(digits[0]);
                wd[per_digit + k * opad + o] = static_cast<double>(digits[1]);
                wd[2 * per_digit + k * opad + o] = static_cast<double>(digits[0] + digits[1]);
            }
    } else if (!plan.info.folded) {
        for (std::size_t o = 0; o < rows_; ++o)
            for (std::size_t k = 0; k < K; ++k) {
                const std::int64_t w = w_[o * K + k];
                split_value(raw ? w : min_representative(w, q), dw, plan.w.bits, digits);
                for (int j = 0; j < dw; ++j) wd[j * per_digit + k * opad + o] = static_cast<double>(digits[j]);
            }
    } else {
        for (int i = 0; i < dx; ++i) {
            const u64 scale = q.pow(2, static_cast<u64>(i) * static_cast<u64>(plan.x.bits));
            for (std::size_t o = 0; o < rows_; ++o)
                for (std::size_t k = 0; k < K; ++k) {
                    const u64 m = q.mul(q.reduce_signed(w_[o * K + k]), scale);
                    const std::int64_t bal =
                        m > half ? -static_cast<std::int64_t>(q.value() - m) : static_cast<std::int64_t>(m);
                    split_value(bal, dw, plan.w.bits, digits);
                    for (int j = 0; j < dw; ++j)
                        wd[j * per_digit + (static_cast<std::size_t>(i) * K + k) * opad + o] =
                            static_cast<double>(digits[j]);
                }
        }
    }
    if (plan.info.karatsuba) {
        const int b = plan.x.bits;
        p->pieces.push_back({1, 1, wd + per_digit, 0, 2 * b, 0, b});      // P_hi (2^(2b) - 2^b)
        p->pieces.push_back({0, 1, wd, 0, 0, 0, b});                      // P_lo (1 - 2^b)
        p->pieces.push_back({2, 1, wd + 2 * per_digit, 0, b, 0, -1});     // P_mid 2^b
    }
    for (int j = 0; j < dw && !plan.info.karatsuba; ++j) {
        if (plan.info.folded) {
            p->pieces.push_back({0, dx, wd + j * per_digit, K * opad, j * plan.w.bits, 0});
        } else {
            for (int i = 0; i < dx; ++i)
                p->pieces.push_back({i, 1, wd + j * per_digit, 0, i * plan.x.bits + j * plan.w.bits, 0});
        }
    }
    u64 magic_bits;
    std::memcpy(&magic_bits, &kMagic, sizeof magic_bits);
    for (Piece& pc : p->pieces) {
        pc.scale = std::ldexp(1.0, pc.shift) - (pc.neg_shift >= 0 ? std::ldexp(1.0, pc.neg_shift) : 0.0);
        if (pc.shift < 64) p->magic_bias += magic_bits << pc.shift;
        if (pc.neg_shift >= 0 && pc.neg_shift < 64) p->magic_bias -= magic_bits << pc.neg_shift;
    }

    if (!cache_) return p;  // moved-from object
    std::lock_guard<std::mutex> lock(cache_->mutex);
    for (const auto& e : cache_->entries)
        if (e->q == q.value()) return e;  // prepared concurrently by another thread
    if (cache_->entries.size() >= Cache::kMaxEntries) cache_->entries.erase(cache_->entries.begin());
    cache_->entries.push_back(p);
    return p;
}

ModGemmPlan ModGemm::plan(const Modulus& q) const { return prepare(q)->plan.info; }

void ModGemm::apply(const Modulus& q, const u64* const* in, u64* const* out, std::size_t n) const {
    using namespace modgemm_detail;
    if (q.value() < 3) throw std::invalid_argument("ModGemm::apply: uninitialised modulus");
    if (n == 0) return;
    if (in == nullptr || out == nullptr) throw std::invalid_argument("ModGemm::apply: null row pointers");
    const std::shared_ptr<const Prepared> p = prepare(q);
    Context c;
    c.q = q.value();
    c.q_inv = 1.0 / static_cast<double>(q.value());
    c.rows = rows_;
    c.cols = cols_;
    c.opad = p->opad;
    c.n = n;
    c.x_digits = p->plan.x.digits;
    c.x_digit_bits = p->plan.x.bits;
    c.karatsuba = p->plan.info.karatsuba;
    c.x_rows = p->plan.x.digits + (c.karatsuba ? 1 : 0);
    c.weight_rows_per_k = c.karatsuba ? 3
                                      : static_cast<std::size_t>(p->plan.w.digits) *
                                            (p->plan.info.folded ? p->plan.x.digits : 1);
    c.pieces = p->pieces.data();
    c.num_pieces = p->pieces.size();
    c.magic_bias = p->magic_bias;
    c.in = in;
    c.out = out;
    HWY_DYNAMIC_DISPATCH(Run)(c);
}

void modgemm_reference(const Modulus& q, std::span<const std::int64_t> w, std::size_t rows, std::size_t cols,
                       const u64* const* in, u64* const* out, std::size_t n) {
    if (rows == 0 || cols == 0 || cols > w.size() / rows || w.size() != rows * cols)
        throw std::invalid_argument("modgemm_reference: weight count != rows * cols");
    if (q.value() < 3) throw std::invalid_argument("modgemm_reference: uninitialised modulus");
    if (n == 0) return;
    if (in == nullptr || out == nullptr) throw std::invalid_argument("modgemm_reference: null row pointers");
    // Weights reduced to [0, q): every term is below 2^122, so 32 of them fit in 128 bits.
    constexpr std::size_t kFold = 32;
    std::vector<u64> wm(cols);
    std::vector<u128> acc(n);
    for (std::size_t o = 0; o < rows; ++o) {
        for (std::size_t k = 0; k < cols; ++k) wm[k] = q.reduce_signed(w[o * cols + k]);
        std::fill(acc.begin(), acc.end(), u128{0});
        for (std::size_t k = 0; k < cols; ++k) {
            const u64 wk = wm[k];
            const u64* x = in[k];
            for (std::size_t c = 0; c < n; ++c) acc[c] += static_cast<u128>(wk) * x[c];
            if ((k + 1) % kFold == 0 && k + 1 < cols)
                for (std::size_t c = 0; c < n; ++c) acc[c] = q.reduce128(acc[c]);
        }
        for (std::size_t c = 0; c < n; ++c) out[o][c] = q.reduce128(acc[c]);
    }
}

}  // namespace hecnn::math
#endif  // HWY_ONCE
