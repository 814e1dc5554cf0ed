// Galois elements and the Galois keys of slot rotations and conjugation.
//
// The automorphism σ_g: X -> X^g (g odd, modulo 2N) of Z[X]/(X^N + 1) permutes the slots
// (math::CanonicalEmbedding): g = 5^k mod 2N rotates them left by k (slot j gets slot
// (j+k) mod N/2), g = 2N-1 conjugates every slot. Applied to a ciphertext (c0, c1) it gives
// (σ(c0), σ(c1)), a ciphertext of σ(m) under σ(s); the Galois key of g switches σ(c1)
// back to s. A key set holds one key-switching key per requested element, nothing else:
// its size is dnum·(L+1+k) residue polynomials per element (half of them expanded from
// seeds in the upload form).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hecnn/ckks/keys.h"

namespace hecnn::ckks {

// 5^(steps mod N/2) mod 2N: the element of a left rotation by `steps` (negative: right).
std::uint32_t galois_element(int steps, std::size_t n);
// 2N - 1: complex conjugation of every slot.
std::uint32_t conjugation_element(std::size_t n);
// Throws std::invalid_argument unless g is a non-trivial Galois element (odd, 1 < g < 2N).
void check_galois_element(std::uint32_t g, std::size_t n);

// The automorphism in NTT form is a permutation of the evaluation points: position k of
// NTT(σ_g(a)) is position map[k] of NTT(a), for every modulus of the context (derived
// from the transform itself, so it follows whatever evaluation order the NTT uses).
std::vector<std::uint32_t> galois_ntt_permutation(const Context& ctx, std::uint32_t g);

class GaloisKeys {
public:
    GaloisKeys() = default;
    // Allocates one key per element (strictly increasing, each checked), expanding the
    // uniform halves from seeds[e][j] (dnum seeds per element); b is filled by the caller
    // (key generation or loading).
    GaloisKeys(ContextPtr ctx, std::vector<std::uint32_t> elements, std::vector<std::vector<math::Seed>> seeds);

    const ContextPtr& context() const { return ctx_; }
    std::span<const std::uint32_t> elements() const { return elements_; }
    std::size_t size() const { return elements_.size(); }
    bool has(std::uint32_t g) const;
    // Throws std::invalid_argument naming the element (and its rotation) if absent.
    const KeySwitchKey& key(std::uint32_t g) const;
    KeySwitchKey& key(std::uint32_t g);
    // The NTT permutation of element g (galois_ntt_permutation), kept with its key.
    const std::vector<std::uint32_t>& ntt_permutation(std::uint32_t g) const;
    // Memory held by the expanded keys (b and a), in bytes.
    std::size_t memory_bytes() const;

private:
    std::size_t index(std::uint32_t g) const;  // throws if absent
    ContextPtr ctx_;
    std::vector<std::uint32_t> elements_;
    std::vector<KeySwitchKey> keys_;
    std::vector<std::vector<std::uint32_t>> perms_;
};

}  // namespace hecnn::ckks
