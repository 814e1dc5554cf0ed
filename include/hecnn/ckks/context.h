// RNS-CKKS parameters: a literal a caller writes, validated into an immutable Context.
//
// A Context owns everything derived from the parameters: the moduli, their NTT tables,
// and the RNS constants of rescaling and hybrid key switching. It is shared (read-only)
// by every key, plaintext and ciphertext made under it; its id binds serialised objects
// to the exact parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hecnn/math/modulus.h"
#include "hecnn/math/ntt.h"

namespace hecnn::ckks {

using math::Modulus;
using math::u64;

struct ParametersLiteral {
    int log_n = 0;
    // Data primes q_0..q_L, given either by bit size (generated) or explicitly. q_0 holds
    // the value range of the result; each further prime is consumed by one rescale.
    std::vector<int> data_prime_bits;
    std::vector<u64> data_primes;
    // Special primes P = p_0..p_{k-1} of hybrid key switching, by bit size or explicit.
    std::vector<int> special_prime_bits;
    std::vector<u64> special_primes;
    // Number of key-switching digits (dnum). 0: the fewest for which every digit's
    // modulus is at most P·2^kDigitSlackBits (faster key switching, bounded noise).
    int dnum = 0;
    // Alternatively the number of primes per digit (0: derived from dnum). The canonical
    // literal of a context always names it, since dnum alone does not determine it.
    int digit_size = 0;
    double log_scale = 40;  // default encoding scale 2^log_scale
    // Allow parameters below 128-bit security. For tests only: the name says so.
    bool insecure_test_only_allow_below_128_bits = false;
};

// The largest log2(Q·P) for 128-bit classical security with a ternary secret and
// σ = 3.2; 0 if the ring degree is outside the table. Homomorphic Encryption Standard
// (v1.1, Nov 2018) for N ≤ 32768; N = 65536 from OpenFHE's lattice-estimator table
// (stdlatticeparms, HEStd_ternary / HEStd_128_classic).
int max_log_qp_128(int log_n);

class Context {
public:
    // Throws std::invalid_argument naming the faulty field.
    static std::shared_ptr<const Context> create(const ParametersLiteral& literal);

    int log_n() const { return log_n_; }
    std::size_t n() const { return std::size_t{1} << log_n_; }
    std::size_t slots() const { return n() / 2; }
    double scale() const { return scale_; }
    int max_level() const { return static_cast<int>(data_.size()) - 1; }
    std::size_t data_count() const { return data_.size(); }
    std::size_t special_count() const { return special_.size(); }
    int dnum() const { return dnum_; }
    int digit_size() const { return alpha_; }  // primes per key-switching digit
    // Digit d covers data primes [d·alpha, min((d+1)·alpha, L+1)).
    int digits_at_level(int level) const { return (level + alpha_) / alpha_; }

    // Moduli in "extended" order: data q_0..q_L then special p_0..p_{k-1}.
    const std::vector<Modulus>& data_moduli() const { return data_; }
    const std::vector<Modulus>& special_moduli() const { return special_; }
    const Modulus& modulus(std::size_t ext_index) const;
    const math::NTTTables& ntt(std::size_t ext_index) const { return *ntt_[ext_index]; }

    double log_q() const;   // bits of q_0·…·q_L
    double log_qp() const;  // bits of Q·P
    bool secure_128() const { return secure_128_; }
    std::uint64_t id() const { return id_; }
    std::string id_hex() const;
    std::string describe() const;  // one human-readable line
    const ParametersLiteral& literal() const { return canonical_; }  // explicit primes

    // Precomputed RNS constants (internal use by the evaluator and key switching).
    struct Precomp;
    const Precomp& precomp() const { return *pre_; }

    ~Context();

private:
    Context() = default;
    int log_n_ = 0;
    double scale_ = 0;
    int dnum_ = 0, alpha_ = 0;
    bool secure_128_ = false;
    std::uint64_t id_ = 0;
    std::vector<Modulus> data_, special_;
    std::vector<std::unique_ptr<math::NTTTables>> ntt_;
    ParametersLiteral canonical_;
    std::unique_ptr<Precomp> pre_;
};

using ContextPtr = std::shared_ptr<const Context>;

}  // namespace hecnn::ckks
