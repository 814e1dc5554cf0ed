#include "hecnn/ckks/encryptor.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "keyswitch.h"
#include "poly_ops.h"

namespace hecnn::ckks {

void expand_seeded_c1(const Context& ctx, const math::Seed& seed, std::size_t limbs, u64* out) {
    math::Prng prng(seed);
    const std::size_t n = ctx.n();
    for (std::size_t i = 0; i < limbs; ++i) prng.uniform_mod(ctx.modulus(i), {out + i * n, n});
}

Encryptor::Encryptor(ContextPtr ctx, const PublicKey& pk) : ctx_(std::move(ctx)), pk_(&pk) {
    if (!ctx_ || pk.context() != ctx_) throw std::invalid_argument("Encryptor: public key belongs to other parameters");
}

Encryptor::Encryptor(ContextPtr ctx, const SecretKey& sk) : ctx_(std::move(ctx)), sk_(&sk) {
    if (!ctx_ || sk.context() != ctx_) throw std::invalid_argument("Encryptor: secret key belongs to other parameters");
}

void Encryptor::check(const Plaintext& pt) const {
    if (pt.context() != ctx_) throw std::invalid_argument("Encryptor: plaintext belongs to other parameters");
    if (pt.is_ntt()) throw std::invalid_argument("Encryptor: plaintext must be in coefficient form");
}

Ciphertext Encryptor::encrypt(const Plaintext& pt) const {
    check(pt);
    if (sk_) return encrypt_seeded(pt).ct;
    const auto& ctx = *ctx_;
    const std::size_t n = ctx.n(), limbs = pt.limbs(), k = ctx.special_count(), total = limbs + k;
    math::Prng prng;
    std::vector<std::int8_t> u(n);
    std::vector<std::int64_t> e0(n), e1(n);
    prng.ternary(u);
    prng.gaussian(detail::kErrorSigma, e0);
    prng.gaussian(detail::kErrorSigma, e1);
    // Over Q_l·P: c_k = INTT(pk_k · NTT(u)) + e_k; then ModDown divides by P, rounding.
    math::AlignedVector<u64> wide(2 * total * n);
    auto ext_index = [&](std::size_t t) { return t < limbs ? t : ctx.data_count() + (t - limbs); };
#pragma omp parallel for
    for (std::size_t t = 0; t < total; ++t) {
        const std::size_t i = ext_index(t);
        const Modulus& q = ctx.modulus(i);
        math::AlignedVector<u64> un(n), tmp(n);
        detail::signed_to_limb<std::int8_t>(u, q, un.data());
        ctx.ntt(i).forward(un.data());
        for (std::size_t c = 0; c < 2; ++c) {
            u64* w = wide.data() + (c * total + t) * n;
            detail::mul_limb(pk_->limb(c, i), un.data(), w, n, q);
            ctx.ntt(i).inverse(w);
            detail::signed_to_limb<std::int64_t>(c == 0 ? e0 : e1, q, tmp.data());
            detail::add_limb(w, tmp.data(), w, n, q.value());
        }
    }
    Ciphertext ct(ctx_, pt.level(), pt.scale(), 2, false);
    math::AlignedVector<u64> scratch(limbs * n);
    for (std::size_t c = 0; c < 2; ++c) detail::mod_down(ctx, pt.level(), wide.data() + c * total * n, scratch.data(), ct.limb(c, 0));
#pragma omp parallel for
    for (std::size_t i = 0; i < limbs; ++i) detail::add_limb(ct.limb(0, i), pt.limb(0, i), ct.limb(0, i), n, ctx.modulus(i).value());
    return ct;
}

SeededCiphertext Encryptor::encrypt_seeded(const Plaintext& pt) const {
    check(pt);
    if (!sk_) throw std::logic_error("Encryptor::encrypt_seeded needs the secret key");
    const auto& ctx = *ctx_;
    const std::size_t n = ctx.n(), limbs = pt.limbs();
    SeededCiphertext out{Ciphertext(ctx_, pt.level(), pt.scale(), 2, false), math::os_seed()};
    Ciphertext& ct = out.ct;
    expand_seeded_c1(ctx, out.seed, limbs, ct.limb(1, 0));
    math::Prng prng;
    std::vector<std::int64_t> e(n);
    prng.gaussian(detail::kErrorSigma, e);
    // c0 = -INTT(NTT(a)·s) + e + m
#pragma omp parallel for
    for (std::size_t i = 0; i < limbs; ++i) {
        const Modulus& q = ctx.modulus(i);
        math::AlignedVector<u64> tmp(n);
        u64* c0 = ct.limb(0, i);
        std::copy_n(ct.limb(1, i), n, c0);
        ctx.ntt(i).forward(c0);
        detail::mul_limb(c0, sk_->ntt_limb(i), c0, n, q);
        ctx.ntt(i).inverse(c0);
        detail::signed_to_limb<std::int64_t>(e, q, tmp.data());
        detail::sub_limb(tmp.data(), c0, c0, n, q.value());
        detail::add_limb(c0, pt.limb(0, i), c0, n, q.value());
    }
    return out;
}

Decryptor::Decryptor(ContextPtr ctx, const SecretKey& sk) : ctx_(std::move(ctx)), sk_(sk) {
    if (!ctx_ || sk.context() != ctx_) throw std::invalid_argument("Decryptor: secret key belongs to other parameters");
}

Plaintext Decryptor::decrypt(const Ciphertext& ct) const {
    if (ct.context() != ctx_) throw std::invalid_argument("Decryptor: ciphertext belongs to other parameters");
    const auto& ctx = *ctx_;
    const std::size_t n = ctx.n();
    // Fewest limbs whose product exceeds 2^63·scale (room for |values| up to 2^62).
    const double need = std::log2(ct.scale()) + 64;
    std::size_t limbs = 0;
    for (double bits = 0; limbs < ct.limbs() && bits < need; ++limbs) bits += std::log2(double(ctx.modulus(limbs).value()));
    Plaintext pt(ctx_, static_cast<int>(limbs) - 1, ct.scale(), false);
#pragma omp parallel for
    for (std::size_t i = 0; i < limbs; ++i) {
        const Modulus& q = ctx.modulus(i);
        math::AlignedVector<u64> acc(n), tmp(n);
        // Horner in NTT form: ((c_{k}·s + c_{k-1})·s + …) + c_0.
        const std::size_t top = ct.size() - 1;
        std::copy_n(ct.limb(top, i), n, acc.data());
        if (!ct.is_ntt()) ctx.ntt(i).forward(acc.data());
        for (std::size_t k = top; k-- > 0;) {
            detail::mul_limb(acc.data(), sk_.ntt_limb(i), acc.data(), n, q);
            std::copy_n(ct.limb(k, i), n, tmp.data());
            if (!ct.is_ntt() && k > 0) ctx.ntt(i).forward(tmp.data());
            if (k == 0 && !ct.is_ntt()) {
                ctx.ntt(i).inverse(acc.data());  // add c_0 in its own (coefficient) form
                detail::add_limb(acc.data(), tmp.data(), acc.data(), n, q.value());
                break;
            }
            detail::add_limb(acc.data(), tmp.data(), acc.data(), n, q.value());
            if (k == 0) ctx.ntt(i).inverse(acc.data());
        }
        std::copy_n(acc.data(), n, pt.limb(0, i));
    }
    return pt;
}

}  // namespace hecnn::ckks
