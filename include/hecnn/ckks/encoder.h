// CKKS encoding: N/2 real slot values at a scale ↔ an integer polynomial in RNS form.
//
// Slots follow the canonical embedding (math::CanonicalEmbedding). A constant is the
// same value in every slot, i.e. the constant polynomial: the scalar paths of the
// evaluator use that and need no FFT.
#pragma once

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

    std::size_t slots() const { return ctx_->slots(); }
    const ContextPtr& context() const { return ctx_; }

private:
    ContextPtr ctx_;
    std::unique_ptr<math::CanonicalEmbedding> emb_;
};

}  // namespace hecnn::ckks
