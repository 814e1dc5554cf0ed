#include "hecnn/math/rns.h"

#include <algorithm>
#include <stdexcept>

namespace hecnn::math {

BaseConverter::BaseConverter(std::vector<Modulus> source, std::vector<Modulus> targets)
    : src_(std::move(source)), dst_(std::move(targets)) {
    const std::size_t s = src_.size();
    if (s == 0 || s > 64) throw std::invalid_argument("BaseConverter: 1..64 source primes required");
    inv_punct_.resize(s);
    inv_punct_shoup_.resize(s);
    for (std::size_t i = 0; i < s; ++i) {
        u64 prod = 1;
        for (std::size_t j = 0; j < s; ++j)
            if (j != i) prod = src_[i].mul(prod, src_[i].reduce(src_[j].value()));
        inv_punct_[i] = src_[i].inv(prod);
        inv_punct_shoup_[i] = shoup_precompute(inv_punct_[i], src_[i].value());
    }
    punct_mod_t_.resize(dst_.size() * s);
    punct_mod_t_shoup_.resize(dst_.size() * s);
    for (std::size_t t = 0; t < dst_.size(); ++t)
        for (std::size_t i = 0; i < s; ++i) {
            u64 prod = 1;
            for (std::size_t j = 0; j < s; ++j)
                if (j != i) prod = dst_[t].mul(prod, dst_[t].reduce(src_[j].value()));
            punct_mod_t_[t * s + i] = prod;
            punct_mod_t_shoup_[t * s + i] = shoup_precompute(prod, dst_[t].value());
        }
    for (const auto& t : dst_) {
        u64 prod = 1;
        for (const auto& q : src_) prod = t.mul(prod, t.reduce(q.value()));
        q_mod_t_.push_back(prod);
        q_mod_t_shoup_.push_back(shoup_precompute(prod, t.value()));
    }
    for (const auto& q : src_) inv_q_.push_back(1.0 / static_cast<double>(q.value()));
}

void BaseConverter::convert(const u64* const* src, std::span<u64* const> dst, std::span<const std::size_t> target_indices,
                            std::size_t n) const {
    convert_impl<false>(src, dst, target_indices, n);
}

void BaseConverter::convert_centred(const u64* const* src, std::span<u64* const> dst,
                                    std::span<const std::size_t> target_indices, std::size_t n) const {
    convert_impl<true>(src, dst, target_indices, n);
}

template <bool kCentred>
void BaseConverter::convert_impl(const u64* const* src, std::span<u64* const> dst, std::span<const std::size_t> target_indices,
                                 std::size_t n) const {
    if (dst.size() != target_indices.size()) throw std::invalid_argument("BaseConverter::convert: size mismatch");
    for (std::size_t t : target_indices)
        if (t >= dst_.size()) throw std::invalid_argument("BaseConverter::convert: target index out of range");
    const std::size_t s = src_.size();
    constexpr std::size_t kBlock = 256;
    u64 y[64 * kBlock];
    u64 count[kBlock];  // kCentred: round(Σ y_i / q_i), how many Q's to subtract
    for (std::size_t c0 = 0; c0 < n; c0 += kBlock) {
        const std::size_t len = std::min(kBlock, n - c0);
        for (std::size_t i = 0; i < s; ++i) {
            const u64 q = src_[i].value(), w = inv_punct_[i], ws = inv_punct_shoup_[i];
            const u64* x = src[i] + c0;
            for (std::size_t c = 0; c < len; ++c) y[i * kBlock + c] = mul_shoup(x[c], w, ws, q);
        }
        if constexpr (kCentred) {
            for (std::size_t c = 0; c < len; ++c) {
                double v = 0.5;
                for (std::size_t i = 0; i < s; ++i) v += static_cast<double>(y[i * kBlock + c]) * inv_q_[i];
                count[c] = static_cast<u64>(v);
            }
        }
        for (std::size_t k = 0; k < dst.size(); ++k) {
            const std::size_t t = target_indices[k];
            const u64 tv = dst_[t].value(), two_t = 2 * tv;
            const u64* pm = &punct_mod_t_[t * s];
            const u64* pms = &punct_mod_t_shoup_[t * s];
            u64* out = dst[k] + c0;
            // Shoup products in [0, 2t), summed with one conditional subtraction each:
            // the running sum stays below 4t < 2^63.
            for (std::size_t c = 0; c < len; ++c) {
                u64 acc = 0;
                for (std::size_t i = 0; i < s; ++i) {
                    acc += mul_shoup_lazy(y[i * kBlock + c], pm[i], pms[i], tv);
                    if (acc >= two_t) acc -= two_t;
                }
                if constexpr (kCentred) {
                    const u64 sub = mul_shoup_lazy(count[c], q_mod_t_[t], q_mod_t_shoup_[t], tv);  // [0, 2t)
                    acc = acc + two_t - sub;                                                      // (0, 4t)
                    if (acc >= two_t) acc -= two_t;
                }
                out[c] = acc >= tv ? acc - tv : acc;
            }
        }
    }
}

}  // namespace hecnn::math
