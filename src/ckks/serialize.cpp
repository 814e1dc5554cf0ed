// Codecs of each serialised object kind (layouts in include/hecnn/ckks/serialize.h);
// framing and bit-packing are in serialize_format.cpp.
#include "hecnn/ckks/serialize.h"

#include <sodium.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "serialize_detail.h"

namespace hecnn::ckks {
using namespace detail;
namespace {

const Context& need_ctx(const ContextPtr& ctx, const char* what) {
    if (!ctx) throw std::invalid_argument(std::string(what) + ": null context");
    return *ctx;
}

void poly_meta(Builder& w, const PolyBlock& blk, std::size_t size, const char* what) {
    if (!(std::isfinite(blk.scale()) && blk.scale() > 0))
        throw std::invalid_argument(std::string("serialize: ") + what + " scale must be finite and positive");
    w.put_u16(static_cast<std::uint16_t>(blk.level()));
    w.put_u8(static_cast<std::uint8_t>(size));
    w.put_u8(blk.is_ntt() ? 1 : 0);
    w.put_f64(blk.scale());
}

struct PolyMeta {
    int level;
    std::size_t size;
    bool ntt;
    double scale;
};

PolyMeta read_poly_meta(Reader& r, const Context& ctx, const char* what) {
    PolyMeta m{};
    const unsigned level = r.u16();
    if (level > static_cast<unsigned>(ctx.max_level()))
        bad(std::string(what) + ": level " + std::to_string(level) + " is above the parameters' maximum level " +
            std::to_string(ctx.max_level()));
    m.level = static_cast<int>(level);
    m.size = r.u8();
    const unsigned ntt = r.u8();
    if (ntt > 1) bad(std::string(what) + ": is_ntt byte is " + std::to_string(ntt) + ", expected 0 or 1");
    m.ntt = ntt == 1;
    m.scale = r.f64();
    if (!(std::isfinite(m.scale) && m.scale > 0))
        bad(std::string(what) + ": scale " + std::to_string(m.scale) + " is not a finite positive number");
    return m;
}

// Ciphertext (full or seeded), plaintext or public key payloads. `seed` receives the seed
// of a seeded ciphertext; `need_seeded` refuses the full form.
template <class T>
T load_poly_object(const ContextPtr& ctxp, std::span<const std::uint8_t> data, ObjectKind kind, math::Seed* seed = nullptr,
                   bool need_seeded = false) {
    const char* what = kind_name(kind);
    const std::string w = what;
    const Context& ctx = need_ctx(ctxp, what);
    const Opened o = open(data, kind, &ctx);
    if (need_seeded && !o.info.seeded) bad("expected a seeded ciphertext, but the data holds a full ciphertext");
    Reader r(o.payload, what);
    const PolyMeta m = read_poly_meta(r, ctx, what);
    if (kind == ObjectKind::plaintext && m.size != 1) bad(w + ": size " + std::to_string(m.size) + ", expected 1 polynomial");
    if (kind == ObjectKind::ciphertext && (m.size < 2 || m.size > 3))
        bad(w + ": size " + std::to_string(m.size) + ", expected 2 or 3 polynomials");
    if (kind == ObjectKind::public_key && (m.size != 2 || !m.ntt || m.level != ctx.max_level()))
        bad(w + ": expected 2 polynomials in NTT form at the top level " + std::to_string(ctx.max_level()) + ", got " +
            std::to_string(m.size) + " in " + (m.ntt ? "NTT" : "coefficient") + " form at level " + std::to_string(m.level));
    math::Seed s{};
    if (o.info.seeded) {
        if (m.size != 2 || m.ntt) bad(w + ": a seeded ciphertext must have 2 polynomials in coefficient form");
        std::memcpy(s.data(), r.take(kSeedBytes).data(), kSeedBytes);
    }
    const std::size_t limbs = static_cast<std::size_t>(m.level) + 1, stored = o.info.seeded ? 1 : m.size;
    std::vector<std::uint8_t> store;
    const auto b = body(o, r.pos(), stored * poly_bytes(ctx, limbs), store, what);
    T out = [&] {
        if constexpr (std::is_same_v<T, Plaintext>)
            return Plaintext(ctxp, m.level, m.scale, m.ntt);
        else
            return Ciphertext(ctxp, m.level, m.scale, m.size, m.ntt);
    }();
    const std::uint8_t* in = b.data();
    for (std::size_t k = 0; k < stored; ++k)
        unpack_poly(ctx, in, out.limb(k, 0), limbs, w, m.size > 1 ? " (polynomial " + std::to_string(k) + ")" : "");
    if (o.info.seeded) expand_seeded_c1(ctx, s, limbs, out.limb(1, 0));
    if (seed) *seed = s;
    return out;
}

std::vector<std::uint8_t> serialize_poly(const PolyBlock& blk, ObjectKind kind, std::size_t stored, const math::Seed* seed,
                                         SerializeOptions opt) {
    const char* what = kind_name(kind);
    if (blk.empty()) throw std::invalid_argument(std::string("serialize: empty ") + what);
    const Context& ctx = *blk.context();
    const std::size_t limbs = blk.limbs();
    Builder w(kind, seed ? kFlagSeeded : 0, ctx.id(), 44 + stored * poly_bytes(ctx, limbs));
    poly_meta(w, blk, blk.polys(), what);
    if (seed) w.bytes(*seed);
    w.end_meta();
    for (std::size_t k = 0; k < stored; ++k) w.pack_poly(ctx, blk.limb(k, 0), limbs, std::string(what) + " polynomial " + std::to_string(k));
    return w.finish(opt);
}

}  // namespace

// ---- parameters ----------------------------------------------------------------------

std::vector<std::uint8_t> serialize(const Context& ctx, SerializeOptions opt) {
    const ParametersLiteral& lit = ctx.literal();
    Builder w(ObjectKind::parameters, 0, ctx.id(), 14 + 8 * (lit.data_primes.size() + lit.special_primes.size()));
    w.put_u8(static_cast<std::uint8_t>(lit.log_n));
    w.put_u8(lit.insecure_test_only_allow_below_128_bits ? 1 : 0);
    w.put_u8(static_cast<std::uint8_t>(ctx.dnum()));
    w.put_u8(static_cast<std::uint8_t>(ctx.digit_size()));
    w.put_u8(static_cast<std::uint8_t>(lit.data_primes.size()));
    w.put_u8(static_cast<std::uint8_t>(lit.special_primes.size()));
    w.put_f64(lit.log_scale);
    for (u64 p : lit.data_primes) w.put_u64(p);
    for (u64 p : lit.special_primes) w.put_u64(p);
    w.end_meta();
    return w.finish(opt);
}

ContextPtr load_parameters(std::span<const std::uint8_t> data, bool allow_insecure_test_only) {
    const Opened o = open(data, ObjectKind::parameters, nullptr);
    Reader r(o.payload, "parameters");
    ParametersLiteral lit;
    lit.log_n = r.u8();
    const unsigned insecure = r.u8(), dnum = r.u8(), digit = r.u8(), d = r.u8(), s = r.u8();
    lit.log_scale = r.f64();
    if (insecure > 1) bad("parameters: insecure flag byte is " + std::to_string(insecure) + ", expected 0 or 1");
    if (d < 1 || d > 64 || s < 1 || s > 64)
        bad("parameters: " + std::to_string(d) + " data and " + std::to_string(s) + " special primes, expected 1 to 64 of each");
    if (dnum < 1 || dnum > d || digit < 1 || digit > d)
        bad("parameters: dnum " + std::to_string(dnum) + " and digit size " + std::to_string(digit) + " must be in [1, " +
            std::to_string(d) + "]");
    if (o.payload.size() != 14 + 8 * std::size_t{d + s})
        bad("parameters: payload is " + std::to_string(o.payload.size()) + " bytes, expected exactly " +
            std::to_string(14 + 8 * (d + s)) + " for " + std::to_string(d) + " data and " + std::to_string(s) + " special primes");
    int total_bits = 0;
    for (unsigned i = 0; i < d + s; ++i) {
        const u64 p = r.u64();
        (i < d ? lit.data_primes : lit.special_primes).push_back(p);
        total_bits += Modulus::bit_length(p);
    }
    lit.dnum = static_cast<int>(dnum);
    lit.digit_size = static_cast<int>(digit);
    lit.insecure_test_only_allow_below_128_bits = insecure == 1;
    // Refuse insecure parameters before building their tables.
    const int bound = max_log_qp_128(lit.log_n);
    if (!allow_insecure_test_only && !(bound > 0 && total_bits <= bound))
        bad("parameters are below 128-bit security (log2(QP) = " + std::to_string(total_bits) + " bits, bound " +
            std::to_string(bound) + " for N = 2^" + std::to_string(lit.log_n) + "); refusing them outside tests");
    ContextPtr ctx;
    try {
        ctx = Context::create(lit);  // also rejects a dnum that contradicts the digit size
    } catch (const std::invalid_argument& e) {
        bad(std::string("parameters rejected: ") + e.what());
    }
    if (ctx->dnum() != static_cast<int>(dnum) || ctx->digit_size() != static_cast<int>(digit))
        bad("parameters: stored dnum " + std::to_string(dnum) + " / digit size " + std::to_string(digit) + " rebuild as dnum " +
            std::to_string(ctx->dnum()) + " / digit size " + std::to_string(ctx->digit_size()));
    if (ctx->id() != o.info.params_id)
        bad("parameters: header id " + hex64(o.info.params_id) + " but the parameters hash to " + ctx->id_hex());
    return ctx;
}

// ---- secret key ----------------------------------------------------------------------

std::vector<std::uint8_t> serialize(const SecretKey& sk, SerializeOptions opt) {
    if (!sk.context()) throw std::invalid_argument("serialize: empty secret key");
    const auto& c = sk.coefficients();
    Builder w(ObjectKind::secret_key, 0, sk.context()->id(), (c.size() + 3) / 4);
    w.end_meta();
    std::uint8_t* out = w.grow((c.size() + 3) / 4);
    for (std::size_t k = 0; k < c.size(); ++k) {
        if (c[k] < -1 || c[k] > 1) throw std::invalid_argument("serialize: secret key coefficient is not ternary");
        out[k / 4] |= static_cast<std::uint8_t>((c[k] == 1 ? 1 : c[k] == -1 ? 2 : 0) << (2 * (k % 4)));
    }
    return w.finish(opt);
}

SecretKey load_secret_key(const ContextPtr& ctxp, std::span<const std::uint8_t> data) {
    const Context& ctx = need_ctx(ctxp, "secret key");
    const Opened o = open(data, ObjectKind::secret_key, &ctx);
    const std::size_t n = ctx.n();
    std::vector<std::uint8_t> store;
    const auto b = body(o, 0, (n + 3) / 4, store, "secret key");
    std::vector<std::int8_t> coeffs(n);
    std::string err;
    for (std::size_t k = 0; k < n && err.empty(); ++k) {
        const unsigned v = (b[k / 4] >> (2 * (k % 4))) & 3;
        if (v == 3) err = "secret key: coefficient " + std::to_string(k) + " has the invalid code 11 (expected 00, 01 or 10)";
        coeffs[k] = static_cast<std::int8_t>(v == 1 ? 1 : v == 2 ? -1 : 0);
    }
    if (err.empty() && n % 4 && (b[n / 4] >> (2 * (n % 4))) != 0) err = "secret key: padding bits are not zero";
    if (!store.empty()) sodium_memzero(store.data(), store.size());
    if (!err.empty()) {
        sodium_memzero(coeffs.data(), coeffs.size());
        bad(err);
    }
    return SecretKey::from_coefficients(ctxp, std::move(coeffs));
}

// ---- public key, plaintext, ciphertext -------------------------------------------------

std::vector<std::uint8_t> serialize(const PublicKey& pk, SerializeOptions opt) {
    if (!pk.context()) throw std::invalid_argument("serialize: empty public key");
    const Context& ctx = *pk.context();
    const std::size_t ext = pk.ext_limbs();
    Builder w(ObjectKind::public_key, 0, ctx.id(), 2 * poly_bytes(ctx, ext));
    w.end_meta();
    for (std::size_t k = 0; k < 2; ++k) w.pack_poly(ctx, pk.limb(k, 0), ext, k == 0 ? "public key b" : "public key a");
    return w.finish(opt);
}
std::vector<std::uint8_t> serialize(const Plaintext& pt, SerializeOptions opt) {
    return serialize_poly(pt, ObjectKind::plaintext, 1, nullptr, opt);
}
std::vector<std::uint8_t> serialize(const Ciphertext& ct, SerializeOptions opt) {
    if (!ct.empty() && ct.size() < 2) throw std::invalid_argument("serialize: a ciphertext needs 2 or 3 polynomials");
    return serialize_poly(ct, ObjectKind::ciphertext, ct.size(), nullptr, opt);
}

std::vector<std::uint8_t> serialize(const SeededCiphertext& sct, SerializeOptions opt) {
    const Ciphertext& ct = sct.ct;
    if (ct.empty() || ct.size() != 2 || ct.is_ntt())
        throw std::invalid_argument("serialize: a seeded ciphertext has 2 polynomials in coefficient form");
    math::AlignedVector<u64> c1(ct.limbs() * ct.n());
    expand_seeded_c1(*ct.context(), sct.seed, ct.limbs(), c1.data());
    if (std::memcmp(c1.data(), ct.limb(1, 0), c1.size() * sizeof(u64)) != 0)
        throw std::invalid_argument("serialize: c1 is no longer the expansion of the seed; serialise the ciphertext in full form");
    return serialize_poly(ct, ObjectKind::ciphertext, 1, &sct.seed, opt);
}

PublicKey load_public_key(const ContextPtr& ctxp, std::span<const std::uint8_t> data) {
    const char* what = "public key";
    const Context& ctx = need_ctx(ctxp, what);
    const Opened o = open(data, ObjectKind::public_key, &ctx);
    Reader r(o.payload, what);
    const std::size_t ext = ctx.data_count() + ctx.special_count();
    std::vector<std::uint8_t> store;
    const auto b = body(o, r.pos(), 2 * poly_bytes(ctx, ext), store, what);
    PublicKey pk(ctxp);
    const std::uint8_t* in = b.data();
    for (std::size_t k = 0; k < 2; ++k) unpack_poly(ctx, in, pk.limb(k, 0), ext, what, k == 0 ? " (b)" : " (a)");
    return pk;
}
Plaintext load_plaintext(const ContextPtr& ctx, std::span<const std::uint8_t> data) {
    return load_poly_object<Plaintext>(ctx, data, ObjectKind::plaintext);
}
Ciphertext load_ciphertext(const ContextPtr& ctx, std::span<const std::uint8_t> data) {
    return load_poly_object<Ciphertext>(ctx, data, ObjectKind::ciphertext);
}
SeededCiphertext load_seeded_ciphertext(const ContextPtr& ctx, std::span<const std::uint8_t> data) {
    SeededCiphertext out;
    out.ct = load_poly_object<Ciphertext>(ctx, data, ObjectKind::ciphertext, &out.seed, true);
    return out;
}

// ---- key-switching keys: relinearisation, Galois ---------------------------------------

namespace {

// b_j (then a_j in full form) per digit, each packed over every extended limb.
void pack_switch_key(Builder& w, const KeySwitchKey& key, bool seeded, const std::string& label) {
    const Context& ctx = *key.context();
    for (std::size_t j = 0; j < key.digits(); ++j) {
        w.pack_poly(ctx, key.b(j, 0), key.ext_limbs(), label + " b of digit " + std::to_string(j));
        if (!seeded) w.pack_poly(ctx, key.a(j, 0), key.ext_limbs(), label + " a of digit " + std::to_string(j));
    }
}

// The inverse of pack_switch_key into a key whose a_j are already expanded from their
// seeds; a stored a_j must equal that expansion.
void unpack_switch_key(const Context& ctx, const std::uint8_t*& in, KeySwitchKey& key, bool seeded, const std::string& what,
                       const std::string& label) {
    const std::size_t ext = key.ext_limbs();
    math::AlignedVector<u64> a(seeded ? 0 : ext * ctx.n());
    for (std::size_t j = 0; j < key.digits(); ++j) {
        unpack_poly(ctx, in, key.b(j, 0), ext, what, " (b of digit " + std::to_string(j) + label + ")");
        if (seeded) continue;
        unpack_poly(ctx, in, a.data(), ext, what, " (a of digit " + std::to_string(j) + label + ")");
        if (std::memcmp(a.data(), key.a(j, 0), a.size() * sizeof(u64)) != 0)
            bad(what + ": a of digit " + std::to_string(j) + label + " is not the expansion of its seed");
    }
}

std::vector<math::Seed> read_seeds(Reader& r, std::size_t count) {
    std::vector<math::Seed> seeds(count);
    for (auto& s : seeds) std::memcpy(s.data(), r.take(kSeedBytes).data(), kSeedBytes);
    return seeds;
}

std::size_t galois_meta_bytes(std::size_t elements, std::size_t digits) { return 4 + 4 * elements + kSeedBytes * elements * digits; }

}  // namespace

std::vector<std::uint8_t> serialize(const RelinKey& rk, SerializeOptions opt) {
    if (!rk.context()) throw std::invalid_argument("serialize: empty relinearisation key");
    const Context& ctx = *rk.context();
    const std::size_t ext = rk.ext_limbs(), D = rk.digits();
    Builder w(ObjectKind::relin_key, opt.seeded ? kFlagSeeded : 0, ctx.id(),
              2 + kSeedBytes * D + D * (opt.seeded ? 1 : 2) * poly_bytes(ctx, ext));
    w.put_u16(static_cast<std::uint16_t>(D));
    for (std::size_t j = 0; j < D; ++j) w.bytes(rk.seed(j));
    w.end_meta();
    pack_switch_key(w, rk, opt.seeded, "relinearisation key");
    return w.finish(opt);
}

RelinKey load_relin_key(const ContextPtr& ctxp, std::span<const std::uint8_t> data) {
    const char* what = "relinearisation key";
    const Context& ctx = need_ctx(ctxp, what);
    const Opened o = open(data, ObjectKind::relin_key, &ctx);
    Reader r(o.payload, what);
    const std::size_t D = r.u16();
    if (D != static_cast<std::size_t>(ctx.dnum()))
        bad(std::string(what) + ": " + std::to_string(D) + " digits, these parameters have dnum = " + std::to_string(ctx.dnum()));
    auto seeds = read_seeds(r, D);
    const std::size_t ext = ctx.data_count() + ctx.special_count();
    std::vector<std::uint8_t> store;
    const auto b = body(o, r.pos(), D * (o.info.seeded ? 1 : 2) * poly_bytes(ctx, ext), store, what);
    RelinKey rk(ctxp, std::move(seeds));
    const std::uint8_t* in = b.data();
    unpack_switch_key(ctx, in, rk, o.info.seeded, what, "");
    return rk;
}

std::size_t serialized_bytes(const GaloisKeys& gk, bool seeded) {
    if (!gk.context()) throw std::invalid_argument("serialized_bytes: empty Galois keys");
    const Context& ctx = *gk.context();
    const std::size_t E = gk.size(), D = static_cast<std::size_t>(ctx.dnum());
    return kHeaderSize + galois_meta_bytes(E, D) + E * D * (seeded ? 1 : 2) * poly_bytes(ctx, ctx.data_count() + ctx.special_count());
}

std::vector<std::uint8_t> serialize(const GaloisKeys& gk, SerializeOptions opt) {
    if (!gk.context()) throw std::invalid_argument("serialize: empty Galois keys");
    if (gk.size() == 0) throw std::invalid_argument("serialize: Galois keys without any element");
    const Context& ctx = *gk.context();
    const std::size_t D = static_cast<std::size_t>(ctx.dnum());
    Builder w(ObjectKind::galois_keys, opt.seeded ? kFlagSeeded : 0, ctx.id(), serialized_bytes(gk, opt.seeded) - kHeaderSize);
    w.put_u16(static_cast<std::uint16_t>(gk.size()));
    w.put_u16(static_cast<std::uint16_t>(D));
    for (auto g : gk.elements()) w.put_u32(g);
    for (auto g : gk.elements())
        for (std::size_t j = 0; j < D; ++j) w.bytes(gk.key(g).seed(j));
    w.end_meta();
    for (auto g : gk.elements()) pack_switch_key(w, gk.key(g), opt.seeded, "Galois key " + std::to_string(g));
    return w.finish(opt);  // never compressed (Builder::finish)
}

GaloisKeys load_galois_keys(const ContextPtr& ctxp, std::span<const std::uint8_t> data) {
    const char* what = "Galois keys";
    const Context& ctx = need_ctx(ctxp, what);
    const Opened o = open(data, ObjectKind::galois_keys, &ctx);
    Reader r(o.payload, what);
    const std::size_t E = r.u16(), D = r.u16(), n = ctx.n();
    if (E == 0 || E >= n)
        bad(std::string(what) + ": " + std::to_string(E) + " elements, expected 1 to " + std::to_string(n - 1) + " for N = " +
            std::to_string(n));
    if (D != static_cast<std::size_t>(ctx.dnum()))
        bad(std::string(what) + ": " + std::to_string(D) + " digits, these parameters have dnum = " + std::to_string(ctx.dnum()));
    std::vector<std::uint32_t> elements(E);
    for (std::size_t e = 0; e < E; ++e) {
        const std::uint32_t g = elements[e] = r.u32();
        if (g % 2 == 0 || g <= 1 || g >= 2 * n)
            bad(std::string(what) + ": element " + std::to_string(e) + " is " + std::to_string(g) + ", not a Galois element (odd, 1 < g < " +
                std::to_string(2 * n) + ")");
        if (e > 0 && g <= elements[e - 1])
            bad(std::string(what) + ": element " + std::to_string(e) + " (" + std::to_string(g) + ") " +
                (g == elements[e - 1] ? "repeats the previous one" : "is below the previous one") + "; elements are strictly increasing");
    }
    std::vector<std::vector<math::Seed>> seeds(E);
    for (auto& per : seeds) per = read_seeds(r, D);
    std::vector<std::uint8_t> store;
    const auto b = body(o, r.pos(), E * D * (o.info.seeded ? 1 : 2) * poly_bytes(ctx, ctx.data_count() + ctx.special_count()), store, what);
    GaloisKeys gk(ctxp, elements, std::move(seeds));
    const std::uint8_t* in = b.data();
    for (auto g : elements) unpack_switch_key(ctx, in, gk.key(g), o.info.seeded, what, " of element " + std::to_string(g));
    return gk;
}

}  // namespace hecnn::ckks
