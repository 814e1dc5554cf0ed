// Homomorphic operations on ciphertexts.
//
// Ciphertexts live in coefficient form between operations: rescaling and the linear
// maps (the bulk of a CNN) need no NTT there. Multiplications move to NTT form
// internally and relinearisation returns to coefficient form.
//
// Scales are tracked exactly (as doubles, never reset to a nominal 2^k); operations
// that combine two operands require equal levels and scales and say what differs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/galois.h"
#include "hecnn/ckks/keys.h"

namespace hecnn::ckks {

// out_o = Σ_j weights[o·inputs + j] · in_j + bias[o] for o < outputs. Inputs share a level,
// size and form; their scales may differ (each input's weights absorb its scale).
struct LinearMap {
    std::size_t outputs = 0, inputs = 0;
    std::vector<double> weights;  // outputs × inputs, row-major
    std::vector<double> bias;     // empty, or one per output
    // Rescale each output once (by the inputs' last prime). The weights are then
    // quantised at weight_scale = target_scale · q_l / input_scale, so that the outputs
    // come out at target_scale exactly (0: target = the inputs' scale).
    bool rescale = true;
    double target_scale = 0;
    // Without rescale: the weights' integer scale for input 0 (outputs at
    // scale(input 0)·weight_scale).
    double weight_scale = 0;
};

class Evaluator {
public:
    explicit Evaluator(ContextPtr ctx);

    // ct ± ct
    void add_inplace(Ciphertext& a, const Ciphertext& b) const;
    void sub_inplace(Ciphertext& a, const Ciphertext& b) const;
    void negate_inplace(Ciphertext& a) const;
    Ciphertext add(const Ciphertext& a, const Ciphertext& b) const;
    Ciphertext sub(const Ciphertext& a, const Ciphertext& b) const;

    // ct ± plaintext (same level and scale), ct × plaintext vector (scales multiply)
    void add_plain_inplace(Ciphertext& a, const Plaintext& p) const;
    void sub_plain_inplace(Ciphertext& a, const Plaintext& p) const;
    void multiply_plain_inplace(Ciphertext& a, const Plaintext& p) const;

    // ct + c (c encoded at the ciphertext's scale; no FFT: a constant polynomial)
    void add_scalar_inplace(Ciphertext& a, double c) const;
    // ct × round(c·scalar_scale); the ciphertext's scale is multiplied by scalar_scale.
    void multiply_scalar_inplace(Ciphertext& a, double c, double scalar_scale) const;
    // ct × k exactly, scale unchanged.
    void multiply_integer_inplace(Ciphertext& a, std::int64_t k) const;

    // ct × ct → size-3 ciphertext in NTT form (scales multiply).
    Ciphertext multiply(const Ciphertext& a, const Ciphertext& b) const;
    Ciphertext square(const Ciphertext& a) const;
    // size 3 → size 2 (coefficient form) with the relinearisation key.
    void relinearize_inplace(Ciphertext& a, const RelinKey& rk) const;
    // Divide by the last prime q_l and drop it: level l → l-1, scale / q_l.
    void rescale_inplace(Ciphertext& a) const;
    void drop_to_level_inplace(Ciphertext& a, int level) const;
    // The activation's core: square, relinearise, rescale.
    Ciphertext square_relin_rescale(const Ciphertext& a, const RelinKey& rk) const;

    // Slot permutations (size-2 ciphertexts; the result is in coefficient form, same level
    // and scale). rotate: left by `steps` (slot i gets slot (i + steps) mod N/2; negative
    // rotates right; 0 is a copy and needs no key). conjugate: every slot conjugated.
    // apply_galois: X -> X^g with the key of element g. Each is the automorphism followed
    // by one hybrid key switch of σ(c1) back to s.
    Ciphertext rotate(const Ciphertext& a, int steps, const GaloisKeys& gk) const;
    Ciphertext conjugate(const Ciphertext& a, const GaloisKeys& gk) const;
    Ciphertext apply_galois(const Ciphertext& a, std::uint32_t g, const GaloisKeys& gk) const;
    // Hoisted rotations of one ciphertext: c1's digit decomposition and its ModUp to Q·P
    // (the NTTs of key switching that do not depend on the key) are done once and each
    // rotation permutes them; what is left per step is the inner product with its key and
    // ModDown. out[i] decrypts as rotate(a, steps[i]) does, to within the key-switching
    // error (not bit-identical: see docs/ENGINE.md).
    std::vector<Ciphertext> rotate_many(const Ciphertext& a, std::span<const int> steps, const GaloisKeys& gk) const;

    void to_ntt_inplace(Ciphertext& a) const;
    void to_coeff_inplace(Ciphertext& a) const;

    // Many outputs at once; every input at the same level, size and form. Per RNS limb this
    // is one modular matrix product (inputs reused across outputs).
    std::vector<Ciphertext> linear(std::span<const Ciphertext* const> in, const LinearMap& map) const;
    std::vector<Ciphertext> linear(std::span<const Ciphertext> in, const LinearMap& map) const;

    const ContextPtr& context() const { return ctx_; }

private:
    void check_same(const char* op, const PolyBlock& a, const PolyBlock& b) const;
    void check_mine(const char* op, const PolyBlock& a) const;
    void check_galois(const char* op, const Ciphertext& a, const GaloisKeys& gk) const;
    ContextPtr ctx_;
};

}  // namespace hecnn::ckks
