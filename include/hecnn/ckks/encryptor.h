// Encryption (public key, or secret key with a seeded uniform half) and decryption.
#pragma once

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/math/csprng.h"

namespace hecnn::ckks {

// A fresh secret-key ciphertext whose c1 is the uniform polynomial expanded from `seed`
// (coefficient form): it can be stored or sent as c0 and the seed, half the bytes.
struct SeededCiphertext {
    Ciphertext ct;
    math::Seed seed;
};

// Expand the uniform c1 of a seeded ciphertext (coefficient form, `limbs` limbs).
void expand_seeded_c1(const Context& ctx, const math::Seed& seed, std::size_t limbs, u64* out);

class Encryptor {
public:
    Encryptor(ContextPtr ctx, const PublicKey& pk);
    Encryptor(ContextPtr ctx, const SecretKey& sk);

    // Coefficient-form ciphertext at the plaintext's level and scale.
    Ciphertext encrypt(const Plaintext& pt) const;
    // Secret-key mode only.
    SeededCiphertext encrypt_seeded(const Plaintext& pt) const;

private:
    void check(const Plaintext& pt) const;
    ContextPtr ctx_;
    const PublicKey* pk_ = nullptr;
    const SecretKey* sk_ = nullptr;
};

class Decryptor {
public:
    Decryptor(ContextPtr ctx, const SecretKey& sk);
    // m = c0 + c1·s (+ c2·s²), on the fewest limbs that hold a message of magnitude up to
    // 2^62·scale exactly (or all limbs if there are not that many): the plaintext comes
    // back at that lower level, which decodes to the same values.
    Plaintext decrypt(const Ciphertext& ct) const;

private:
    ContextPtr ctx_;
    const SecretKey& sk_;
};

}  // namespace hecnn::ckks
