#include "hecnn/ckks/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "hecnn/math/elementwise.h"
#include "automorphism.h"
#include "keyswitch.h"
#include "poly_ops.h"
#include "precomp.h"

namespace hecnn::ckks {
namespace {

std::string log2_str(double s) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "2^%.6f", std::log2(s));
    return buf;
}

bool same_scale(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)); }

// Apply f(poly, limb) to every (polynomial, limb) pair of a block, in parallel.
template <class F>
void for_each_limb(const PolyBlock& a, F&& f) {
    const std::size_t polys = a.polys(), limbs = a.limbs();
#pragma omp parallel for schedule(dynamic)
    for (std::size_t pi = 0; pi < polys * limbs; ++pi) f(pi / limbs, pi % limbs);
}

}  // namespace

Evaluator::Evaluator(ContextPtr ctx) : ctx_(std::move(ctx)) {
    if (!ctx_) throw std::invalid_argument("Evaluator: null context");
}

void Evaluator::check_mine(const char* op, const PolyBlock& a) const {
    if (a.empty()) throw std::invalid_argument(std::string(op) + ": empty operand");
    if (a.context() != ctx_ && a.context()->id() != ctx_->id())
        throw std::invalid_argument(std::string(op) + ": operand belongs to other parameters (id " + a.context()->id_hex() +
                                    ", evaluator " + ctx_->id_hex() + ")");
}

void Evaluator::check_same(const char* op, const PolyBlock& a, const PolyBlock& b) const {
    check_mine(op, a);
    check_mine(op, b);
    if (a.level() != b.level())
        throw std::invalid_argument(std::string(op) + ": level mismatch (" + std::to_string(a.level()) + " vs " +
                                    std::to_string(b.level()) + "); drop the higher one to the lower level first");
    if (!same_scale(a.scale(), b.scale()))
        throw std::invalid_argument(std::string(op) + ": scale mismatch (" + log2_str(a.scale()) + " vs " + log2_str(b.scale()) +
                                    "); rescale or multiply one operand to match");
}

void Evaluator::to_ntt_inplace(Ciphertext& a) const {
    check_mine("to_ntt", a);
    if (a.is_ntt()) return;
    for_each_limb(a, [&](std::size_t k, std::size_t i) { ctx_->ntt(i).forward(a.limb(k, i)); });
    a.set_ntt(true);
}

void Evaluator::to_coeff_inplace(Ciphertext& a) const {
    check_mine("to_coeff", a);
    if (!a.is_ntt()) return;
    for_each_limb(a, [&](std::size_t k, std::size_t i) { ctx_->ntt(i).inverse(a.limb(k, i)); });
    a.set_ntt(false);
}

namespace {
template <class Op>
void add_like(const Evaluator& ev, Ciphertext& a, const Ciphertext& b, Op op) {
    const Ciphertext* bp = &b;
    Ciphertext converted;
    if (a.is_ntt() != b.is_ntt()) {
        converted = b;
        a.is_ntt() ? ev.to_ntt_inplace(converted) : ev.to_coeff_inplace(converted);
        bp = &converted;
    }
    const std::size_t common = std::min(a.size(), bp->size());
    if (bp->size() > a.size()) {
        Ciphertext grown(a.context(), a.level(), a.scale(), bp->size(), a.is_ntt());
        std::copy(a.words().begin(), a.words().end(), grown.words().begin());
        std::fill(grown.words().begin() + a.words().size(), grown.words().end(), 0);
        a = std::move(grown);
    }
    const std::size_t n = a.n();
    for_each_limb(a, [&](std::size_t k, std::size_t i) {
        const u64 q = a.context()->modulus(i).value();
        if (k < common) op(a.limb(k, i), bp->limb(k, i), a.limb(k, i), n, q);
        else if (k < bp->size()) op(a.limb(k, i) /* zero */, bp->limb(k, i), a.limb(k, i), n, q);
    });
}
}  // namespace

void Evaluator::add_inplace(Ciphertext& a, const Ciphertext& b) const {
    check_same("add", a, b);
    add_like(*this, a, b, detail::add_limb);
}

void Evaluator::sub_inplace(Ciphertext& a, const Ciphertext& b) const {
    check_same("sub", a, b);
    add_like(*this, a, b, detail::sub_limb);
}

