#include "hecnn/math/embedding.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace hecnn::math {
namespace {

std::uint32_t reverse_bits(std::uint32_t x, int bits) {
    std::uint32_t r = 0;
    for (int i = 0; i < bits; ++i, x >>= 1) r = (r << 1) | (x & 1);
    return r;
}

// Scratch for one transform: 2n doubles (real parts, then imaginary parts), per thread.
double* workspace(std::size_t n) {
    thread_local std::vector<double> buf;
    if (buf.size() < 2 * n) buf.resize(2 * n);
    return buf.data();
}

// Decimation in frequency, natural order in, bit-reversed order out:
// X[t] = sum_k x[k] * exp(+2*pi*i*k*t/n), X[t] stored at position bitrev(t).
void dft_dif(double* re, double* im, std::size_t n, const double* tw_re, const double* tw_im) {
    for (std::size_t h = n / 2; h >= 2; h >>= 1) {
        const double* wr = tw_re + h;
        const double* wi = tw_im + h;
        for (std::size_t s = 0; s < n; s += 2 * h) {
            double* __restrict ar = re + s;
            double* __restrict ai = im + s;
            double* __restrict br = re + s + h;
            double* __restrict bi = im + s + h;
            for (std::size_t e = 0; e < h; ++e) {
                const double xr = ar[e], xi = ai[e], yr = br[e], yi = bi[e];
                ar[e] = xr + yr;
                ai[e] = xi + yi;
                const double dr = xr - yr, di = xi - yi;
                br[e] = dr * wr[e] - di * wi[e];
                bi[e] = dr * wi[e] + di * wr[e];
            }
        }
    }
    if (n >= 2)  // last stage: twiddle 1
        for (std::size_t s = 0; s < n; s += 2) {
            const double xr = re[s], xi = im[s], yr = re[s + 1], yi = im[s + 1];
            re[s] = xr + yr;
            im[s] = xi + yi;
            re[s + 1] = xr - yr;
            im[s + 1] = xi - yi;
        }
}

// Decimation in time, bit-reversed order in, natural order out (no 1/n):
// x[k] = sum_t X[t] * exp(-2*pi*i*k*t/n), X[t] read from position bitrev(t).
void dft_dit_conj(double* re, double* im, std::size_t n, const double* tw_re, const double* tw_im) {
    if (n >= 2)  // first stage: twiddle 1
        for (std::size_t s = 0; s < n; s += 2) {
            const double xr = re[s], xi = im[s], yr = re[s + 1], yi = im[s + 1];
            re[s] = xr + yr;
            im[s] = xi + yi;
            re[s + 1] = xr - yr;
            im[s + 1] = xi - yi;
        }
    for (std::size_t h = 2; h < n; h <<= 1) {
        const double* wr = tw_re + h;
        const double* wi = tw_im + h;
        for (std::size_t s = 0; s < n; s += 2 * h) {
            double* __restrict ar = re + s;
            double* __restrict ai = im + s;
            double* __restrict br = re + s + h;
            double* __restrict bi = im + s + h;
            for (std::size_t e = 0; e < h; ++e) {
                // y * conj(w)
                const double yr = br[e] * wr[e] + bi[e] * wi[e];
                const double yi = bi[e] * wr[e] - br[e] * wi[e];
                const double xr = ar[e], xi = ai[e];
                ar[e] = xr + yr;
                ai[e] = xi + yi;
                br[e] = xr - yr;
                bi[e] = xi - yi;
            }
        }
    }
}

}  // namespace

CanonicalEmbedding::CanonicalEmbedding(int log_n) : log_n_(log_n) {
    if (log_n < kMinLogN || log_n > kMaxLogN)
        throw std::invalid_argument("CanonicalEmbedding: log N = " + std::to_string(log_n) + " must be in [" +
                                    std::to_string(kMinLogN) + ", " + std::to_string(kMaxLogN) + "]");
    const std::size_t big_n = degree(), n = slot_count();

    // First quadrant: zeta^r = exp(i*pi*r/N) for r < N/2, in long double, using the octant
    // symmetry so that every sine/cosine argument is at most pi/4.
    twist_re_.resize(n);
    twist_im_.resize(n);
    const long double step = std::numbers::pi_v<long double> / static_cast<long double>(big_n);
    for (std::size_t r = 0; r < n; ++r) {
        if (4 * r <= big_n) {
            const long double a = step * static_cast<long double>(r);
            twist_re_[r] = static_cast<double>(std::cos(a));
            twist_im_[r] = static_cast<double>(std::sin(a));
        } else {
            const long double a = step * static_cast<long double>(n - r);
            twist_re_[r] = static_cast<double>(std::sin(a));
            twist_im_[r] = static_cast<double>(std::cos(a));
        }
    }
    // zeta^k for any k in [0, 2N): a quarter turn is a multiplication by i (exact).
    auto zeta_pow = [&](std::size_t k, double& out_re, double& out_im) {
        double a = twist_re_[k % n], b = twist_im_[k % n];
        for (std::size_t q = k / n; q > 0; --q) {
            const double t = a;
            a = -b;
            b = t;
        }
        out_re = a;
        out_im = b;
    };

    // Twiddles of the length-n DFT: tw[h + e] = exp(i*pi*e/h) = zeta^(e*N/h).
    tw_re_.assign(n, 0.0);
    tw_im_.assign(n, 0.0);
    for (std::size_t h = 1; h < n; h <<= 1)
        for (std::size_t e = 0; e < h; ++e) zeta_pow(e * (big_n / h), tw_re_[h + e], tw_im_[h + e]);

    // Slot order: g_j = 5^j mod 2N = 1 + 4 t_j, and slot j is DFT output t_j.
    slot_exp_.resize(n);
    slot_pos_.resize(n);
    const std::uint64_t two_n = 2 * static_cast<std::uint64_t>(big_n);
    std::uint64_t g = 1;
    for (std::size_t j = 0; j < n; ++j) {
        slot_exp_[j] = static_cast<std::uint32_t>(g);
        slot_pos_[j] = reverse_bits(static_cast<std::uint32_t>((g - 1) / 4), log_n - 1);
        g = g * 5 % two_n;
    }
}

