// CKKS encoding: N/2 real slot values at a scale ↔ an integer polynomial in RNS form.
//
// Slots follow the canonical embedding (math::CanonicalEmbedding). A constant is the
// same value in every slot, i.e. the constant polynomial: the scalar paths of the
// evaluator use that and need no FFT.
#pragma once

#include <complex>
#include <memory>
#include <span>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/context.h"

namespace hecnn::math {
class CanonicalEmbedding;
}

namespace hecnn::ckks {

class Encoder {
public:
    explicit Encoder(ContextPtr ctx);
    ~Encoder();

    // values.size() <= slots(); missing slots are zero. Coefficient form.
    Plaintext encode(std::span<const double> values, double scale, int level) const;
    Plaintext encode(std::span<const double> values) const;  // context scale, top level
    // Real parts of the slots, divided by the plaintext's scale.
    std::vector<double> decode(const Plaintext& pt) const;
    // Complex slots (what conjugation and the imaginary half of a rotation act on).
    Plaintext encode_complex(std::span<const std::complex<double>> values, double scale, int level) const;
    std::vector<std::complex<double>> decode_complex(const Plaintext& pt) const;

    std::size_t slots() const { return ctx_->slots(); }
    const ContextPtr& context() const { return ctx_; }

private:
    Plaintext from_coefficients(const std::vector<double>& coeffs, double scale, int level) const;
    std::vector<double> to_coefficients(const Plaintext& pt) const;
    ContextPtr ctx_;
    std::unique_ptr<math::CanonicalEmbedding> emb_;
};

}  // namespace hecnn::ckks
