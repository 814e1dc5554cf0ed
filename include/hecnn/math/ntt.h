// Negacyclic number-theoretic transform over Z_q[X]/(X^N + 1).
//
// forward(): coefficients (natural order, values in [0, q)) → evaluations at the odd
// powers of a primitive 2N-th root, in bit-reversed order, values in [0, q).
// inverse(): the exact inverse (including the 1/N factor).
// The evaluation order is an internal convention; only pointwise products in the
// evaluation domain and the round trip are part of the contract.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "hecnn/math/modulus.h"

namespace hecnn::math {

class NTTTables {
public:
    // Requires q ≡ 1 (mod 2N); throws std::invalid_argument otherwise.
    NTTTables(int log_n, const Modulus& q);
    ~NTTTables();
    NTTTables(const NTTTables&) = delete;
    NTTTables& operator=(const NTTTables&) = delete;

    void forward(u64* a) const;
    void inverse(u64* a) const;

    int log_n() const { return log_n_; }
    std::size_t n() const { return std::size_t{1} << log_n_; }
    const Modulus& modulus() const { return q_; }
    u64 root() const { return root_; }  // the primitive 2N-th root used

    // Internal tables, laid out for the kernels in src/math (Shoup pairs, bit-reversed).
    struct Tables;
    const Tables& tables() const { return *tables_; }

private:
    int log_n_;
    Modulus q_;
    u64 root_;
    std::unique_ptr<Tables> tables_;
};

// Reference O(N^2) negacyclic product c = a * b mod (X^N + 1, q), for tests.
std::vector<u64> negacyclic_multiply_schoolbook(const std::vector<u64>& a, const std::vector<u64>& b, const Modulus& q);

}  // namespace hecnn::math
