#include "hecnn/math/rns.h"

#include <algorithm>
#include <stdexcept>

#include "hecnn/math/elementwise.h"

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

void BaseConverter::scale(std::size_t i, const u64* x, u64* y, std::size_t n) const {
    if (i >= src_.size()) throw std::invalid_argument("BaseConverter::scale: source index out of range");
    ew::mul_scalar(x, inv_punct_[i], inv_punct_shoup_[i], y, n, src_[i].value());
}

void BaseConverter::centred_count(const u64* y, std::size_t stride, u64* count, std::size_t n) const {
    ew::convert_count(y, stride, src_.size(), inv_q_.data(), count, n);
}

void BaseConverter::convert_scaled(const u64* y, std::size_t stride, std::size_t target, u64* dst, std::size_t n,
                                   const u64* count) const {
    if (target >= dst_.size()) throw std::invalid_argument("BaseConverter::convert_scaled: target index out of range");
    const std::size_t s = src_.size();
    ew::convert_sum(y, stride, s, &punct_mod_t_[target * s], &punct_mod_t_shoup_[target * s], count, q_mod_t_[target],
                    q_mod_t_shoup_[target], dst, n, dst_[target].value());
}

template <bool kCentred>
void BaseConverter::convert_impl(const u64* const* src, std::span<u64* const> dst, std::span<const std::size_t> target_indices,
                                 std::size_t n) const {
    if (dst.size() != target_indices.size()) throw std::invalid_argument("BaseConverter::convert: size mismatch");
    for (std::size_t t : target_indices)
        if (t >= dst_.size()) throw std::invalid_argument("BaseConverter::convert: target index out of range");
    const std::size_t s = src_.size();
    // Columns are converted in blocks whose y_i (s rows) stay in the cache (in L1 for the
    // usual two or three sources).
    constexpr std::size_t kWords = 64 * 256;
    const std::size_t block = s <= 16 ? 1024 : 256;
    u64 y[kWords];
    u64 count[1024];  // kCentred: round(Σ y_i / q_i), how many Q's to subtract
    for (std::size_t c0 = 0; c0 < n; c0 += block) {
        const std::size_t len = std::min(block, n - c0);
        for (std::size_t i = 0; i < s; ++i)
            ew::mul_scalar(src[i] + c0, inv_punct_[i], inv_punct_shoup_[i], y + i * block, len, src_[i].value());
        if constexpr (kCentred) ew::convert_count(y, block, s, inv_q_.data(), count, len);
        for (std::size_t k = 0; k < dst.size(); ++k) {
            const std::size_t t = target_indices[k];
            ew::convert_sum(y, block, s, &punct_mod_t_[t * s], &punct_mod_t_shoup_[t * s], kCentred ? count : nullptr,
                            q_mod_t_[t], q_mod_t_shoup_[t], dst[k] + c0, len, dst_[t].value());
        }
    }
}

}  // namespace hecnn::math
