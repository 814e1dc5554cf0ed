#include "hecnn/ckks/keys.h"

#include <sodium.h>

#include <algorithm>
#include <stdexcept>

#include "hecnn/ckks/galois.h"

#include "automorphism.h"
#include "poly_ops.h"
#include "precomp.h"

namespace hecnn::ckks {

void SecretKey::wipe() noexcept {
    if (!coeffs_.empty()) sodium_memzero(coeffs_.data(), coeffs_.size());
    if (!ntt_.empty()) sodium_memzero(ntt_.data(), ntt_.size() * sizeof(u64));
}

SecretKey::~SecretKey() { wipe(); }

SecretKey& SecretKey::operator=(const SecretKey& o) {
    if (this != &o) {
        wipe();
        ctx_ = o.ctx_;
        coeffs_ = o.coeffs_;
        ntt_ = o.ntt_;
    }
    return *this;
}

SecretKey& SecretKey::operator=(SecretKey&& o) noexcept {
    if (this != &o) {
        wipe();
        ctx_ = std::move(o.ctx_);
        coeffs_ = std::move(o.coeffs_);
        ntt_ = std::move(o.ntt_);
    }
    return *this;
}

SecretKey SecretKey::from_coefficients(ContextPtr ctx, std::vector<std::int8_t> coeffs) {
    if (!ctx) throw std::invalid_argument("SecretKey: null context");
    const std::size_t n = ctx->n(), ext = ctx->data_count() + ctx->special_count();
    if (coeffs.size() != n) throw std::invalid_argument("SecretKey: expected " + std::to_string(n) + " coefficients");
    for (auto c : coeffs)
        if (c < -1 || c > 1) throw std::invalid_argument("SecretKey: coefficients must be ternary (-1, 0, 1)");
    SecretKey sk;
    sk.ctx_ = std::move(ctx);
    sk.coeffs_ = std::move(coeffs);
    sk.ntt_.resize(ext * n);
#pragma omp parallel for
    for (std::size_t i = 0; i < ext; ++i) {
        u64* limb = sk.ntt_.data() + i * n;
        detail::signed_to_limb<std::int8_t>(sk.coeffs_, sk.ctx_->modulus(i), limb);
        sk.ctx_->ntt(i).forward(limb);
    }
    return sk;
}

void KeySwitchKey::expand_uniform(const Context& ctx, const math::Seed& seed, u64* out) {
    // Uniform residues are uniform in either domain, so they are sampled directly in NTT form.
    math::Prng prng(seed);
    const std::size_t ext = ctx.data_count() + ctx.special_count(), n = ctx.n();
    for (std::size_t i = 0; i < ext; ++i) prng.uniform_mod(ctx.modulus(i), {out + i * n, n});
}

KeySwitchKey::KeySwitchKey(ContextPtr ctx, std::vector<math::Seed> seeds) : ctx_(std::move(ctx)), seeds_(std::move(seeds)) {
    if (!ctx_) throw std::invalid_argument("KeySwitchKey: null context");
    if (seeds_.size() != static_cast<std::size_t>(ctx_->dnum()))
        throw std::invalid_argument("KeySwitchKey: expected " + std::to_string(ctx_->dnum()) + " digits, got " + std::to_string(seeds_.size()));
    const std::size_t per = ext_limbs() * ctx_->n();
    b_.resize(seeds_.size() * per);
    a_.resize(seeds_.size() * per);
#pragma omp parallel for
    for (std::size_t j = 0; j < seeds_.size(); ++j) expand_uniform(*ctx_, seeds_[j], a_.data() + j * per);
}

KeyGenerator::KeyGenerator(ContextPtr ctx, math::Prng prng) : ctx_(std::move(ctx)), prng_(std::move(prng)) {
    if (!ctx_) throw std::invalid_argument("KeyGenerator: null context");
    std::vector<std::int8_t> s(ctx_->n());
    prng_.ternary(s);
    sk_ = SecretKey::from_coefficients(ctx_, std::move(s));
}

KeyGenerator::KeyGenerator(ContextPtr ctx) : KeyGenerator(std::move(ctx), math::Prng()) {}

KeyGenerator::KeyGenerator(ContextPtr ctx, SecretKey sk) : ctx_(std::move(ctx)), sk_(std::move(sk)) {
    if (!ctx_ || sk_.context() != ctx_) throw std::invalid_argument("KeyGenerator: secret key belongs to other parameters");
}

KeyGenerator KeyGenerator::insecure_test_only_from_seed(ContextPtr ctx, const math::Seed& seed) {
    return KeyGenerator(std::move(ctx), math::Prng(seed));
}

PublicKey::PublicKey(ContextPtr ctx) : ctx_(std::move(ctx)) {
    if (!ctx_) throw std::invalid_argument("PublicKey: null context");
    data_.resize(2 * ext_limbs() * ctx_->n());
}

PublicKey KeyGenerator::create_public_key() {
    const auto& ctx = *ctx_;
    const std::size_t n = ctx.n();
    PublicKey pk(ctx_);
    std::vector<std::int64_t> e(n);
    prng_.gaussian(detail::kErrorSigma, e);
    math::AlignedVector<u64> tmp(n);
    for (std::size_t i = 0; i < pk.ext_limbs(); ++i) {
        const Modulus& q = ctx.modulus(i);
        u64* b = pk.limb(0, i);
        u64* a = pk.limb(1, i);
        prng_.uniform_mod(q, {a, n});
        detail::signed_to_limb<std::int64_t>(e, q, tmp.data());
        ctx.ntt(i).forward(tmp.data());
        // b = -a·s + e
        detail::mul_limb(a, sk_.ntt_limb(i), b, n, q);
        detail::sub_limb(tmp.data(), b, b, n, q.value());
    }
    return pk;
}

void KeyGenerator::fill_switch_key(KeySwitchKey& key, const u64* target_ntt) {
    const auto& ctx = *ctx_;
    const std::size_t n = ctx.n(), l1 = ctx.data_count(), ext = l1 + ctx.special_count();
    const int alpha = ctx.digit_size();
    std::vector<std::int64_t> e(n);
    math::AlignedVector<u64> tmp(n);
    for (std::size_t j = 0; j < key.digits(); ++j) {
        prng_.gaussian(detail::kErrorSigma, e);
        for (std::size_t i = 0; i < ext; ++i) {
            const Modulus& q = ctx.modulus(i);
            u64* b = key.b(j, i);
            detail::signed_to_limb<std::int64_t>(e, q, tmp.data());
            ctx.ntt(i).forward(tmp.data());
            detail::mul_limb(key.a(j, i), sk_.ntt_limb(i), b, n, q);
            detail::sub_limb(tmp.data(), b, b, n, q.value());  // -a·s + e
            const bool in_digit = i < l1 && static_cast<int>(i) / alpha == static_cast<int>(j);
            if (in_digit) {
                // + (P mod q_i)·s'
                detail::mul_scalar_limb(target_ntt + i * n, ctx.precomp().p_mod_q[i], tmp.data(), n, q.value());
                detail::add_limb(b, tmp.data(), b, n, q.value());
            }
        }
    }
}

RelinKey KeyGenerator::create_relin_key() {
    const auto& ctx = *ctx_;
    const std::size_t n = ctx.n(), l1 = ctx.data_count();
    std::vector<math::Seed> seeds(ctx.dnum());
    for (auto& s : seeds) prng_.fill(s);
    RelinKey rk(ctx_, seeds);
    // s² in NTT form on the data primes (the gadget is zero on the special primes).
    math::AlignedVector<u64> s2(l1 * n);
    for (std::size_t i = 0; i < l1; ++i) detail::mul_limb(sk_.ntt_limb(i), sk_.ntt_limb(i), s2.data() + i * n, n, ctx.modulus(i));
    fill_switch_key(rk, s2.data());
    return rk;
}

GaloisKeys KeyGenerator::create_galois_keys(std::span<const std::uint32_t> elements) {
    const auto& ctx = *ctx_;
    const std::size_t n = ctx.n(), l1 = ctx.data_count();
    std::vector<std::uint32_t> elts(elements.begin(), elements.end());
    for (auto g : elts) check_galois_element(g, n);
    std::sort(elts.begin(), elts.end());
    elts.erase(std::unique(elts.begin(), elts.end()), elts.end());
    std::vector<std::vector<math::Seed>> seeds(elts.size(), std::vector<math::Seed>(ctx.dnum()));
    for (auto& per : seeds)
        for (auto& s : per) prng_.fill(s);
    GaloisKeys gk(ctx_, elts, std::move(seeds));
    // σ_g(s) from s's coefficients in coefficient form (independent of the NTT's order).
    math::AlignedVector<u64> s_limb(n), target(l1 * n);
    for (auto g : elts) {
        for (std::size_t i = 0; i < l1; ++i) {
            detail::signed_to_limb<std::int8_t>(sk_.coefficients(), ctx.modulus(i), s_limb.data());
            detail::galois_coeff_limb(s_limb.data(), target.data() + i * n, n, g, ctx.modulus(i).value());
            ctx.ntt(i).forward(target.data() + i * n);
        }
        fill_switch_key(gk.key(g), target.data());
    }
    sodium_memzero(s_limb.data(), s_limb.size() * sizeof(u64));
    sodium_memzero(target.data(), target.size() * sizeof(u64));
    return gk;
}

GaloisKeys KeyGenerator::create_rotation_keys(std::span<const int> steps, bool conjugation) {
    const std::size_t n = ctx_->n();
    std::vector<std::uint32_t> elts;
    for (int k : steps)
        if (const auto g = galois_element(k, n); g != 1) elts.push_back(g);
    if (conjugation) elts.push_back(conjugation_element(n));
    return create_galois_keys(elts);
}

}  // namespace hecnn::ckks
