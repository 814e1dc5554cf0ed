// Fast RNS base conversion (Bajard et al. / HPS "approximate" variant).
//
// For x given by residues x_i modulo the source primes q_i (product Q), computes
//   conv_t(x) = Σ_i [x_i · (Q/q_i)^{-1}]_{q_i} · (Q/q_i)  mod t
// for each target prime t. The result equals x + u·Q for a small integer 0 <= u < #source
// primes — exact enough for the ModUp/ModDown steps of hybrid key switching, where that
// multiple of Q is absorbed by the noise.
//
// The arithmetic runs in the vector kernels of hecnn/math/elementwise.h (exact: the results
// do not depend on the CPU's vector width).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "hecnn/math/modulus.h"

namespace hecnn::math {

class BaseConverter {
public:
    BaseConverter(std::vector<Modulus> source, std::vector<Modulus> targets);

    std::size_t source_count() const { return src_.size(); }
    std::size_t target_count() const { return dst_.size(); }
    const std::vector<Modulus>& targets() const { return dst_; }

    // src: source_count() pointers to n residues; dst: one pointer per selected target
    // (target_indices[k] names the target written to dst[k]), n residues each.
    void convert(const u64* const* src, std::span<u64* const> dst, std::span<const std::size_t> target_indices,
                 std::size_t n) const;

    // Exact and centred: writes x' mod t where x' ≡ x (mod Q) and x' ∈ [-Q/2, Q/2), by
    // subtracting round(Σ_i y_i/q_i)·Q (the count of Q's in the fast conversion, from a
    // double-precision sum). ModDown with it divides by P with correct rounding.
    void convert_centred(const u64* const* src, std::span<u64* const> dst, std::span<const std::size_t> target_indices,
                         std::size_t n) const;

    // The steps of convert() and convert_centred() on their own, for a caller that converts
    // the same values to its targets at different times (hybrid key switching, one limb at
    // a time). scale() writes y = [x·(Q/q_i)^{-1}]_{q_i} for source i; centred_count() the
    // number of Q's to subtract for the centred variant, from the source_count() rows y_i
    // at y + i·stride; convert_scaled() sums those rows into one target, minus count·Q if a
    // count is given. Together they give exactly convert()'s (convert_centred()'s) result.
    void scale(std::size_t i, const u64* x, u64* y, std::size_t n) const;
    void centred_count(const u64* y, std::size_t stride, u64* count, std::size_t n) const;
    void convert_scaled(const u64* y, std::size_t stride, std::size_t target, u64* dst, std::size_t n,
                        const u64* count = nullptr) const;

private:
    std::vector<Modulus> src_, dst_;
    std::vector<u64> inv_punct_, inv_punct_shoup_;  // (Q/q_i)^{-1} mod q_i
    std::vector<u64> punct_mod_t_;                  // [t * S + i] = (Q/q_i) mod t
    std::vector<u64> punct_mod_t_shoup_;            // its Shoup quotients
    std::vector<u64> q_mod_t_, q_mod_t_shoup_;      // Q mod t
    std::vector<double> inv_q_;                     // 1 / q_i

    template <bool kCentred>
    void convert_impl(const u64* const* src, std::span<u64* const> dst, std::span<const std::size_t> target_indices,
                      std::size_t n) const;
};

}  // namespace hecnn::math
