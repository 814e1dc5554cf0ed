// CKKS canonical embedding: real polynomials of degree < N  <->  N/2 complex slots.
//
// Conventions (the encoder and the rotation code rely on these exactly):
//   N = 2^log_n, n = N/2 slots, zeta = exp(i*pi/N) (primitive 2N-th root of unity).
//   The polynomial is m(X) = sum_{k<N} m_k X^k with real m_k (coeffs[k] = m_k).
//   Slot j (0 <= j < n) is  z_j = m(zeta^(g_j)),  g_j = 5^j mod 2N  (slot_exponent(j)).
//   The other half of the embedding, m(zeta^(-g_j)) = conj(z_j), is implied because m is real.
//
//   decode(m) = (z_0, ..., z_{n-1}).
//   encode(z) is its exact inverse on real polynomials:
//       m_k = (2/N) * Re( sum_{j<n} z_j * zeta^(-k*g_j) ),   0 <= k < N,
//   so decode(encode(z)) == z up to rounding. Consequences used by the engine:
//       a real constant c in every slot encodes to the constant polynomial c;
//       the constant i in every slot encodes to X^(N/2) (since zeta^(g_j*N/2) = i).
//   Rotation: the automorphism X -> X^(5^r mod 2N) maps slot vector z to z rotated left
//   by r (new z_j = old z_{(j+r) mod n}); X -> X^(2N-1) conjugates every slot.
//
// Algorithm: since zeta^(g_j*n) = i, z_j = sum_{k<n} (m_k + i*m_{k+n}) zeta^(k*g_j), and the
// points zeta^(g_j) are exactly the n roots zeta^(1+4t) of X^n = i. So decode is a twist by
// zeta^k, a length-n complex DFT with omega = zeta^4 and the permutation t_j = (g_j - 1)/4;
// encode runs the same steps backwards. O(N log N), double precision.
//
// All methods are const and thread-safe (scratch space is thread-local).
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hecnn::math {

class CanonicalEmbedding {
public:
    static constexpr int kMinLogN = 1;
    static constexpr int kMaxLogN = 17;

    // log_n in [kMinLogN, kMaxLogN]; throws std::invalid_argument otherwise.
    explicit CanonicalEmbedding(int log_n);

    int log_n() const { return log_n_; }
    std::size_t degree() const { return std::size_t{1} << log_n_; }           // N
    std::size_t slot_count() const { return std::size_t{1} << (log_n_ - 1); }  // N/2
    // g_j = 5^j mod 2N: slot j is the evaluation at zeta^(g_j). Throws if j >= N/2.
    std::uint64_t slot_exponent(std::size_t j) const;

    // slots.size() <= N/2 (missing trailing slots are zero), coeffs.size() == N.
    void encode(std::span<const std::complex<double>> slots, std::span<double> coeffs) const;
    // Real slot values (imaginary parts zero); values.size() <= N/2, coeffs.size() == N.
    void encode(std::span<const double> values, std::span<double> coeffs) const;

    // coeffs.size() == N; writes the first slots.size() <= N/2 slots.
    void decode(std::span<const double> coeffs, std::span<std::complex<double>> slots) const;
    // Real parts of the first values.size() <= N/2 slots.
    void decode_real(std::span<const double> coeffs, std::span<double> values) const;

private:
    // Twist + inverse DFT on the thread-local work buffer holding F in bit-reversed order.
    void finish_encode(double* re, double* im, std::span<double> coeffs) const;
    // Twist + forward DFT of coeffs into the work buffer (F in bit-reversed order).
    void start_decode(std::span<const double> coeffs, double* re, double* im) const;
    void check_coeffs(std::size_t size, const char* what) const;
    void check_slots(std::size_t size, const char* what) const;

    int log_n_;
    // zeta^k for k < n (the twist), split into real and imaginary parts.
    std::vector<double> twist_re_, twist_im_;
    // DFT twiddles: tw[h + e] = exp(i*pi*e/h) for h = 1, 2, 4, ..., n/2 and e < h.
    std::vector<double> tw_re_, tw_im_;
    // slot_pos_[j] = bitrev_{log n - 1}((g_j - 1) / 4): where slot j sits in the DFT buffer.
    std::vector<std::uint32_t> slot_pos_;
    std::vector<std::uint32_t> slot_exp_;  // g_j
};

}  // namespace hecnn::math