void Evaluator::negate_inplace(Ciphertext& a) const {
    check_mine("negate", a);
    const std::size_t n = a.n();
    for_each_limb(a, [&](std::size_t k, std::size_t i) { detail::negate_limb(a.limb(k, i), a.limb(k, i), n, ctx_->modulus(i).value()); });
}

Ciphertext Evaluator::add(const Ciphertext& a, const Ciphertext& b) const {
    Ciphertext r = a;
    add_inplace(r, b);
    return r;
}

Ciphertext Evaluator::sub(const Ciphertext& a, const Ciphertext& b) const {
    Ciphertext r = a;
    sub_inplace(r, b);
    return r;
}

void Evaluator::add_plain_inplace(Ciphertext& a, const Plaintext& p) const {
    check_same("add_plain", a, p);
    if (a.is_ntt() != p.is_ntt()) throw std::invalid_argument("add_plain: ciphertext and plaintext are in different forms");
    const std::size_t n = a.n();
    for_each_limb(p, [&](std::size_t, std::size_t i) { detail::add_limb(a.limb(0, i), p.limb(0, i), a.limb(0, i), n, ctx_->modulus(i).value()); });
}

void Evaluator::sub_plain_inplace(Ciphertext& a, const Plaintext& p) const {
    check_same("sub_plain", a, p);
    if (a.is_ntt() != p.is_ntt()) throw std::invalid_argument("sub_plain: ciphertext and plaintext are in different forms");
    const std::size_t n = a.n();
    for_each_limb(p, [&](std::size_t, std::size_t i) { detail::sub_limb(a.limb(0, i), p.limb(0, i), a.limb(0, i), n, ctx_->modulus(i).value()); });
}

void Evaluator::multiply_plain_inplace(Ciphertext& a, const Plaintext& p) const {
    check_mine("multiply_plain", a);
    check_mine("multiply_plain", p);
    if (p.level() < a.level())
        throw std::invalid_argument("multiply_plain: plaintext level " + std::to_string(p.level()) + " is below the ciphertext's " +
                                    std::to_string(a.level()));
    const bool was_ntt = a.is_ntt();
    to_ntt_inplace(a);
    const std::size_t n = a.n(), limbs = a.limbs();
#pragma omp parallel for
    for (std::size_t i = 0; i < limbs; ++i) {
        const Modulus& q = ctx_->modulus(i);
        math::AlignedVector<u64> pn(p.limb(0, i), p.limb(0, i) + n);
        if (!p.is_ntt()) ctx_->ntt(i).forward(pn.data());
        for (std::size_t k = 0; k < a.size(); ++k) detail::mul_limb(a.limb(k, i), pn.data(), a.limb(k, i), n, q);
    }
    a.set_scale(a.scale() * p.scale());
    if (!was_ntt) to_coeff_inplace(a);
}

void Evaluator::add_scalar_inplace(Ciphertext& a, double c) const {
    check_mine("add_scalar", a);
    detail::add_constant(a, c * a.scale());  // no FFT: a constant is a constant polynomial
}

void Evaluator::multiply_scalar_inplace(Ciphertext& a, double c, double scalar_scale) const {
    check_mine("multiply_scalar", a);
    if (!(scalar_scale > 0) || !std::isfinite(scalar_scale)) throw std::invalid_argument("multiply_scalar: scale must be positive");
    std::vector<u64> v(a.limbs());
    detail::real_to_residues(c * scalar_scale, {ctx_->data_moduli().data(), a.limbs()}, v);
    const std::size_t n = a.n();
    for_each_limb(a, [&](std::size_t k, std::size_t i) { detail::mul_scalar_limb(a.limb(k, i), v[i], a.limb(k, i), n, ctx_->modulus(i).value()); });
    a.set_scale(a.scale() * scalar_scale);
}

void Evaluator::multiply_integer_inplace(Ciphertext& a, std::int64_t kint) const {
    check_mine("multiply_integer", a);
    const std::size_t n = a.n();
    for_each_limb(a, [&](std::size_t k, std::size_t i) {
        const Modulus& q = ctx_->modulus(i);
        detail::mul_scalar_limb(a.limb(k, i), q.reduce_signed(kint), a.limb(k, i), n, q.value());
    });
}

