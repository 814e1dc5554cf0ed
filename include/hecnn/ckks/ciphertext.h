// Plaintexts and ciphertexts: RNS polynomials at a level, with an exactly tracked scale.
//
// Storage is one contiguous, limb-major block: polynomial k, limb i (modulus q_i) is the
// N words at data() + (k·limbs + i)·N. A ciphertext at level l has l+1 limbs. Polynomials
// are kept in coefficient form by default (rescale and the linear maps need no NTT
// there); `is_ntt` marks the evaluation form used inside multiplications.
#pragma once

#include <cstddef>
#include <span>

#include "hecnn/ckks/context.h"
#include "hecnn/math/aligned_vector.h"

namespace hecnn::ckks {

class PolyBlock {
public:
    PolyBlock() = default;
    PolyBlock(ContextPtr ctx, int level, std::size_t polys, bool ntt, double scale);

    const ContextPtr& context() const { return ctx_; }
    int level() const { return level_; }
    std::size_t limbs() const { return static_cast<std::size_t>(level_) + 1; }
    std::size_t polys() const { return polys_; }
    std::size_t n() const { return ctx_ ? ctx_->n() : 0; }
    double scale() const { return scale_; }
    void set_scale(double s) { scale_ = s; }
    bool is_ntt() const { return ntt_; }
    void set_ntt(bool v) { ntt_ = v; }
    bool empty() const { return !ctx_; }

    u64* limb(std::size_t poly, std::size_t i) { return data_.data() + (poly * limbs() + i) * n(); }
    const u64* limb(std::size_t poly, std::size_t i) const { return data_.data() + (poly * limbs() + i) * n(); }
    std::span<u64> words() { return data_; }
    std::span<const u64> words() const { return data_; }
    std::size_t byte_size() const { return data_.size() * sizeof(u64); }

    // Change shape in place (contents of the kept region are preserved only when
    // shrinking the polynomial count at the same level).
    void reshape(int level, std::size_t polys);
    // Drop the highest limbs down to `level` (exact for coefficient and NTT form alike).
    void drop_to_level(int level);

protected:
    ContextPtr ctx_;
    int level_ = -1;
    std::size_t polys_ = 0;
    bool ntt_ = false;
    double scale_ = 0;
    math::AlignedVector<u64> data_;
};

class Plaintext : public PolyBlock {
public:
    Plaintext() = default;
    Plaintext(ContextPtr ctx, int level, double scale, bool ntt = false) : PolyBlock(std::move(ctx), level, 1, ntt, scale) {}
};

class Ciphertext : public PolyBlock {
public:
    Ciphertext() = default;
    Ciphertext(ContextPtr ctx, int level, double scale, std::size_t size = 2, bool ntt = false)
        : PolyBlock(std::move(ctx), level, size, ntt, scale) {}
    std::size_t size() const { return polys(); }
};

}  // namespace hecnn::ckks
