// Word-sized modular arithmetic for primes q < 2^61.
//
// Everything here is header-only and inline because it sits in the innermost loops of
// the NTT, the key switching and the linear maps. The 61-bit ceiling leaves headroom for
// the lazy reductions of Harvey's butterflies (values kept in [0, 4q) < 2^63).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace hecnn::math {

using u64 = std::uint64_t;
using u128 = unsigned __int128;

inline constexpr int kMaxModulusBits = 61;

inline u64 mulhi64(u64 a, u64 b) { return static_cast<u64>((static_cast<u128>(a) * b) >> 64); }

// Precomputed quotient for Shoup multiplication by a fixed operand w: floor(w * 2^64 / q).
inline u64 shoup_precompute(u64 w, u64 q) { return static_cast<u64>((static_cast<u128>(w) << 64) / q); }

// x * w mod q in [0, 2q) for any 64-bit x, given w < q and its Shoup quotient.
inline u64 mul_shoup_lazy(u64 x, u64 w, u64 w_shoup, u64 q) { return x * w - mulhi64(x, w_shoup) * q; }

inline u64 mul_shoup(u64 x, u64 w, u64 w_shoup, u64 q) {
    u64 r = mul_shoup_lazy(x, w, w_shoup, q);
    return r >= q ? r - q : r;
}

// A prime modulus with its Barrett constant floor(2^128 / q) (two words).
class Modulus {
public:
    Modulus() = default;
    explicit Modulus(u64 q) : q_(q) {
        if (q < 3 || (q & 1) == 0 || bit_length(q) > kMaxModulusBits)
            throw std::invalid_argument("Modulus: " + std::to_string(q) + " must be odd, >= 3 and below 2^61");
        // floor(2^128 / q) computed as floor((2^128 - 1) / q): equal since q is odd (> 1).
        u128 all = ~static_cast<u128>(0);
        u128 ratio = all / q;
        ratio_hi_ = static_cast<u64>(ratio >> 64);
        ratio_lo_ = static_cast<u64>(ratio);
        ratio64_ = static_cast<u64>(~u64{0} / q);  // floor(2^64 / q), q odd
    }

    u64 value() const { return q_; }
    int bits() const { return bit_length(q_); }

    // x mod q for any 128-bit x (Barrett with the two-word constant).
    u64 reduce128(u128 x) const {
        const u64 xlo = static_cast<u64>(x), xhi = static_cast<u64>(x >> 64);
        // quotient estimate = floor(x * ratio / 2^128), off by at most 2 downwards
        u128 t = static_cast<u128>(xlo) * ratio_hi_ + mulhi64(xlo, ratio_lo_);
        u128 t2 = static_cast<u128>(xhi) * ratio_lo_ + static_cast<u64>(t);
        u64 quot = xhi * ratio_hi_ + static_cast<u64>(t >> 64) + static_cast<u64>(t2 >> 64);
        u64 r = xlo - quot * q_;
        if (r >= q_) r -= q_;
        if (r >= q_) r -= q_;
        return r;
    }
    // x mod q for a 64-bit x: single-word Barrett (quotient estimate off by at most one).
    u64 reduce(u64 x) const {
        u64 r = x - mulhi64(x, ratio64_) * q_;
        return r >= q_ ? r - q_ : r;
    }
    u64 barrett64() const { return ratio64_; }
    // Reduce a signed value into [0, q).
    u64 reduce_signed(std::int64_t x) const {
        if (x >= 0) return reduce(static_cast<u64>(x));
        u64 r = reduce(static_cast<u64>(-(x + 1)) + 1);  // |x| without overflow at INT64_MIN
        return r == 0 ? 0 : q_ - r;
    }

    u64 add(u64 a, u64 b) const { u64 s = a + b; return s >= q_ ? s - q_ : s; }
    u64 sub(u64 a, u64 b) const { return a >= b ? a - b : a + q_ - b; }
    u64 neg(u64 a) const { return a == 0 ? 0 : q_ - a; }
    u64 mul(u64 a, u64 b) const { return reduce128(static_cast<u128>(a) * b); }
    u64 pow(u64 base, u64 e) const {
        u64 r = 1 % q_, b = reduce(base);
        for (; e; e >>= 1, b = mul(b, b))
            if (e & 1) r = mul(r, b);
        return r;
    }
    // Inverse of a nonzero a (q prime).
    u64 inv(u64 a) const {
        if (reduce(a) == 0) throw std::invalid_argument("Modulus::inv: zero has no inverse");
        return pow(a, q_ - 2);
    }

    bool operator==(const Modulus& o) const { return q_ == o.q_; }

    static int bit_length(u64 x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }

private:
    u64 q_ = 0;
    u64 ratio_hi_ = 0, ratio_lo_ = 0;
    u64 ratio64_ = 0;
};

}  // namespace hecnn::math
