#include "hecnn/ckks/context.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "hecnn/math/primes.h"
#include "precomp.h"

namespace hecnn::ckks {
namespace {

// A digit's modulus may exceed P by this many bits: the key-switching error then stays
// ~2^-40 of a Δ²-scaled product (see docs/ENGINE.md, "Key switching").
constexpr int kDigitSlackBits = 20;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("CKKS parameters: " + what); }

// Resolve "explicit primes or bit sizes" for one list, avoiding primes already taken.
std::vector<u64> resolve_primes(const char* name, const std::vector<u64>& explicit_primes, const std::vector<int>& bits,
                                int log_n, std::vector<u64>& taken) {
    if (!explicit_primes.empty() && !bits.empty()) fail(std::string("give either ") + name + "_primes or " + name + "_prime_bits, not both");
    std::vector<u64> out;
    const u64 two_n = u64{2} << log_n;
    if (!explicit_primes.empty()) {
        for (u64 p : explicit_primes) {
            if (math::Modulus::bit_length(p) > math::kMaxModulusBits) fail(std::string(name) + " prime " + std::to_string(p) + " exceeds 61 bits");
            if (!math::is_prime(p)) fail(std::string(name) + " prime " + std::to_string(p) + " is not prime");
            if (p % two_n != 1) fail(std::string(name) + " prime " + std::to_string(p) + " is not 1 mod 2N (no negacyclic NTT)");
            if (std::count(taken.begin(), taken.end(), p)) fail(std::string(name) + " prime " + std::to_string(p) + " is repeated");
            taken.push_back(p);
            out.push_back(p);
        }
        return out;
    }
    for (int b : bits) {
        try {
            u64 p = math::generate_ntt_primes(b, log_n, 1, taken).at(0);
            taken.push_back(p);
            out.push_back(p);
        } catch (const std::invalid_argument& e) {
            fail(std::string(name) + " prime bits: " + e.what());
        }
    }
    return out;
}

}  // namespace

int max_log_qp_128(int log_n) {
    switch (log_n) {
        case 10: return 27;
        case 11: return 54;
        case 12: return 109;
        case 13: return 218;
        case 14: return 438;
        case 15: return 881;
        case 16: return 1747;
        default: return 0;
    }
}

Context::~Context() = default;

const Modulus& Context::modulus(std::size_t i) const {
    return i < data_.size() ? data_[i] : special_.at(i - data_.size());
}

double Context::log_q() const {
    double s = 0;
    for (auto& m : data_) s += std::log2(static_cast<double>(m.value()));
    return s;
}

double Context::log_qp() const {
    double s = log_q();
    for (auto& m : special_) s += std::log2(static_cast<double>(m.value()));
    return s;
}

std::string Context::id_hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(id_));
    return buf;
}

std::string Context::describe() const {
    std::ostringstream os;
    os << "N=2^" << log_n_ << ", " << data_.size() << " data primes (";
    for (std::size_t i = 0; i < data_.size(); ++i) os << (i ? "," : "") << data_[i].bits();
    os << " bits), " << special_.size() << " special (";
    for (std::size_t i = 0; i < special_.size(); ++i) os << (i ? "," : "") << special_[i].bits();
    os << " bits), dnum=" << dnum_ << ", log2(QP)=" << static_cast<int>(std::ceil(log_qp())) << ", scale=2^" << std::log2(scale_)
       << (secure_128_ ? ", 128-bit secure" : ", BELOW 128-BIT SECURITY (test only)") << ", id " << id_hex();
    return os.str();
}