Ciphertext Evaluator::multiply(const Ciphertext& a, const Ciphertext& b) const {
    check_mine("multiply", a);
    check_mine("multiply", b);
    if (a.level() != b.level())
        throw std::invalid_argument("multiply: level mismatch (" + std::to_string(a.level()) + " vs " + std::to_string(b.level()) + ")");
    if (a.size() != 2 || b.size() != 2) throw std::invalid_argument("multiply: operands must be relinearised (size 2)");
    const bool sq = &a == &b;
    const std::size_t n = a.n(), limbs = a.limbs();
    Ciphertext r(ctx_, a.level(), a.scale() * b.scale(), 3, true);
#pragma omp parallel for
    for (std::size_t i = 0; i < limbs; ++i) {
        const u64 q = ctx_->modulus(i).value();
        // Operands in NTT form are read in place; coefficient-form ones are transformed in a copy.
        math::AlignedVector<u64> copies;
        auto ntt_limb = [&](const Ciphertext& c, std::size_t k, std::size_t slot) -> const u64* {
            if (c.is_ntt()) return c.limb(k, i);
            u64* p = copies.data() + slot * n;
            std::copy(c.limb(k, i), c.limb(k, i) + n, p);
            ctx_->ntt(i).forward(p);
            return p;
        };
        copies.resize(((a.is_ntt() ? 0 : 2) + (sq || b.is_ntt() ? 0 : 2)) * n);
        std::size_t slot = 0;
        const u64* a0 = ntt_limb(a, 0, a.is_ntt() ? 0 : slot++);
        const u64* a1 = ntt_limb(a, 1, a.is_ntt() ? 0 : slot++);
        u64 *d0 = r.limb(0, i), *d1 = r.limb(1, i), *d2 = r.limb(2, i);
        if (sq) {
            math::ew::mul(a0, a0, d0, n, q);
            math::ew::mul(a0, a1, d1, n, q);
            math::ew::add(d1, d1, d1, n, q);  // 2·a0·a1
            math::ew::mul(a1, a1, d2, n, q);
        } else {
            const u64* b0 = ntt_limb(b, 0, b.is_ntt() ? 0 : slot++);
            const u64* b1 = ntt_limb(b, 1, b.is_ntt() ? 0 : slot++);
            math::ew::mul(a0, b0, d0, n, q);
            // a0·b1 + a1·b0, summed exactly and reduced once
            const u64* left[] = {a0, a1};
            const u64* right[] = {b1, b0};
            math::ew::inner_product(left, right, nullptr, 2, nullptr, nullptr, 0, d1, nullptr, n, q);
            math::ew::mul(a1, b1, d2, n, q);
        }
    }
    return r;
}

Ciphertext Evaluator::square(const Ciphertext& a) const { return multiply(a, a); }

void Evaluator::relinearize_inplace(Ciphertext& a, const RelinKey& rk) const {
    check_mine("relinearize", a);
    if (a.size() != 3) throw std::invalid_argument("relinearize: expects a size-3 ciphertext, got size " + std::to_string(a.size()));
    if (rk.context() != ctx_ && rk.context()->id() != ctx_->id())
        throw std::invalid_argument("relinearize: relinearisation key belongs to other parameters");
    to_ntt_inplace(a);  // d0, d1 are folded into the key switch in NTT form
    const std::size_t n = a.n(), limbs = a.limbs();
    math::AlignedVector<u64> d2c(a.limb(2, 0), a.limb(2, 0) + limbs * n);
#pragma omp parallel for
    for (std::size_t i = 0; i < limbs; ++i) ctx_->ntt(i).inverse(d2c.data() + i * n);
    Ciphertext out(ctx_, a.level(), a.scale(), 2, false);
    detail::key_switch(*ctx_, a.level(), d2c.data(), a.limb(2, 0), rk, a.limb(0, 0), a.limb(1, 0), out.limb(0, 0), out.limb(1, 0));
    a = std::move(out);
}

