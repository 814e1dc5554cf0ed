#include "hecnn/math/csprng.h"

#include <sodium.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace hecnn::math {
namespace {

void ensure_sodium() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    });
}

// Cumulative table P(|X| <= k) scaled to 2^64 for a centred discrete Gaussian.
struct GaussianTable {
    double sigma = 0;
    std::vector<std::uint64_t> cdf;  // cdf[k] = floor(2^64 * P(|X| <= k)) for k = 0..bound-1
};

GaussianTable make_table(double sigma) {
    const int bound = static_cast<int>(std::floor(6 * sigma));
    std::vector<long double> w(bound + 1);
    long double total = 0;
    for (int k = 0; k <= bound; ++k) {
        w[k] = std::exp(-static_cast<long double>(k) * k / (2.0L * sigma * sigma));
        total += k == 0 ? w[k] : 2 * w[k];
    }
    GaussianTable t;
    t.sigma = sigma;
    long double acc = 0;
    for (int k = 0; k < bound; ++k) {
        acc += (k == 0 ? w[k] : 2 * w[k]) / total;
        t.cdf.push_back(static_cast<std::uint64_t>(std::ldexp(acc, 64)));
    }
    return t;
}

}  // namespace

Seed os_seed() {
    ensure_sodium();
    Seed s;
    randombytes_buf(s.data(), s.size());
    return s;
}

Prng::Prng() : Prng(os_seed()) {}

Prng::Prng(const Seed& seed) : seed_(seed) { ensure_sodium(); }

void Prng::refill() {
    // ChaCha20 (IETF variant: 96-bit nonce, 32-bit block counter) keyed by the seed; the
    // nonce carries the high part of our 64-bit block counter so streams never repeat.
    static_assert(sizeof(buf_) % 64 == 0);
    std::uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
    const std::uint64_t hi = counter_ >> 32;
    std::memcpy(nonce, &hi, sizeof(hi));
    std::memset(buf_.data(), 0, buf_.size());
    crypto_stream_chacha20_ietf_xor_ic(buf_.data(), buf_.data(), buf_.size(), nonce,
                                       static_cast<std::uint32_t>(counter_), seed_.data());
    counter_ += buf_.size() / 64;
    pos_ = 0;
}

void Prng::fill(std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
        if (pos_ == buf_.size()) refill();
        std::size_t take = std::min(out.size() - done, buf_.size() - pos_);
        std::memcpy(out.data() + done, buf_.data() + pos_, take);
        pos_ += take;
        done += take;
    }
}

std::uint64_t Prng::next_u64() {
    std::uint64_t v;
    fill({reinterpret_cast<std::uint8_t*>(&v), sizeof(v)});
    return v;
}

void Prng::uniform_mod(const Modulus& q, std::span<u64> out) {
    const u64 qv = q.value();
    const int bits = q.bits();
    const u64 mask = bits == 64 ? ~u64{0} : (u64{1} << bits) - 1;
    // The same words of the stream as next_u64() in a loop (seeded ciphertexts are expanded
    // from it on both sides, so the sequence is part of the format), read straight from the
    // buffer while it holds whole words: a seeded upload's expansion is ~77 M draws.
    for (auto& x : out) {
        u64 v;
        do {
            if (pos_ + sizeof(v) <= buf_.size()) {
                std::memcpy(&v, buf_.data() + pos_, sizeof(v));
                pos_ += sizeof(v);
            } else {
                v = next_u64();  // refills, or takes a word across the buffer's end
            }
            v &= mask;
        } while (v >= qv);
        x = v;
    }
}

void Prng::ternary(std::span<std::int8_t> out) {
    for (auto& x : out) {
        std::uint8_t b;
        do fill({&b, 1});
        while (b >= 255);  // 255 = 3 * 85: reject to keep the three values equiprobable
        x = static_cast<std::int8_t>(b % 3) - 1;
    }
}

void Prng::gaussian(double sigma, std::span<std::int64_t> out) {
    if (!(sigma > 0 && sigma < 1e3)) throw std::invalid_argument("Prng::gaussian: sigma out of range");
    thread_local GaussianTable table;
    if (table.sigma != sigma) table = make_table(sigma);
    for (auto& x : out) {
        const std::uint64_t u = next_u64();
        std::int64_t k = 0;
        while (k < static_cast<std::int64_t>(table.cdf.size()) && u >= table.cdf[k]) ++k;  // linear: table is ~20 long
        const bool negative = next_u64() & 1;
        x = negative ? -k : k;
    }
}

}  // namespace hecnn::math
