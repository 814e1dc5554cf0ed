// Prime generation for RNS-CKKS: NTT-friendly primes q ≡ 1 (mod 2N).
#pragma once

#include <cstdint>
#include <vector>

#include "hecnn/math/modulus.h"

namespace hecnn::math {

// Deterministic Miller-Rabin for all 64-bit integers.
bool is_prime(u64 n);

// `count` distinct primes of exactly `bits` bits with q ≡ 1 (mod 2N), N = 2^log_n,
// searched downwards from 2^bits (largest first), skipping any value in `exclude`.
// Throws std::invalid_argument if the bit size is out of range or too few exist.
std::vector<u64> generate_ntt_primes(int bits, int log_n, int count, const std::vector<u64>& exclude = {});

// A primitive 2N-th root of unity mod q (q ≡ 1 mod 2N), the smallest such root so the
// choice is deterministic.
u64 minimal_primitive_root(u64 two_n, const Modulus& q);

}  // namespace hecnn::math