void Evaluator::rescale_inplace(Ciphertext& a) const {
    check_mine("rescale", a);
    const int l = a.level();
    if (l == 0) throw std::invalid_argument("rescale: the ciphertext is at level 0, no prime left to divide by");
    const auto& pre = ctx_->precomp();
    const std::size_t n = a.n();
    const Modulus& ql = ctx_->modulus(l);
    const bool ntt = a.is_ntt();
    // Rounded division: x' = (x - [x]_{q_l}) / q_l with [x]_{q_l} centred in (-q_l/2, q_l/2].
    // In coefficient form this is one fused element-wise pass per limb (vector kernel); in NTT
    // form the last limbs go to coefficient form first.
    const std::size_t polys = a.size(), li = static_cast<std::size_t>(l);
    math::AlignedVector<u64> last;
    if (ntt) {
        last.resize(polys * n);
#pragma omp parallel for
        for (std::size_t k = 0; k < polys; ++k) {
            std::copy(a.limb(k, li), a.limb(k, li) + n, last.data() + k * n);
            ctx_->ntt(li).inverse(last.data() + k * n);
        }
    }
    // One parallel pass over every (polynomial, limb) pair: each pair is only a few µs of work.
    // Coefficient form writes straight into a block at the lower level (no compaction pass);
    // NTT form works in place and drops the last limbs afterwards.
    Ciphertext out;
    if (!ntt) out = Ciphertext(ctx_, l - 1, a.scale(), polys, false);
#pragma omp parallel for schedule(dynamic)
    for (std::size_t pi = 0; pi < polys * li; ++pi) {
        const std::size_t k = pi / li, i = pi % li;
        const math::ew::RescaleConstants rc{ctx_->modulus(i).value(), ql.value(), pre.rescale_qmod[li][i], pre.rescale_inv[li][i],
                                            pre.rescale_inv_shoup[li][i]};
        u64* xi = a.limb(k, i);
        if (!ntt) {
            math::ew::rescale(xi, a.limb(k, li), out.limb(k, i), n, rc);
            continue;
        }
        // The centred last residue mod q_i, to NTT form, then (x - r)·q_l^{-1}.
        math::AlignedVector<u64> r(n);
        math::ew::centred_residue(last.data() + k * n, r.data(), n, rc.q, rc.ql, rc.ql_mod_q);
        ctx_->ntt(i).forward(r.data());
        math::ew::sub_mul_scalar(xi, r.data(), rc.inv, rc.inv_shoup, xi, n, rc.q);
    }
    if (ntt) {
        a.drop_to_level(l - 1);
    } else {
        a = std::move(out);
    }
    a.set_scale(a.scale() / static_cast<double>(ql.value()));
}

void Evaluator::drop_to_level_inplace(Ciphertext& a, int level) const {
    check_mine("drop_to_level", a);
    a.drop_to_level(level);
}

Ciphertext Evaluator::square_relin_rescale(const Ciphertext& a, const RelinKey& rk) const {
    Ciphertext r = square(a);
    relinearize_inplace(r, rk);
    rescale_inplace(r);
    return r;
}

// ---- rotations -------------------------------------------------------------------------

void Evaluator::check_galois(const char* op, const Ciphertext& a, const GaloisKeys& gk) const {
    check_mine(op, a);
    if (a.size() != 2) throw std::invalid_argument(std::string(op) + ": expects a size-2 ciphertext (relinearise first), got size " +
                                                   std::to_string(a.size()));
    if (!gk.context() || (gk.context() != ctx_ && gk.context()->id() != ctx_->id()))
        throw std::invalid_argument(std::string(op) + ": Galois keys belong to other parameters");
}

namespace {

// c_k of a ciphertext in NTT form (l+1 limbs), whatever the ciphertext's form.
math::AlignedVector<u64> ntt_poly(const Context& ctx, const Ciphertext& a, std::size_t k) {
    const std::size_t n = a.n(), limbs = a.limbs();
    math::AlignedVector<u64> out(a.limb(k, 0), a.limb(k, 0) + limbs * n);
    if (!a.is_ntt()) {
#pragma omp parallel for
        for (std::size_t i = 0; i < limbs; ++i) ctx.ntt(i).forward(out.data() + i * n);
    }
    return out;
}

}  // namespace

