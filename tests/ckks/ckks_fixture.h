// Shared set-up for the engine tests: small insecure parameters for speed, fixed seeds.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/math/csprng.h"
#include "ckks/precision.h"

namespace hecnn::test {

inline ckks::ParametersLiteral small_literal(int log_n = 12, int levels = 4, int dnum = 0) {
    ckks::ParametersLiteral lit;
    lit.log_n = log_n;
    lit.data_prime_bits.push_back(60);
    for (int i = 0; i < levels; ++i) lit.data_prime_bits.push_back(40);
    lit.special_prime_bits = {60, 60};
    lit.dnum = dnum;
    lit.log_scale = 40;
    lit.insecure_test_only_allow_below_128_bits = true;
    return lit;
}

// Uniform values in [-1, 1] from a fixed seed.
inline std::vector<double> random_values(std::size_t n, std::uint8_t seed) {
    math::Prng prng(math::Seed{seed, 0x5a});
    std::vector<double> v(n);
    for (auto& x : v) x = std::ldexp(static_cast<double>(prng.next_u64() >> 11), -52) - 1.0;
    return v;
}

struct Engine {
    explicit Engine(const ckks::ParametersLiteral& lit, std::uint8_t seed = 1)
        : ctx(ckks::Context::create(lit)),
          keygen(ckks::KeyGenerator::insecure_test_only_from_seed(ctx, math::Seed{seed})),
          pk(keygen.create_public_key()),
          rk(keygen.create_relin_key()),
          encoder(ctx),
          enc_pk(ctx, pk),
          enc_sk(ctx, keygen.secret_key()),
          dec(ctx, keygen.secret_key()),
          eval(ctx) {}

    ckks::Ciphertext encrypt(std::span<const double> v, bool secret = false) const {
        auto pt = encoder.encode(v);
        return secret ? enc_sk.encrypt(pt) : enc_pk.encrypt(pt);
    }
    std::vector<double> decrypt(const ckks::Ciphertext& ct) const { return encoder.decode(dec.decrypt(ct)); }

    ckks::ContextPtr ctx;
    ckks::KeyGenerator keygen;
    ckks::PublicKey pk;
    ckks::RelinKey rk;
    ckks::Encoder encoder;
    ckks::Encryptor enc_pk, enc_sk;
    ckks::Decryptor dec;
    ckks::Evaluator eval;
};

}  // namespace hecnn::test