std::shared_ptr<const Context> Context::create(const ParametersLiteral& lit) {
    if (lit.log_n < 1 || lit.log_n > 17) fail("log_n must be in [1, 17], got " + std::to_string(lit.log_n));
    if (!(lit.log_scale >= 1 && lit.log_scale <= 120)) fail("log_scale must be in [1, 120]");
    std::shared_ptr<Context> ctx(new Context());
    ctx->log_n_ = lit.log_n;
    ctx->scale_ = std::ldexp(1.0, 0) * std::exp2(lit.log_scale);

    std::vector<u64> taken;
    auto dp = resolve_primes("data", lit.data_primes, lit.data_prime_bits, lit.log_n, taken);
    auto sp = resolve_primes("special", lit.special_primes, lit.special_prime_bits, lit.log_n, taken);
    if (dp.empty()) fail("at least one data prime is required");
    if (sp.empty()) fail("at least one special prime is required (hybrid key switching)");
    // 48 keeps every 128-bit accumulation of key switching (<= 49 products < 2^122) exact.
    if (dp.size() > 48 || sp.size() > 48) fail("at most 48 data and 48 special primes");
    for (u64 p : dp) ctx->data_.emplace_back(p);
    for (u64 p : sp) ctx->special_.emplace_back(p);

    // Security: the sum of the primes' bit lengths (>= log2 QP) against the Standard.
    int total_bits = 0;
    for (u64 p : taken) total_bits += math::Modulus::bit_length(p);
    const int bound = max_log_qp_128(lit.log_n);
    ctx->secure_128_ = bound > 0 && total_bits <= bound;
    if (!ctx->secure_128_ && !lit.insecure_test_only_allow_below_128_bits) {
        if (bound == 0)
            fail("N = 2^" + std::to_string(lit.log_n) + " is outside the 128-bit security table (2^10..2^16)");
        fail("log2(QP) = " + std::to_string(total_bits) + " bits exceeds the 128-bit bound of " + std::to_string(bound) +
             " for N = 2^" + std::to_string(lit.log_n) + "; use fewer or smaller primes or a larger N");
    }

    // Key-switching digits.
    const int l1 = static_cast<int>(dp.size());
    double log_p = 0;
    for (u64 p : sp) log_p += std::log2(static_cast<double>(p));
    if (lit.dnum < 0 || lit.dnum > l1) fail("dnum must be in [0, " + std::to_string(l1) + "]");
    if (lit.digit_size < 0 || lit.digit_size > l1) fail("digit_size must be in [0, " + std::to_string(l1) + "]");
    int alpha = 0;
    if (lit.digit_size > 0) {
        alpha = lit.digit_size;
        if (lit.dnum > 0 && lit.dnum != (l1 + alpha - 1) / alpha)
            fail("dnum " + std::to_string(lit.dnum) + " contradicts digit_size " + std::to_string(alpha) + " for " +
                 std::to_string(l1) + " data primes");
    } else if (lit.dnum > 0) {
        alpha = (l1 + lit.dnum - 1) / lit.dnum;
    } else {
        // Largest alpha whose every digit modulus stays within P·2^slack.
        for (int a = l1; a >= 1 && alpha == 0; --a) {
            bool ok = true;
            for (int start = 0; start < l1 && ok; start += a) {
                double bits = 0;
                for (int i = start; i < std::min(l1, start + a); ++i) bits += std::log2(static_cast<double>(dp[i]));
                ok = bits <= log_p + kDigitSlackBits;
            }
            if (ok) alpha = a;
        }
        if (alpha == 0) fail("special primes too small: even single-prime digits exceed P·2^" + std::to_string(kDigitSlackBits));
    }
    ctx->alpha_ = alpha;
    ctx->dnum_ = (l1 + alpha - 1) / alpha;

    for (std::size_t i = 0; i < dp.size() + sp.size(); ++i)
        ctx->ntt_.push_back(std::make_unique<math::NTTTables>(lit.log_n, ctx->modulus(i)));

    // Canonical literal (explicit primes) and its id.
    ctx->canonical_.log_n = lit.log_n;
    ctx->canonical_.data_primes = dp;
    ctx->canonical_.special_primes = sp;
    ctx->canonical_.dnum = ctx->dnum_;
    ctx->canonical_.digit_size = ctx->alpha_;
    ctx->canonical_.log_scale = lit.log_scale;
    ctx->canonical_.insecure_test_only_allow_below_128_bits = lit.insecure_test_only_allow_below_128_bits;
    {
        std::vector<std::uint64_t> words = {0x6865636e6e2d636bull /* "hecnn-ck" */, static_cast<std::uint64_t>(lit.log_n),
                                            dp.size(), sp.size(), static_cast<std::uint64_t>(ctx->dnum_),
                                            static_cast<std::uint64_t>(ctx->alpha_)};
        words.insert(words.end(), dp.begin(), dp.end());
        words.insert(words.end(), sp.begin(), sp.end());
        std::uint64_t scale_bits;
        std::memcpy(&scale_bits, &lit.log_scale, sizeof(scale_bits));
        words.push_back(scale_bits);
        if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
        unsigned char h[16];
        crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(words.data()), words.size() * 8, nullptr, 0);
        std::memcpy(&ctx->id_, h, sizeof(ctx->id_));
    }

    // RNS precomputations.
    auto pre = std::make_unique<Precomp>();
    const auto& q = ctx->data_;
    pre->rescale_inv.resize(l1);
    pre->rescale_inv_shoup.resize(l1);
    pre->rescale_qmod.resize(l1);
    for (int l = 1; l < l1; ++l)
        for (int i = 0; i < l; ++i) {
            u64 inv = q[i].inv(q[i].reduce(q[l].value()));
            pre->rescale_inv[l].push_back(inv);
            pre->rescale_inv_shoup[l].push_back(math::shoup_precompute(inv, q[i].value()));
            pre->rescale_qmod[l].push_back(q[i].reduce(q[l].value()));
        }
    std::vector<Modulus> ext(q.begin(), q.end());
    ext.insert(ext.end(), ctx->special_.begin(), ctx->special_.end());
    for (int d = 0; d < ctx->dnum_; ++d) {
        pre->modup.emplace_back();
        const int start = d * alpha, size = std::min(alpha, l1 - start);
        for (int s = 1; s <= size; ++s)
            pre->modup.back().push_back(std::make_unique<math::BaseConverter>(
                std::vector<Modulus>(q.begin() + start, q.begin() + start + s), ext));
    }
    pre->moddown = std::make_unique<math::BaseConverter>(ctx->special_, q);
    for (const auto& qi : q) {
        u64 pm = 1;
        for (const auto& p : ctx->special_) pm = qi.mul(pm, qi.reduce(p.value()));
        pre->p_mod_q.push_back(pm);
        u64 inv = qi.inv(pm);
        pre->p_inv_mod_q.push_back(inv);
        pre->p_inv_mod_q_shoup.push_back(math::shoup_precompute(inv, qi.value()));
    }
    ctx->pre_ = std::move(pre);
    return ctx;
}

}  // namespace hecnn::ckks