std::uint64_t CanonicalEmbedding::slot_exponent(std::size_t j) const {
    if (j >= slot_count())
        throw std::invalid_argument("CanonicalEmbedding::slot_exponent: slot " + std::to_string(j) +
                                    " out of range (N/2 = " + std::to_string(slot_count()) + ")");
    return slot_exp_[j];
}

void CanonicalEmbedding::check_coeffs(std::size_t size, const char* what) const {
    if (size != degree())
        throw std::invalid_argument(std::string("CanonicalEmbedding::") + what + ": coefficient span has size " +
                                    std::to_string(size) + ", expected N = " + std::to_string(degree()));
}

void CanonicalEmbedding::check_slots(std::size_t size, const char* what) const {
    if (size > slot_count())
        throw std::invalid_argument(std::string("CanonicalEmbedding::") + what + ": slot span has size " +
                                    std::to_string(size) + ", more than N/2 = " + std::to_string(slot_count()));
}

void CanonicalEmbedding::finish_encode(double* re, double* im, std::span<double> coeffs) const {
    const std::size_t n = slot_count();
    dft_dit_conj(re, im, n, tw_re_.data(), tw_im_.data());
    // u_k = x_k * zeta^(-k) / n;  m_k = Re u_k, m_{k+n} = Im u_k.
    const double inv_n = 1.0 / static_cast<double>(n);  // a power of two: exact
    const double* cr = twist_re_.data();
    const double* ci = twist_im_.data();
    double* lo = coeffs.data();
    double* hi = coeffs.data() + n;
    for (std::size_t k = 0; k < n; ++k) {
        const double xr = re[k], xi = im[k];
        lo[k] = (xr * cr[k] + xi * ci[k]) * inv_n;
        hi[k] = (xi * cr[k] - xr * ci[k]) * inv_n;
    }
}

void CanonicalEmbedding::start_decode(std::span<const double> coeffs, double* re, double* im) const {
    const std::size_t n = slot_count();
    // u_k = (m_k + i m_{k+n}) * zeta^k
    const double* cr = twist_re_.data();
    const double* ci = twist_im_.data();
    const double* lo = coeffs.data();
    const double* hi = coeffs.data() + n;
    for (std::size_t k = 0; k < n; ++k) {
        const double a = lo[k], b = hi[k];
        re[k] = a * cr[k] - b * ci[k];
        im[k] = a * ci[k] + b * cr[k];
    }
    dft_dif(re, im, n, tw_re_.data(), tw_im_.data());
}

void CanonicalEmbedding::encode(std::span<const std::complex<double>> slots, std::span<double> coeffs) const {
    check_slots(slots.size(), "encode");
    check_coeffs(coeffs.size(), "encode");
    const std::size_t n = slot_count();
    double* re = workspace(n);
    double* im = re + n;
    if (slots.size() < n) {
        std::fill_n(re, n, 0.0);
        std::fill_n(im, n, 0.0);
    }
    for (std::size_t j = 0; j < slots.size(); ++j) {
        re[slot_pos_[j]] = slots[j].real();
        im[slot_pos_[j]] = slots[j].imag();
    }
    finish_encode(re, im, coeffs);
}

void CanonicalEmbedding::encode(std::span<const double> values, std::span<double> coeffs) const {
    check_slots(values.size(), "encode");
    check_coeffs(coeffs.size(), "encode");
    const std::size_t n = slot_count();
    double* re = workspace(n);
    double* im = re + n;
    if (values.size() < n) std::fill_n(re, n, 0.0);
    std::fill_n(im, n, 0.0);
    for (std::size_t j = 0; j < values.size(); ++j) re[slot_pos_[j]] = values[j];
    finish_encode(re, im, coeffs);
}

void CanonicalEmbedding::decode(std::span<const double> coeffs, std::span<std::complex<double>> slots) const {
    check_coeffs(coeffs.size(), "decode");
    check_slots(slots.size(), "decode");
    const std::size_t n = slot_count();
    double* re = workspace(n);
    double* im = re + n;
    start_decode(coeffs, re, im);
    for (std::size_t j = 0; j < slots.size(); ++j) slots[j] = {re[slot_pos_[j]], im[slot_pos_[j]]};
}

void CanonicalEmbedding::decode_real(std::span<const double> coeffs, std::span<double> values) const {
    check_coeffs(coeffs.size(), "decode_real");
    check_slots(values.size(), "decode_real");
    const std::size_t n = slot_count();
    double* re = workspace(n);
    double* im = re + n;
    start_decode(coeffs, re, im);
    for (std::size_t j = 0; j < values.size(); ++j) values[j] = re[slot_pos_[j]];
}

}  // namespace hecnn::math
