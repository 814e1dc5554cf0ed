// Cryptographically secure randomness (libsodium).
//
// Every key, error and mask in hecnn comes from a Prng. A Prng is a ChaCha20 stream
// keyed by a 32-byte seed; by default the seed comes from the operating system
// (randombytes_buf). A fixed seed makes a stream reproducible: that is how seeded
// ciphertexts and keys expand their uniform part, and how tests get known answers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "hecnn/math/modulus.h"

namespace hecnn::math {

using Seed = std::array<std::uint8_t, 32>;

// A fresh seed from the operating system's CSPRNG.
Seed os_seed();

class Prng {
public:
    // Seeded from the operating system.
    Prng();
    explicit Prng(const Seed& seed);

    const Seed& seed() const { return seed_; }

    void fill(std::span<std::uint8_t> out);
    std::uint64_t next_u64();

    // Uniform residues in [0, q), by rejection (no modulo bias).
    void uniform_mod(const Modulus& q, std::span<u64> out);
    // Uniform ternary values {-1, 0, 1}.
    void ternary(std::span<std::int8_t> out);
    // Centred discrete Gaussian of standard deviation sigma, clipped to |x| <= 6*sigma
    // (cumulative-distribution table with 64-bit probabilities).
    void gaussian(double sigma, std::span<std::int64_t> out);

private:
    void refill();

    Seed seed_;
    std::uint64_t counter_ = 0;  // ChaCha20 block counter (64-byte blocks)
    std::array<std::uint8_t, 4096> buf_{};
    std::size_t pos_ = sizeof(buf_);
};

}  // namespace hecnn::math
