// Secret, public and relinearisation keys, and their generation.
//
// All randomness comes from a math::Prng seeded by the operating system. The uniform
// halves of the key-switching keys (relinearisation, Galois) are expanded from stored
// seeds, so a key can be written compressed (half the bytes) for upload. Keys live in NTT
// form.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/context.h"
#include "hecnn/math/aligned_vector.h"
#include "hecnn/math/csprng.h"

namespace hecnn::ckks {

class SecretKey {
public:
    SecretKey() = default;
    SecretKey(const SecretKey&) = default;
    SecretKey(SecretKey&&) noexcept = default;
    SecretKey& operator=(const SecretKey& o);
    SecretKey& operator=(SecretKey&& o) noexcept;
    ~SecretKey();  // wipes the key material before the memory is reused
    const ContextPtr& context() const { return ctx_; }
    // Ternary coefficients s_k in {-1, 0, 1}.
    const std::vector<std::int8_t>& coefficients() const { return coeffs_; }
    // s in NTT form for extended modulus index i (data primes, then special primes).
    const u64* ntt_limb(std::size_t i) const { return ntt_.data() + i * ctx_->n(); }
    // Build from ternary coefficients (validated); used by key generation and loading.
    static SecretKey from_coefficients(ContextPtr ctx, std::vector<std::int8_t> coeffs);

private:
    void wipe() noexcept;
    ContextPtr ctx_;
    std::vector<std::int8_t> coeffs_;
    math::AlignedVector<u64> ntt_;  // (L+1+k) × N
};

// (b, a) = (-a·s + e, a) over every extended modulus (Q_L·P), NTT form. Encryption works
// over Q·P and divides by P (ModDown), which makes its noise e·u + e1·s vanish: only the
// rounding of that division is left, as for a secret-key ciphertext.
class PublicKey {
public:
    PublicKey() = default;
    explicit PublicKey(ContextPtr ctx);  // allocates both polynomials (to be filled)
    const ContextPtr& context() const { return ctx_; }
    std::size_t ext_limbs() const { return ctx_->data_count() + ctx_->special_count(); }
    // Polynomial k (0: b, 1: a) modulo extended modulus i.
    u64* limb(std::size_t k, std::size_t i) { return data_.data() + (k * ext_limbs() + i) * ctx_->n(); }
    const u64* limb(std::size_t k, std::size_t i) const { return data_.data() + (k * ext_limbs() + i) * ctx_->n(); }

private:
    ContextPtr ctx_;
    math::AlignedVector<u64> data_;
};

// Hybrid key-switching key from a secret s' to s: one (b_j, a_j) pair per digit over all
// L+1+k moduli, b_j = -a_j·s + e_j + P·[digit j indicator]·s', a_j expanded from seeds[j].
class KeySwitchKey {
public:
    KeySwitchKey() = default;
    KeySwitchKey(ContextPtr ctx, std::vector<math::Seed> seeds);  // allocates b, expands a
    const ContextPtr& context() const { return ctx_; }
    std::size_t digits() const { return seeds_.size(); }
    std::size_t ext_limbs() const { return ctx_->data_count() + ctx_->special_count(); }
    const math::Seed& seed(std::size_t j) const { return seeds_[j]; }
    u64* b(std::size_t j, std::size_t i) { return b_.data() + (j * ext_limbs() + i) * ctx_->n(); }
    const u64* b(std::size_t j, std::size_t i) const { return b_.data() + (j * ext_limbs() + i) * ctx_->n(); }
    const u64* a(std::size_t j, std::size_t i) const { return a_.data() + (j * ext_limbs() + i) * ctx_->n(); }
    std::span<u64> b_words() { return b_; }
    std::span<const u64> b_words() const { return b_; }
    std::span<const u64> a_words() const { return a_; }

    // The uniform polynomial a_j in NTT form over every extended modulus, from its seed.
    static void expand_uniform(const Context& ctx, const math::Seed& seed, u64* out);

private:
    ContextPtr ctx_;
    std::vector<math::Seed> seeds_;
    math::AlignedVector<u64> b_, a_;
};

// The relinearisation key: the key-switching key for s' = s².
class RelinKey : public KeySwitchKey {
public:
    using KeySwitchKey::KeySwitchKey;
};

class GaloisKeys;

class KeyGenerator {
public:
    // A fresh secret key from the operating system's CSPRNG.
    explicit KeyGenerator(ContextPtr ctx);
    KeyGenerator(ContextPtr ctx, SecretKey sk);
    // Deterministic keys and errors from a fixed seed: reproducible tests only, never
    // for data that matters.
    static KeyGenerator insecure_test_only_from_seed(ContextPtr ctx, const math::Seed& seed);

    const SecretKey& secret_key() const { return sk_; }
    PublicKey create_public_key();
    RelinKey create_relin_key();
    // Keys for the automorphisms X -> X^g of the given Galois elements (odd, 1 < g < 2N;
    // galois_element() and conjugation_element() in galois.h name them), only those: the
    // key set grows by dnum seeded digits per element. Duplicates are merged.
    GaloisKeys create_galois_keys(std::span<const std::uint32_t> elements);
    // The elements of left rotations by `steps` (step 0, the identity, needs no key) and,
    // if asked, of conjugation.
    GaloisKeys create_rotation_keys(std::span<const int> steps, bool conjugation = false);

private:
    // Fills key's b for s' given in NTT form on the data primes (l+1 limbs).
    void fill_switch_key(KeySwitchKey& key, const u64* target_ntt);
    KeyGenerator(ContextPtr ctx, math::Prng prng);
    ContextPtr ctx_;
    math::Prng prng_;
    SecretKey sk_;
};

}  // namespace hecnn::ckks
