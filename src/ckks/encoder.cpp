#include "hecnn/ckks/encoder.h"

#include <cmath>
#include <stdexcept>

#include "hecnn/math/embedding.h"
#include "poly_ops.h"

namespace hecnn::ckks {
namespace {

// Centred value of x given by residues on q_0..q_{k-1}, via mixed-radix (Garner) digits
// evaluated from the top in long double. |x| must be below Q/2.
class CrtDecoder {
public:
    CrtDecoder(const std::vector<Modulus>& q, std::size_t k) : q_(q.begin(), q.begin() + k), inv_(k * k) {
        for (std::size_t i = 0; i < k; ++i)
            for (std::size_t j = 0; j < i; ++j) inv_[i * k + j] = q_[i].inv(q_[i].reduce(q_[j].value()));
    }
    long double operator()(const u64* residues, std::size_t stride) const {
        const std::size_t k = q_.size();
        u64 d[64];
        for (std::size_t i = 0; i < k; ++i) {
            u64 v = residues[i * stride];
            for (std::size_t j = 0; j < i; ++j) v = q_[i].mul(q_[i].sub(v, q_[i].reduce(d[j])), inv_[i * k + j]);
            d[i] = v;
        }
        // Negative iff x >= Q/2, read off the top digit (and the next ones when exactly half).
        bool negative = false;
        for (std::size_t i = k; i-- > 0;) {
            const u64 half = q_[i].value() / 2;  // q odd: digits above half mean x > Q/2
            if (d[i] != half) { negative = d[i] > half; break; }
        }
        long double r = 0;
        for (std::size_t i = k; i-- > 0;) {
            const u64 digit = negative ? q_[i].value() - 1 - d[i] : d[i];
            r = r * static_cast<long double>(q_[i].value()) + static_cast<long double>(digit);
        }
        return negative ? -(r + 1) : r;
    }

private:
    std::vector<Modulus> q_;
    std::vector<u64> inv_;
};

}  // namespace

Encoder::Encoder(ContextPtr ctx) : ctx_(std::move(ctx)) {
    if (!ctx_) throw std::invalid_argument("Encoder: null context");
    emb_ = std::make_unique<math::CanonicalEmbedding>(ctx_->log_n());
}

Encoder::~Encoder() = default;

Plaintext Encoder::encode(std::span<const double> values) const { return encode(values, ctx_->scale(), ctx_->max_level()); }

namespace {
void check_encode(std::size_t count, std::size_t slots, double scale) {
    if (count > slots)
        throw std::invalid_argument("Encoder::encode: " + std::to_string(count) + " values exceed the " + std::to_string(slots) + " slots");
    if (!(scale >= 1.0) || !std::isfinite(scale)) throw std::invalid_argument("Encoder::encode: scale must be finite and >= 1");
}
}  // namespace

Plaintext Encoder::from_coefficients(const std::vector<double>& coeffs, double scale, int level) const {
    if (level < 0 || level > ctx_->max_level()) throw std::invalid_argument("Encoder::encode: level out of range");
    Plaintext pt(ctx_, level, scale);
    const std::size_t limbs = pt.limbs(), n = ctx_->n();
    std::span<const Modulus> moduli(ctx_->data_moduli().data(), limbs);
    std::vector<u64> res(limbs);
    for (std::size_t k = 0; k < n; ++k) {
        detail::real_to_residues(coeffs[k] * scale, moduli, res);
        for (std::size_t i = 0; i < limbs; ++i) pt.limb(0, i)[k] = res[i];
    }
    return pt;
}

Plaintext Encoder::encode(std::span<const double> values, double scale, int level) const {
    check_encode(values.size(), slots(), scale);
    std::vector<double> coeffs(ctx_->n());
    emb_->encode(values, coeffs);
    return from_coefficients(coeffs, scale, level);
}

Plaintext Encoder::encode_complex(std::span<const std::complex<double>> values, double scale, int level) const {
    check_encode(values.size(), slots(), scale);
    std::vector<double> coeffs(ctx_->n());
    emb_->encode(values, coeffs);
    return from_coefficients(coeffs, scale, level);
}

std::vector<double> Encoder::to_coefficients(const Plaintext& pt) const {
    if (pt.context() != ctx_) throw std::invalid_argument("Encoder::decode: plaintext belongs to other parameters");
    if (pt.is_ntt()) throw std::invalid_argument("Encoder::decode: plaintext is in NTT form; convert it first");
    const std::size_t n = ctx_->n();
    const std::size_t k = std::min<std::size_t>(pt.limbs(), 64);
    CrtDecoder crt(ctx_->data_moduli(), k);
    std::vector<double> coeffs(n);
    const long double inv_scale = 1.0L / pt.scale();
    for (std::size_t c = 0; c < n; ++c) coeffs[c] = static_cast<double>(crt(pt.limb(0, 0) + c, n) * inv_scale);
    return coeffs;
}

std::vector<double> Encoder::decode(const Plaintext& pt) const {
    const auto coeffs = to_coefficients(pt);
    std::vector<double> values(slots());
    emb_->decode_real(coeffs, values);
    return values;
}

std::vector<std::complex<double>> Encoder::decode_complex(const Plaintext& pt) const {
    const auto coeffs = to_coefficients(pt);
    std::vector<std::complex<double>> values(slots());
    emb_->decode(coeffs, values);
    return values;
}

}  // namespace hecnn::ckks
