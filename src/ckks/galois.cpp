#include "hecnn/ckks/galois.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "automorphism.h"

namespace hecnn::ckks {

std::uint32_t galois_element(int steps, std::size_t n) {
    if (n < 2 || (n & (n - 1)) != 0) throw std::invalid_argument("galois_element: N must be a power of two >= 2");
    const std::int64_t half = static_cast<std::int64_t>(n / 2);
    const std::uint64_t m = 2 * n;
    std::uint64_t e = static_cast<std::uint64_t>(((static_cast<std::int64_t>(steps) % half) + half) % half);
    // 5 generates a cyclic subgroup of order N/2 of (Z/2N)^*: exponents modulo N/2.
    std::uint64_t r = 1, b = 5 % m;
    for (; e; e >>= 1, b = b * b % m)
        if (e & 1) r = r * b % m;
    return static_cast<std::uint32_t>(r);
}

std::uint32_t conjugation_element(std::size_t n) {
    if (n < 2 || (n & (n - 1)) != 0) throw std::invalid_argument("conjugation_element: N must be a power of two >= 2");
    return static_cast<std::uint32_t>(2 * n - 1);
}

void check_galois_element(std::uint32_t g, std::size_t n) {
    if (g % 2 == 0 || g <= 1 || g >= 2 * n)
        throw std::invalid_argument("Galois element " + std::to_string(g) + " is not a non-trivial automorphism for N = " +
                                    std::to_string(n) + " (expected an odd number in (1, " + std::to_string(2 * n) + "))");
}

namespace {

// Which odd power ψ^e of the NTT's root each evaluation position holds (from the transform
// of X), and the position of each odd exponent.
struct NttExponents {
    std::vector<std::uint32_t> exponent, position;  // N, 2N entries
    explicit NttExponents(const Context& ctx) : exponent(ctx.n()), position(2 * ctx.n(), 0) {
        const std::size_t n = ctx.n(), m = 2 * n;
        const math::NTTTables& ntt = ctx.ntt(0);
        const Modulus& q = ntt.modulus();
        std::vector<u64> x(n, 0);
        x[1] = 1;  // N >= 2
        ntt.forward(x.data());
        std::unordered_map<u64, std::uint32_t> exponent_of;
        exponent_of.reserve(n);
        const u64 psi = ntt.root(), psi2 = q.mul(psi, psi);
        u64 p = psi;
        for (std::uint32_t e = 1; e < m; e += 2, p = q.mul(p, psi2)) exponent_of.emplace(p, e);
        for (std::size_t k = 0; k < n; ++k) {
            const auto it = exponent_of.find(x[k]);
            if (it == exponent_of.end()) throw std::logic_error("galois_ntt_permutation: the NTT does not evaluate at odd powers of its root");
            exponent[k] = it->second;
            position[it->second] = static_cast<std::uint32_t>(k);
        }
    }
    // σ_g(a)(ψ^e) = a(ψ^(e·g)).
    std::vector<std::uint32_t> permutation(std::uint32_t g) const {
        const std::uint64_t m = position.size();
        std::vector<std::uint32_t> perm(exponent.size());
        for (std::size_t k = 0; k < perm.size(); ++k) perm[k] = position[static_cast<std::uint64_t>(exponent[k]) * g % m];
        return perm;
    }
};

}  // namespace

std::vector<std::uint32_t> galois_ntt_permutation(const Context& ctx, std::uint32_t g) {
    check_galois_element(g, ctx.n());
    return NttExponents(ctx).permutation(g);
}

namespace detail {

void galois_coeff_limb(const u64* in, u64* out, std::size_t n, std::uint32_t g, u64 q) {
    const std::uint64_t mask = 2 * n - 1;  // 2N is a power of two
    std::uint64_t j = 0;
    for (std::size_t i = 0; i < n; ++i, j = (j + g) & mask) {
        const u64 v = in[i];
        if (j < n) out[j] = v;
        else out[j - n] = v ? q - v : 0;
    }
}

void galois_ntt_limb(const u64* in, u64* out, const std::uint32_t* perm, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) out[k] = in[perm[k]];
}

}  // namespace detail

GaloisKeys::GaloisKeys(ContextPtr ctx, std::vector<std::uint32_t> elements, std::vector<std::vector<math::Seed>> seeds)
    : ctx_(std::move(ctx)), elements_(std::move(elements)) {
    if (!ctx_) throw std::invalid_argument("GaloisKeys: null context");
    if (seeds.size() != elements_.size())
        throw std::invalid_argument("GaloisKeys: " + std::to_string(elements_.size()) + " elements but " + std::to_string(seeds.size()) +
                                    " seed lists");
    for (std::size_t e = 0; e < elements_.size(); ++e) {
        check_galois_element(elements_[e], ctx_->n());
        if (e > 0 && elements_[e] <= elements_[e - 1])
            throw std::invalid_argument("GaloisKeys: elements must be strictly increasing (" + std::to_string(elements_[e - 1]) +
                                        " then " + std::to_string(elements_[e]) + ")");
    }
    keys_.reserve(elements_.size());
    perms_.reserve(elements_.size());
    const NttExponents exps(*ctx_);
    for (std::size_t e = 0; e < elements_.size(); ++e) {
        keys_.emplace_back(ctx_, std::move(seeds[e]));
        perms_.push_back(exps.permutation(elements_[e]));
    }
}

bool GaloisKeys::has(std::uint32_t g) const { return std::binary_search(elements_.begin(), elements_.end(), g); }

std::size_t GaloisKeys::index(std::uint32_t g) const {
    const auto it = std::lower_bound(elements_.begin(), elements_.end(), g);
    if (it == elements_.end() || *it != g) {
        std::string what = "Galois keys: no key for element " + std::to_string(g);
        if (ctx_) {
            const std::size_t n = ctx_->n();
            if (g == conjugation_element(n)) what += " (conjugation)";
            for (std::size_t k = 1; k < n / 2; ++k)
                if (galois_element(static_cast<int>(k), n) == g) {
                    what += " (rotation by " + std::to_string(k) + ")";
                    break;
                }
        }
        throw std::invalid_argument(what + "; generate the key set with that step");
    }
    return static_cast<std::size_t>(it - elements_.begin());
}

const KeySwitchKey& GaloisKeys::key(std::uint32_t g) const { return keys_[index(g)]; }
KeySwitchKey& GaloisKeys::key(std::uint32_t g) { return keys_[index(g)]; }
const std::vector<std::uint32_t>& GaloisKeys::ntt_permutation(std::uint32_t g) const { return perms_[index(g)]; }

std::size_t GaloisKeys::memory_bytes() const {
    std::size_t s = 0;
    for (const auto& k : keys_) s += (k.b_words().size() + k.a_words().size()) * sizeof(u64);
    return s;
}

}  // namespace hecnn::ckks