Ciphertext Evaluator::apply_galois(const Ciphertext& a, std::uint32_t g, const GaloisKeys& gk) const {
    check_galois("apply_galois", a, gk);
    check_galois_element(g, ctx_->n());
    const KeySwitchKey& key = gk.key(g);
    const std::vector<std::uint32_t>& perm = gk.ntt_permutation(g);
    const std::size_t n = a.n(), limbs = a.limbs();
    // σ(c0) in NTT form (folded into the key switch), σ(c1) in both forms.
    math::AlignedVector<u64> c0(limbs * n), c1c(limbs * n), c1n(limbs * n);
#pragma omp parallel for
    for (std::size_t i = 0; i < limbs; ++i) {
        const u64 q = ctx_->modulus(i).value();
        const std::size_t off = i * n;
        if (a.is_ntt()) {
            detail::galois_ntt_limb(a.limb(0, i), c0.data() + off, perm.data(), n);
            detail::galois_ntt_limb(a.limb(1, i), c1n.data() + off, perm.data(), n);
            std::copy(c1n.data() + off, c1n.data() + off + n, c1c.data() + off);
            ctx_->ntt(i).inverse(c1c.data() + off);
        } else {
            detail::galois_coeff_limb(a.limb(0, i), c0.data() + off, n, g, q);
            ctx_->ntt(i).forward(c0.data() + off);
            detail::galois_coeff_limb(a.limb(1, i), c1c.data() + off, n, g, q);
            std::copy(c1c.data() + off, c1c.data() + off + n, c1n.data() + off);
            ctx_->ntt(i).forward(c1n.data() + off);
        }
    }
    Ciphertext out(ctx_, a.level(), a.scale(), 2, false);
    detail::key_switch(*ctx_, a.level(), c1c.data(), c1n.data(), key, c0.data(), nullptr, out.limb(0, 0), out.limb(1, 0));
    return out;
}

Ciphertext Evaluator::rotate(const Ciphertext& a, int steps, const GaloisKeys& gk) const {
    check_galois("rotate", a, gk);
    const std::uint32_t g = galois_element(steps, ctx_->n());
    return g == 1 ? a : apply_galois(a, g, gk);
}

Ciphertext Evaluator::conjugate(const Ciphertext& a, const GaloisKeys& gk) const {
    return apply_galois(a, conjugation_element(ctx_->n()), gk);
}

std::vector<Ciphertext> Evaluator::rotate_many(const Ciphertext& a, std::span<const int> steps, const GaloisKeys& gk) const {
    check_galois("rotate_many", a, gk);
    const std::size_t n = a.n(), limbs = a.limbs();
    std::vector<std::uint32_t> elements(steps.size());
    for (std::size_t s = 0; s < steps.size(); ++s) {
        elements[s] = galois_element(steps[s], n);
        if (elements[s] != 1) (void)gk.key(elements[s]);  // every key present before any work
    }
    std::vector<Ciphertext> out(steps.size());
    if (std::all_of(elements.begin(), elements.end(), [](std::uint32_t g) { return g == 1; })) {
        for (auto& o : out) o = a;
        return out;
    }
    // Once: c0 and c1 in NTT form, c1 in coefficient form, c1's decomposition.
    const auto c0 = ntt_poly(*ctx_, a, 0), c1n = ntt_poly(*ctx_, a, 1);
    math::AlignedVector<u64> c1c(a.limb(1, 0), a.limb(1, 0) + limbs * n);
    if (a.is_ntt()) {
#pragma omp parallel for
        for (std::size_t i = 0; i < limbs; ++i) ctx_->ntt(i).inverse(c1c.data() + i * n);
    }
    const detail::Decomposition dec = detail::decompose(*ctx_, a.level(), c1c.data(), c1n.data());
    math::AlignedVector<u64> c0g(limbs * n);
    for (std::size_t s = 0; s < steps.size(); ++s) {
        const std::uint32_t g = elements[s];
        if (g == 1) {
            out[s] = a;
            continue;
        }
        const std::vector<std::uint32_t>& perm = gk.ntt_permutation(g);
#pragma omp parallel for
        for (std::size_t i = 0; i < limbs; ++i) detail::galois_ntt_limb(c0.data() + i * n, c0g.data() + i * n, perm.data(), n);
        out[s] = Ciphertext(ctx_, a.level(), a.scale(), 2, false);
        detail::key_switch_hoisted(*ctx_, dec, perm.data(), gk.key(g), c0g.data(), nullptr, out[s].limb(0, 0), out[s].limb(1, 0));
    }
    return out;
}

}  // namespace hecnn::ckks
