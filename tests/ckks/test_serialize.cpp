// Serialisation: byte-identical round trips of every kind (full/seeded, raw/zstd), the
// documented layout and sizes, and rejection of every kind of malformed or hostile input
// (each with a valid checksum where the checksum would otherwise catch it first).
#include "hecnn/ckks/serialize.h"

#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <system_error>

#include "ckks/ckks_fixture.h"

// Largest single operator-new allocation while tracking is on: hostile inputs must be
// rejected before any buffer of their declared size is allocated.
namespace {
std::atomic<bool> g_track{false};
std::atomic<std::size_t> g_max_alloc{0};
}  // namespace
[[gnu::noinline]] void* operator new(std::size_t n) {
    if (g_track.load(std::memory_order_relaxed)) {
        std::size_t cur = g_max_alloc.load();
        while (n > cur && !g_max_alloc.compare_exchange_weak(cur, n)) {
        }
    }
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace hecnn;
using namespace hecnn::test;
using ckks::FormatError;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::size_t H = 43;  // header bytes (independent restatement of the spec)

void put16(Bytes& b, std::size_t off, std::uint16_t v) { b[off] = v & 0xff, b[off + 1] = v >> 8; }
void put64(Bytes& b, std::size_t off, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint64_t get64(const Bytes& b, std::size_t off) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | b[off + i];
    return v;
}
void put_f64(Bytes& b, std::size_t off, double d) {
    std::uint64_t v;
    std::memcpy(&v, &d, 8);
    put64(b, off, v);
}

// Recompute the payload length and the BLAKE2b-128 checksum over header[0,27) ‖ payload.
void reseal(Bytes& b) {
    put64(b, 19, b.size() - H);
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, 16);
    crypto_generichash_update(&st, b.data(), 27);
    crypto_generichash_update(&st, b.data() + H, b.size() - H);
    crypto_generichash_final(&st, b.data() + 27, 16);
}

// Replace the body after `meta` payload bytes (object must be uncompressed), optionally as
// a zstd frame of it, and reseal.
Bytes with_body(const Bytes& obj, std::size_t meta, const Bytes& body, bool zstd_flag) {
    Bytes out(H + meta + body.size());
    std::copy_n(obj.begin(), H + meta, out.begin());
    std::copy(body.begin(), body.end(), out.begin() + static_cast<std::ptrdiff_t>(H + meta));
    if (zstd_flag) put16(out, 9, static_cast<std::uint16_t>(out[9] | ckks::kFlagZstd));
    reseal(out);
    return out;
}
Bytes zstd_of(const Bytes& raw) {
    Bytes z(ZSTD_compressBound(raw.size()));
    z.resize(ZSTD_compress(z.data(), z.size(), raw.data(), raw.size(), 3));
    return z;
}

// Bit field [bit, bit+nbits) of the little-endian bit stream starting at byte `off`.
std::uint64_t get_bits(const Bytes& b, std::size_t off, std::size_t bit, int nbits) {
    std::uint64_t v = 0;
    for (int j = 0; j < nbits; ++j) v |= std::uint64_t{(b[off + (bit + j) / 8] >> ((bit + j) % 8)) & 1u} << j;
    return v;
}
void put_bits(Bytes& b, std::size_t off, std::size_t bit, int nbits, std::uint64_t v) {
    for (int j = 0; j < nbits; ++j) {
        auto& byte = b[off + (bit + j) / 8];
        const auto m = static_cast<std::uint8_t>(1u << ((bit + j) % 8));
        byte = static_cast<std::uint8_t>(((v >> j) & 1) ? byte | m : byte & ~m);
    }
}

std::size_t limb_bytes(const ckks::Context& ctx, std::size_t i) { return (ctx.n() * ctx.modulus(i).bits() + 7) / 8; }
std::size_t poly_bytes(const ckks::Context& ctx, std::size_t limbs) {
    std::size_t s = 0;
    for (std::size_t i = 0; i < limbs; ++i) s += limb_bytes(ctx, i);
    return s;
}

// Runs f, which must throw FormatError whose message contains every `parts`.
template <class F>
std::string expect_format_error(F&& f, std::initializer_list<std::string> parts, const std::string& label = "") {
    try {
        f();
    } catch (const FormatError& e) {
        const std::string msg = e.what();
        for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << label << ": message \"" << msg << "\" lacks \"" << p << "\"";
        return msg;
    } catch (const std::exception& e) {
        ADD_FAILURE() << label << ": expected FormatError, got " << typeid(e).name() << ": " << e.what();
        return {};
    }
    ADD_FAILURE() << label << ": accepted";
    return {};
}

bool same_words(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Every serialised kind of one engine, with a loader that re-serialises the result.
struct Sample {
    std::string name;
    Bytes bytes;
    std::function<Bytes(std::span<const std::uint8_t>)> reload;
};

std::vector<Sample> samples(const Engine& e, bool compress) {
    const ckks::SerializeOptions o{.seeded = false, .compress = compress}, os{.seeded = true, .compress = compress};
    const auto ctx = e.ctx;
    auto v = random_values(ctx->slots(), 21), w = random_values(ctx->slots(), 22);
    auto pt = e.encoder.encode(v);
    auto ptn = pt;
    ptn.set_ntt(true);
    auto ct = e.encrypt(v);
    auto ct_low = ct;
    ct_low.drop_to_level(1);
    auto ct3 = e.eval.multiply(ct, e.encrypt(w));
    auto sct = e.enc_sk.encrypt_seeded(pt);
    std::vector<Sample> s;
    s.push_back({"parameters", ckks::serialize(*ctx, o),
                 [](auto b) { return ckks::serialize(*ckks::load_parameters(b, true)); }});
    s.push_back({"secret key", ckks::serialize(e.keygen.secret_key(), o),
                 [ctx, o](auto b) { return ckks::serialize(ckks::load_secret_key(ctx, b), o); }});
    s.push_back({"public key", ckks::serialize(e.pk, o), [ctx, o](auto b) { return ckks::serialize(ckks::load_public_key(ctx, b), o); }});
    s.push_back({"relin key", ckks::serialize(e.rk, o), [ctx, o](auto b) { return ckks::serialize(ckks::load_relin_key(ctx, b), o); }});
    s.push_back({"seeded relin key", ckks::serialize(e.rk, os),
                 [ctx, os](auto b) { return ckks::serialize(ckks::load_relin_key(ctx, b), os); }});
    s.push_back({"plaintext", ckks::serialize(pt, o), [ctx, o](auto b) { return ckks::serialize(ckks::load_plaintext(ctx, b), o); }});
    s.push_back({"NTT plaintext", ckks::serialize(ptn, o), [ctx, o](auto b) { return ckks::serialize(ckks::load_plaintext(ctx, b), o); }});
    s.push_back({"ciphertext", ckks::serialize(ct, o), [ctx, o](auto b) { return ckks::serialize(ckks::load_ciphertext(ctx, b), o); }});
    s.push_back({"level-1 ciphertext", ckks::serialize(ct_low, o),
                 [ctx, o](auto b) { return ckks::serialize(ckks::load_ciphertext(ctx, b), o); }});
    s.push_back({"size-3 ciphertext", ckks::serialize(ct3, o),
                 [ctx, o](auto b) { return ckks::serialize(ckks::load_ciphertext(ctx, b), o); }});
    s.push_back({"seeded ciphertext", ckks::serialize(sct, o),
                 [ctx, o](auto b) { return ckks::serialize(ckks::load_seeded_ciphertext(ctx, b), o); }});
    ckks::KeyGenerator kg(ctx, e.keygen.secret_key());
    const std::vector<int> steps = {1, -1, 3};
    const auto gk = kg.create_rotation_keys(steps, /*conjugation=*/true);
    s.push_back({"Galois keys", ckks::serialize(gk, o), [ctx, o](auto b) { return ckks::serialize(ckks::load_galois_keys(ctx, b), o); }});
    s.push_back({"seeded Galois keys", ckks::serialize(gk, os),
                 [ctx, os](auto b) { return ckks::serialize(ckks::load_galois_keys(ctx, b), os); }});
    return s;
}

}  // namespace

class SerializeTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        tiny = std::make_unique<Engine>(small_literal(4, 4), 3);
        small = std::make_unique<Engine>(small_literal(12, 4), 4);
    }
    static void TearDownTestSuite() { tiny.reset(), small.reset(); }
    static std::unique_ptr<Engine> tiny, small;
};
std::unique_ptr<Engine> SerializeTest::tiny, SerializeTest::small;

TEST_F(SerializeTest, RoundTripIsByteIdenticalForEveryKind) {
    for (Engine* e : {tiny.get(), small.get()})
        for (bool compress : {false, true})
            for (const auto& s : samples(*e, compress)) {
                const std::string label = s.name + (compress ? " zstd" : "") + " N=" + std::to_string(e->ctx->n());
                Bytes again;
                ASSERT_NO_THROW(again = s.reload(s.bytes)) << label;
                EXPECT_EQ(again, s.bytes) << label;
                const auto info = ckks::peek_header(s.bytes);
                EXPECT_EQ(info.version, 1) << label;
                EXPECT_EQ(info.params_id, e->ctx->id()) << label;
                EXPECT_EQ(info.total_bytes, s.bytes.size()) << label;
                EXPECT_EQ(info.compressed, compress && s.name != "parameters" && s.name.find("Galois") == std::string::npos) << label;
                EXPECT_EQ(info.seeded, s.name.starts_with("seeded")) << label;
            }
}

TEST_F(SerializeTest, LayoutAndSizesFollowTheSpec) {
    const auto& e = *small;
    const auto& ctx = *e.ctx;
    const std::size_t n = ctx.n(), L1 = ctx.data_count(), ext = L1 + ctx.special_count();
    auto ct = e.encrypt(random_values(ctx.slots(), 30));
    const Bytes full = ckks::serialize(ct), seeded = ckks::serialize(e.enc_sk.encrypt_seeded(e.encoder.encode(random_values(8, 1))));
    // 40-bit primes take 5 bytes per residue, the 60-bit prime 7.5.
    EXPECT_EQ(limb_bytes(ctx, 1), 5 * n);
    EXPECT_EQ(limb_bytes(ctx, 0), 15 * n / 2);
    EXPECT_EQ(full.size(), H + 12 + 2 * poly_bytes(ctx, L1));
    EXPECT_EQ(seeded.size(), H + 44 + poly_bytes(ctx, L1));
    EXPECT_LT(full.size(), 2 * L1 * n * 8 * 0.7) << "bit-packing must beat 8 bytes per residue";
    EXPECT_NEAR(double(seeded.size()) / double(full.size()), 0.5, 0.002);
    const Bytes rk = ckks::serialize(e.rk), rks = ckks::serialize(e.rk, {.seeded = true});
    EXPECT_EQ(rk.size(), H + 2 + 32 * ctx.dnum() + 2 * ctx.dnum() * poly_bytes(ctx, ext));
    EXPECT_EQ(rks.size(), H + 2 + 32 * ctx.dnum() + ctx.dnum() * poly_bytes(ctx, ext));
    EXPECT_EQ(ckks::serialize(e.keygen.secret_key()).size(), H + n / 4);
    EXPECT_EQ(ckks::serialize(ctx).size(), H + 14 + 8 * ext);
    EXPECT_EQ(ckks::serialize(e.pk).size(), H + 2 * poly_bytes(ctx, ctx.data_count() + ctx.special_count()));

    // Header fields and the bit layout of residues, read back independently.
    EXPECT_EQ(std::string(full.begin(), full.begin() + 5), "HECNN");
    EXPECT_EQ(full[5] | full[6] << 8, 1);
    EXPECT_EQ(full[7] | full[8] << 8, 6);
    EXPECT_EQ(get64(full, 11), ctx.id());
    EXPECT_EQ(get64(full, 19), full.size() - H);
    double scale;
    const std::uint64_t sb = get64(full, H + 4);
    std::memcpy(&scale, &sb, 8);
    EXPECT_EQ(scale, ct.scale());
    for (std::size_t k = 0; k < 2; ++k) {
        std::size_t off = H + 12 + k * poly_bytes(ctx, L1);
        for (std::size_t i = 0; i < L1; off += limb_bytes(ctx, i), ++i)
            for (std::size_t r : {std::size_t{0}, std::size_t{1}, std::size_t{123}, n - 1})
                ASSERT_EQ(get_bits(full, off, r * ctx.modulus(i).bits(), ctx.modulus(i).bits()), ct.limb(k, i)[r])
                    << "poly " << k << " limb " << i << " residue " << r;
    }
    // Secret key: 2 bits per coefficient, 00 = 0, 01 = 1, 10 = -1.
    const Bytes sk = ckks::serialize(e.keygen.secret_key());
    const auto& c = e.keygen.secret_key().coefficients();
    for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(get_bits(sk, H, 2 * k, 2), c[k] == 0 ? 0u : c[k] == 1 ? 1u : 2u) << k;
}

TEST_F(SerializeTest, LoadedObjectsWork) {
    const auto& e = *small;
    const auto v = random_values(e.ctx->slots(), 31), w = random_values(e.ctx->slots(), 32);
    auto ct = e.encrypt(v);
    const auto want = e.decrypt(ct);
    // Fresh ciphertexts keep ~24 bits here; the exact check is the bit-identical decryption.
    for (bool compress : {false, true}) {
        auto lc = ckks::load_ciphertext(e.ctx, ckks::serialize(ct, {.compress = compress}));
        EXPECT_TRUE(same_words(lc.words(), ct.words()));
        auto p = precision(e.decrypt(lc), v);
        EXPECT_GE(p.min_bits, 20) << p.str();
        EXPECT_EQ(e.decrypt(lc), want);
    }
    // Seeded: the expanded c1 reproduces the ciphertext exactly.
    auto sct = e.enc_sk.encrypt_seeded(e.encoder.encode(v));
    const Bytes sb = ckks::serialize(sct);
    auto ls = ckks::load_ciphertext(e.ctx, sb);
    EXPECT_TRUE(same_words(ls.words(), sct.ct.words()));
    EXPECT_GE(precision(e.decrypt(ls), v).min_bits, 20);
    EXPECT_EQ(ckks::load_seeded_ciphertext(e.ctx, sb).seed, sct.seed);
    // Secret key decrypts, public key encrypts.
    auto sk = ckks::load_secret_key(e.ctx, ckks::serialize(e.keygen.secret_key(), {.compress = true}));
    EXPECT_EQ(sk.coefficients(), e.keygen.secret_key().coefficients());
    EXPECT_EQ(e.encoder.decode(ckks::Decryptor(e.ctx, sk).decrypt(ct)), want);
    auto pk = ckks::load_public_key(e.ctx, ckks::serialize(e.pk));
    EXPECT_GE(precision(e.decrypt(ckks::Encryptor(e.ctx, pk).encrypt(e.encoder.encode(v))), v).min_bits, 20);
    // Relinearisation key, full and seeded.
    std::vector<double> prod(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) prod[i] = v[i] * w[i];
    for (bool seeded : {false, true}) {
        auto rk = ckks::load_relin_key(e.ctx, ckks::serialize(e.rk, {.seeded = seeded}));
        EXPECT_TRUE(same_words(rk.b_words(), e.rk.b_words()) && same_words(rk.a_words(), e.rk.a_words()));
        auto c = e.eval.multiply(ct, e.encrypt(w));
        e.eval.relinearize_inplace(c, rk);
        e.eval.rescale_inplace(c);
        auto p = precision(e.decrypt(c), prod);
        EXPECT_GE(p.min_bits, 20) << (seeded ? "seeded: " : "full: ") << p.str();
    }
    // Parameters: an equal context.
    auto ctx2 = ckks::load_parameters(ckks::serialize(*e.ctx), true);
    EXPECT_EQ(ctx2->id(), e.ctx->id());
    EXPECT_EQ(ctx2->describe(), e.ctx->describe());
    // A plaintext keeps level, scale and form.
    auto pt = e.encoder.encode(v, std::ldexp(1.0, 30), 2);
    auto lp = ckks::load_plaintext(e.ctx, ckks::serialize(pt));
    EXPECT_EQ(lp.level(), 2);
    EXPECT_EQ(lp.scale(), pt.scale());
    EXPECT_TRUE(same_words(lp.words(), pt.words()));
}

TEST_F(SerializeTest, SecureParametersLoadAndInsecureOnesNeedConsent) {
    ckks::ParametersLiteral lit;
    lit.log_n = 13;
    lit.data_prime_bits = {60, 40, 40};
    lit.special_prime_bits = {60};
    auto ctx = ckks::Context::create(lit);
    ASSERT_TRUE(ctx->secure_128());
    EXPECT_EQ(ckks::load_parameters(ckks::serialize(*ctx))->id(), ctx->id());
    const Bytes insecure = ckks::serialize(*tiny->ctx);
    expect_format_error([&] { ckks::load_parameters(insecure); }, {"below 128-bit security"});
    EXPECT_NO_THROW(ckks::load_parameters(insecure, true));
}

TEST_F(SerializeTest, OtherParametersAreRejectedNamingBothIds) {
    auto other = ckks::Context::create(small_literal(12, 3));
    ASSERT_NE(other->id(), small->ctx->id());
    for (const auto& s : samples(*small, false)) {
        if (s.name == "parameters") continue;
        const std::string label = s.name;
        auto load = [&] {
            if (s.name == "secret key") ckks::load_secret_key(other, s.bytes);
            else if (s.name == "public key") ckks::load_public_key(other, s.bytes);
            else if (s.name.find("relin") != std::string::npos) ckks::load_relin_key(other, s.bytes);
            else if (s.name.find("Galois") != std::string::npos) ckks::load_galois_keys(other, s.bytes);
            else if (s.name.find("plaintext") != std::string::npos) ckks::load_plaintext(other, s.bytes);
            else ckks::load_ciphertext(other, s.bytes);
        };
        expect_format_error(load, {"belongs to parameters " + small->ctx->id_hex(), "these parameters are " + other->id_hex(),
                                   "load the matching parameters"}, label);
    }
}

TEST_F(SerializeTest, WrongKindIsRejected) {
    const auto& e = *tiny;
    const auto all = samples(e, false);
    auto find = [&](const std::string& n) -> const Bytes& {
        for (auto& s : all)
            if (s.name == n) return s.bytes;
        throw std::logic_error(n);
    };
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, find("relin key")); },
                        {"expected a ciphertext, but the data holds a relinearisation key"});
    expect_format_error([&] { ckks::load_plaintext(e.ctx, find("ciphertext")); }, {"expected a plaintext", "holds a ciphertext"});
    expect_format_error([&] { ckks::load_secret_key(e.ctx, find("public key")); }, {"expected a secret key", "a public key"});
    expect_format_error([&] { ckks::load_public_key(e.ctx, find("secret key")); }, {"expected a public key"});
    expect_format_error([&] { ckks::load_relin_key(e.ctx, find("plaintext")); }, {"expected a relinearisation key"});
    expect_format_error([&] { ckks::load_parameters(find("ciphertext"), true); }, {"expected parameters"});
    expect_format_error([&] { ckks::load_seeded_ciphertext(e.ctx, find("ciphertext")); }, {"expected a seeded ciphertext"});
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, Bytes{'P', 'K', 3, 4}); }, {"not a hecnn object"});
}

// Every loader for a kind name, as used by the exhaustive corruption tests.
static void load_any(const Engine& e, const std::string& name, std::span<const std::uint8_t> b) {
    if (name == "parameters") ckks::load_parameters(b, true);
    else if (name == "secret key") ckks::load_secret_key(e.ctx, b);
    else if (name == "public key") ckks::load_public_key(e.ctx, b);
    else if (name.find("relin") != std::string::npos) ckks::load_relin_key(e.ctx, b);
    else if (name.find("Galois") != std::string::npos) ckks::load_galois_keys(e.ctx, b);
    else if (name.find("plaintext") != std::string::npos) ckks::load_plaintext(e.ctx, b);
    else ckks::load_ciphertext(e.ctx, b);
}

TEST_F(SerializeTest, EveryTruncationAndTrailingByteIsRejected) {
    for (bool compress : {false, true})
        for (const auto& s : samples(*tiny, compress)) {
            ASSERT_NO_THROW(load_any(*tiny, s.name, s.bytes)) << s.name;
            for (std::size_t len = 0; len < s.bytes.size(); ++len)
                ASSERT_THROW(load_any(*tiny, s.name, std::span(s.bytes).first(len)), FormatError) << s.name << " prefix " << len;
            Bytes longer = s.bytes;
            longer.push_back(0);
            expect_format_error([&] { load_any(*tiny, s.name, longer); }, {"1 trailing bytes"}, s.name);
            longer = s.bytes;
            longer.resize(longer.size() - 1);
            expect_format_error([&] { load_any(*tiny, s.name, longer); }, {"truncated", "present"}, s.name);
        }
}

TEST_F(SerializeTest, EveryByteFlipIsRejected) {
    for (bool compress : {false, true})
        for (const auto& s : samples(*tiny, compress))
            for (std::size_t pos = 0; pos < s.bytes.size(); ++pos) {
                Bytes b = s.bytes;
                b[pos] ^= static_cast<std::uint8_t>(1u << (pos % 8));
                ASSERT_THROW(load_any(*tiny, s.name, b), FormatError) << s.name << (compress ? " zstd" : "") << " byte " << pos;
            }
    // Large objects: 2000 random positions of a ciphertext, 300 of a relinearisation key.
    math::Prng prng(math::Seed{77});
    const auto& e = *small;
    const Bytes ct = ckks::serialize(e.encrypt(random_values(e.ctx->slots(), 33))), rk = ckks::serialize(e.rk);
    for (auto [obj, count, name] : {std::tuple{ct, 2000, "ciphertext"}, std::tuple{rk, 300, "relin key"}})
        for (int t = 0; t < count; ++t) {
            const std::size_t pos = prng.next_u64() % obj.size();
            const auto orig = obj[pos];
            obj[pos] ^= static_cast<std::uint8_t>(1 + prng.next_u64() % 255);
            ASSERT_THROW(load_any(e, name, obj), FormatError) << name << " byte " << pos;
            obj[pos] = orig;
        }
}

TEST_F(SerializeTest, RandomMutationsWithAValidChecksumLoadOrFailCleanly) {
    // Past the checksum, any content either decodes to a valid object or is a FormatError;
    // never another exception, a crash or an out-of-bounds read (run under sanitizers).
    // Single-threaded: thousands of N = 16 key loads are dominated by OpenMP start-up otherwise.
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    math::Prng prng(math::Seed{78});
    int rejected = 0, accepted = 0;
    for (bool compress : {false, true})
        for (const auto& s : samples(*tiny, compress))
            for (int t = 0; t < 100; ++t) {
                Bytes b = s.bytes;
                const int edits = 1 + static_cast<int>(prng.next_u64() % 4);
                for (int k = 0; k < edits; ++k) b[prng.next_u64() % b.size()] = static_cast<std::uint8_t>(prng.next_u64());
                if (prng.next_u64() % 4 == 0) b.resize(H + prng.next_u64() % (b.size() - H + 1));
                reseal(b);
                try {
                    load_any(*tiny, s.name, b);
                    ++accepted;
                } catch (const FormatError&) {
                    ++rejected;
                } catch (const std::exception& ex) {
                    ADD_FAILURE() << s.name << ": " << typeid(ex).name() << ": " << ex.what();
                }
            }
    omp_set_num_threads(threads);
    EXPECT_GT(rejected, 0);
    EXPECT_GT(accepted, 0);  // e.g. a residue changed to another valid residue
}

TEST_F(SerializeTest, OutOfRangeResiduesAreRejectedDespiteAValidChecksum) {
    const auto& e = *tiny;
    const auto& ctx = *e.ctx;
    const std::size_t n = ctx.n(), L1 = ctx.data_count();
    auto ct = e.encrypt(random_values(ctx.slots(), 34));
    const Bytes good = ckks::serialize(ct);
    const std::size_t limb2 = H + 12 + poly_bytes(ctx, 2);  // polynomial 0, limb 2
    const int b2 = ctx.modulus(2).bits();
    const std::string q2 = "not below q_2 = " + std::to_string(ctx.modulus(2).value());
    for (std::size_t r : {std::size_t{0}, std::size_t{7}, n - 1}) {
        Bytes b = good;
        put_bits(b, limb2, r * b2, b2, ctx.modulus(2).value());
        reseal(b);
        expect_format_error([&] { ckks::load_ciphertext(e.ctx, b); }, {"residue " + std::to_string(r) + " of limb 2", q2});
        put_bits(b, limb2, r * b2, b2, ctx.modulus(2).value() - 1);  // the largest valid residue is accepted
        reseal(b);
        EXPECT_EQ(ckks::load_ciphertext(e.ctx, b).limb(0, 2)[r], ctx.modulus(2).value() - 1);
    }
    {  // polynomial 1, all-ones residue, also inside a zstd body
        Bytes b = good;
        put_bits(b, H + 12 + poly_bytes(ctx, L1) + poly_bytes(ctx, 2), 5 * b2, b2, (std::uint64_t{1} << b2) - 1);
        reseal(b);
        expect_format_error([&] { ckks::load_ciphertext(e.ctx, b); }, {"residue 5 of limb 2 (polynomial 1)", q2});
        const Bytes z = with_body(b, 12, zstd_of(Bytes(b.begin() + H + 12, b.end())), true);
        expect_format_error([&] { ckks::load_ciphertext(e.ctx, z); }, {"residue 5 of limb 2 (polynomial 1)", q2});
    }
    {  // relinearisation key: b of digit 1 on the first special prime; then an a that is valid but not from its seed
        const Bytes rk = ckks::serialize(e.rk);
        const std::size_t meta = 2 + 32 * ctx.dnum(), ext = L1 + ctx.special_count(), pb = poly_bytes(ctx, ext);
        ASSERT_GE(ctx.dnum(), 2);
        Bytes b = rk;
        const std::size_t off = H + meta + 2 * pb /* digit 1 */ + poly_bytes(ctx, L1) /* p_0 */;
        put_bits(b, off, 3 * ctx.special_moduli()[0].bits(), ctx.special_moduli()[0].bits(), ctx.special_moduli()[0].value());
        reseal(b);
        expect_format_error([&] { ckks::load_relin_key(e.ctx, b); }, {"residue 3 of limb " + std::to_string(L1) + " (b of digit 1)", "p_0"});
        b = rk;
        put_bits(b, H + meta + pb, 0, ctx.modulus(0).bits(), (e.rk.a(0, 0)[0] + 1) % ctx.modulus(0).value());
        reseal(b);
        expect_format_error([&] { ckks::load_relin_key(e.ctx, b); }, {"a of digit 0 is not the expansion of its seed"});
    }
}

TEST_F(SerializeTest, FieldRangesAreCheckedDespiteAValidChecksum) {
    const auto& e = *tiny;
    const auto& ctx = *e.ctx;
    auto ct = e.encrypt(random_values(ctx.slots(), 35));
    const Bytes good = ckks::serialize(ct);
    auto mutated = [&](const Bytes& src, auto&& edit) {
        Bytes b = src;
        edit(b);
        reseal(b);
        return b;
    };
    auto load_ct = [&](const Bytes& b) { return [&e, b] { ckks::load_ciphertext(e.ctx, b); }; };
    expect_format_error(load_ct(mutated(good, [](Bytes& b) { put16(b, H, 5); })), {"level 5 is above the parameters' maximum level 4"});
    expect_format_error(load_ct(mutated(good, [](Bytes& b) { put16(b, H, 0xffff); })), {"level 65535"});
    for (int size : {0, 1, 4, 255})
        expect_format_error(load_ct(mutated(good, [&](Bytes& b) { b[H + 2] = static_cast<std::uint8_t>(size); })),
                            {"size " + std::to_string(size) + ", expected 2 or 3"});
    expect_format_error(load_ct(mutated(good, [](Bytes& b) { b[H + 3] = 2; })), {"is_ntt byte is 2, expected 0 or 1"});
    for (double s : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), -0.0})
        expect_format_error(load_ct(mutated(good, [&](Bytes& b) { put_f64(b, H + 4, s); })), {"not a finite positive number"});
    // A lower level with the body left at full size: the exact length no longer fits.
    expect_format_error(load_ct(mutated(good, [](Bytes& b) { put16(b, H, 3); })), {"body is", "expected exactly"});
    expect_format_error(load_ct(mutated(good, [](Bytes& b) { b.resize(H + 10); })), {"too short"});
    // Flags.
    expect_format_error(load_ct(mutated(good, [](Bytes& b) { b[9] |= 4; })), {"unknown flag bits 0x0004"});
    expect_format_error(load_ct(mutated(good, [](Bytes& b) { b[10] |= 0x80; })), {"unknown flag bits 0x8000"});
    expect_format_error([&] { ckks::load_plaintext(e.ctx, mutated(ckks::serialize(e.encoder.encode(random_values(4, 1))), [](Bytes& b) {
                            b[9] |= ckks::kFlagSeeded;
                        })); },
                        {"no seeded form"});
    expect_format_error([&] { ckks::load_parameters(mutated(ckks::serialize(ctx), [](Bytes& b) { b[9] |= ckks::kFlagZstd; }), true); },
                        {"never compressed"});
    // Seeded ciphertext in NTT form; plaintext of size 2.
    const Bytes seeded = ckks::serialize(e.enc_sk.encrypt_seeded(e.encoder.encode(random_values(4, 2))));
    expect_format_error(load_ct(mutated(seeded, [](Bytes& b) { b[H + 3] = 1; })), {"seeded ciphertext must have 2 polynomials"});
    expect_format_error([&] { ckks::load_plaintext(e.ctx, mutated(ckks::serialize(e.encoder.encode(random_values(4, 1))), [](Bytes& b) {
                            b[H + 2] = 2;
                        })); },
                        {"size 2, expected 1"});
    // Relinearisation key with the wrong digit count.
    expect_format_error([&] { ckks::load_relin_key(e.ctx, mutated(ckks::serialize(e.rk), [](Bytes& b) { put16(b, H, 7); })); },
                        {"7 digits", "dnum = " + std::to_string(ctx.dnum())});
    // Secret key: code 11.
    expect_format_error([&] { ckks::load_secret_key(e.ctx, mutated(ckks::serialize(e.keygen.secret_key()), [](Bytes& b) {
                            put_bits(b, H, 2 * 9, 2, 3);
                        })); },
                        {"coefficient 9 has the invalid code 11"});
    // Parameters: every field.
    const Bytes params = ckks::serialize(ctx);
    auto load_p = [&](auto&& edit) { return [&, b = mutated(params, edit)] { ckks::load_parameters(b, true); }; };
    expect_format_error(load_p([](Bytes& b) { b[H + 1] = 2; }), {"insecure flag byte is 2"});
    expect_format_error(load_p([](Bytes& b) { b[H + 4] = 0; }), {"0 data and 2 special primes"});
    expect_format_error(load_p([](Bytes& b) { b[H + 4] = 65; }), {"65 data"});
    expect_format_error(load_p([](Bytes& b) { b[H + 2] = 0; }), {"dnum 0"});
    expect_format_error(load_p([](Bytes& b) { b[H + 3] = 1; }), {"contradicts digit_size 1"});
    expect_format_error(load_p([](Bytes& b) { b.push_back(0); }), {"expected exactly"});
    expect_format_error(load_p([](Bytes& b) { put64(b, H + 14, get64(b, H + 14) + 2); }), {"parameters rejected", "data prime"});
    expect_format_error(load_p([](Bytes& b) { b[H] = 0; }), {"parameters rejected", "log_n"});
    expect_format_error(load_p([](Bytes& b) { put_f64(b, H + 6, std::nan("")); }), {"parameters rejected", "log_scale"});
    expect_format_error(load_p([](Bytes& b) { put_f64(b, H + 6, 41.0); }), {"header id " + ctx.id_hex(), "hash to"});
}

TEST_F(SerializeTest, PaddingBitsMustBeZero) {
    // N = 4 with odd-sized primes leaves padding bits at the end of each limb.
    ckks::ParametersLiteral lit;
    lit.log_n = 2;
    lit.data_prime_bits = {41, 43};
    lit.special_prime_bits = {45};
    lit.insecure_test_only_allow_below_128_bits = true;
    auto ctx = ckks::Context::create(lit);
    ckks::Ciphertext ct(ctx, 1, 1024.0);
    for (std::size_t i = 0; i < ct.words().size(); ++i) ct.words()[i] = i * 1234567;
    const Bytes good = ckks::serialize(ct);
    ASSERT_EQ(good.size(), H + 12 + 2 * (21 + 22));
    ASSERT_TRUE(same_words(ckks::load_ciphertext(ctx, good).words(), ct.words()));
    Bytes b = good;
    b[H + 12 + 20] |= 0x10;  // bit 164 of limb 0: padding (4 residues × 41 bits = 164)
    reseal(b);
    expect_format_error([&] { ckks::load_ciphertext(ctx, b); }, {"padding bits of limb 0", "not zero"});
    b = good;
    b[H + 12 + 21 + 21] |= 0x80;  // last padding bit of limb 1 (172 bits in 22 bytes)
    reseal(b);
    expect_format_error([&] { ckks::load_ciphertext(ctx, b); }, {"padding bits of limb 1"});
}

TEST_F(SerializeTest, HeaderVersionMagicAndHugeLengths) {
    const auto& e = *tiny;
    const Bytes good = ckks::serialize(e.encrypt(random_values(8, 36)));
    for (std::uint16_t v : {0, 2, 7}) {
        Bytes b = good;
        put16(b, 5, v);
        reseal(b);
        expect_format_error([&] { ckks::load_ciphertext(e.ctx, b); }, {"unsupported format version " + std::to_string(v) + " (this build reads 1)"});
        expect_format_error([&] { ckks::peek_header(b); }, {"unsupported format version"});
    }
    Bytes b = good;
    b[2] = 'X';
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, b); }, {"magic"});
    expect_format_error([&] { ckks::peek_header(std::span(good).first(20)); }, {"truncated", "43 bytes, 20 present"});
    b = good;
    put16(b, 7, 9);
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, b); }, {"unknown object kind 9"});
    // Declared payload lengths far beyond what is present: rejected without allocating.
    for (std::uint64_t len : {std::uint64_t{1} << 20, std::uint64_t{1} << 63, ~std::uint64_t{0}}) {
        b = good;
        put64(b, 19, len);
        g_max_alloc = 0;
        g_track = true;
        const std::string msg = expect_format_error([&] { ckks::load_ciphertext(e.ctx, b); },
                                                    {"truncated: ciphertext payload declares " + std::to_string(len) + " bytes, " +
                                                     std::to_string(good.size() - H) + " present"});
        g_track = false;
        EXPECT_LT(g_max_alloc.load(), std::size_t{1} << 16) << msg;
        EXPECT_EQ(ckks::peek_header(b).payload_bytes, len);
    }
}

TEST_F(SerializeTest, ZstdBombsAndBadFramesAreRejectedBeforeAllocating) {
    const auto& e = *tiny;
    const auto& ctx = *e.ctx;
    const Bytes good = ckks::serialize(e.encrypt(random_values(8, 37)));
    const std::size_t expected = 2 * poly_bytes(ctx, ctx.data_count());
    const Bytes raw_body(good.begin() + H + 12, good.end());
    ASSERT_EQ(raw_body.size(), expected);
    ASSERT_NO_THROW(ckks::load_ciphertext(e.ctx, with_body(good, 12, zstd_of(raw_body), true)));

    // Hand-made frame: single segment, declared content size 2^50, one 128 KiB RLE block.
    Bytes frame = {0x28, 0xB5, 0x2F, 0xFD, 0xE0};
    for (int i = 0; i < 8; ++i) frame.push_back(static_cast<std::uint8_t>((std::uint64_t{1} << 50) >> (8 * i)));
    const std::uint32_t block = 1u | (1u << 1) | (131072u << 3);
    frame.insert(frame.end(), {static_cast<std::uint8_t>(block), static_cast<std::uint8_t>(block >> 8), static_cast<std::uint8_t>(block >> 16), 0});
    ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), std::uint64_t{1} << 50);
    g_max_alloc = 0;
    g_track = true;
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, frame, true)); },
                        {"declares 1125899906842624 decompressed bytes, expected exactly " + std::to_string(expected)});
    // A real frame of four times the expected content.
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, zstd_of(Bytes(4 * expected, 0)), true)); },
                        {"declares " + std::to_string(4 * expected)});
    g_track = false;
    EXPECT_LT(g_max_alloc.load(), std::size_t{1} << 16);
    // One byte short of the expected content.
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, zstd_of(Bytes(raw_body.begin(), raw_body.end() - 1)), true)); },
                        {"declares " + std::to_string(expected - 1)});
    // No declared content size.
    {
        ZSTD_CCtx* c = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
        Bytes z(ZSTD_compressBound(expected));
        z.resize(ZSTD_compress2(c, z.data(), z.size(), raw_body.data(), raw_body.size()));
        ZSTD_freeCCtx(c);
        ASSERT_EQ(ZSTD_getFrameContentSize(z.data(), z.size()), ZSTD_CONTENTSIZE_UNKNOWN);
        expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, z, true)); }, {"does not declare"});
    }
    // Two frames; a cut frame; garbage.
    Bytes two = zstd_of(raw_body), second = zstd_of(Bytes{1, 2, 3});
    two.insert(two.end(), second.begin(), second.end());
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, two, true)); }, {"follow the zstd frame"});
    Bytes cut = zstd_of(raw_body);
    cut.pop_back();
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, cut, true)); }, {"zstd"});
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, Bytes(40, 0xAB), true)); }, {"not a valid zstd frame"});
    expect_format_error([&] { ckks::load_ciphertext(e.ctx, with_body(good, 12, Bytes{}, true)); }, {"zstd"});
}

TEST_F(SerializeTest, SerializeRefusesInvalidObjects) {
    const auto& e = *tiny;
    auto sct = e.enc_sk.encrypt_seeded(e.encoder.encode(random_values(8, 38)));
    sct.ct.limb(1, 0)[0] ^= 1;
    EXPECT_THROW(ckks::serialize(sct), std::invalid_argument);
    auto ct = e.encrypt(random_values(8, 39));
    ct.limb(0, 1)[3] = e.ctx->modulus(1).value();
    EXPECT_THROW(ckks::serialize(ct), std::invalid_argument);
    EXPECT_THROW(ckks::serialize(ckks::Ciphertext()), std::invalid_argument);
}

class SerializeFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() / ("hecnn-ser-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    void TearDown() override {
        std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
        std::filesystem::remove_all(dir);
    }
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (auto& d : std::filesystem::directory_iterator(dir)) out.push_back(d.path().filename().string());
        return out;
    }
    std::filesystem::path dir;
};

TEST_F(SerializeFileTest, AtomicWriteReplacesAndLeavesNoTemporary) {
    const auto path = dir / "ct.bin";
    const Bytes a(1000, 1), b(3000, 2);
    ckks::write_file_atomic(path, a);
    EXPECT_EQ(ckks::read_file(path, 1000), a);
    ckks::write_file_atomic(path, b);
    EXPECT_EQ(ckks::read_file(path, 1 << 20), b);
    EXPECT_EQ(entries(), std::vector<std::string>{"ct.bin"});
    ckks::write_file_atomic(path, {});
    EXPECT_TRUE(ckks::read_file(path, 0).empty());
    EXPECT_EQ(entries(), std::vector<std::string>{"ct.bin"});
}

TEST_F(SerializeFileTest, FailedWriteLeavesTheOldFileIntact) {
    const auto path = dir / "key.bin";
    const Bytes old(500, 7), big(200000, 9);
    ckks::write_file_atomic(path, old);
    // Simulated failure mid-write: a file-size limit makes write() fail with EFBIG.
    struct rlimit saved;
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    auto* prev = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = saved;
    lim.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
    bool threw = false;
    try {
        ckks::write_file_atomic(path, big);
    } catch (const std::system_error& ex) {
        threw = true;
        EXPECT_NE(std::string(ex.what()).find("unchanged"), std::string::npos) << ex.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::signal(SIGXFSZ, prev);
    EXPECT_TRUE(threw);
    EXPECT_EQ(ckks::read_file(path, 1 << 20), old);
    EXPECT_EQ(entries(), std::vector<std::string>{"key.bin"});
    // A directory that does not exist; a read-only directory (meaningless as root).
    EXPECT_THROW(ckks::write_file_atomic(dir / "missing" / "x.bin", old), std::system_error);
    if (::geteuid() != 0) {
        std::filesystem::permissions(dir, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
        EXPECT_THROW(ckks::write_file_atomic(path, big), std::system_error);
        std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
        EXPECT_EQ(ckks::read_file(path, 1 << 20), old);
    }
    EXPECT_EQ(entries(), std::vector<std::string>{"key.bin"});
}

TEST_F(SerializeFileTest, ReadFileEnforcesTheLimit) {
    const auto path = dir / "p.bin";
    ckks::write_file_atomic(path, Bytes(2048, 3));
    EXPECT_EQ(ckks::read_file(path, 2048).size(), 2048u);
    try {
        ckks::read_file(path, 2047);
        ADD_FAILURE() << "over-limit file accepted";
    } catch (const FormatError& ex) {
        EXPECT_NE(std::string(ex.what()).find("2048 bytes, above the limit of 2047"), std::string::npos) << ex.what();
    }
    EXPECT_THROW(ckks::read_file(dir / "absent", 100), std::system_error);
    EXPECT_THROW(ckks::read_file(dir, 100), std::system_error);
    // An endless character device is cut at the limit.
    g_max_alloc = 0;
    g_track = true;
    EXPECT_THROW(ckks::read_file("/dev/zero", 100000), FormatError);
    g_track = false;
    EXPECT_LT(g_max_alloc.load(), std::size_t{200000});
}

// Galois keys: the documented layout and size, a functional round trip in both forms, and
// every meta field refused with a clear message when wrong (resealed, so only the field
// check can catch it).
TEST_F(SerializeTest, GaloisKeysRoundTripAndEveryFieldIsValidated) {
    auto& e = *tiny;
    const auto& ctx = *e.ctx;
    const std::size_t n = ctx.n(), D = ctx.dnum(), ext = ctx.data_count() + ctx.special_count();
    ckks::KeyGenerator kg(e.ctx, e.keygen.secret_key());
    const std::vector<int> steps = {2, 1, -1};
    const auto gk = kg.create_rotation_keys(steps);
    ASSERT_EQ(gk.size(), 3u);
    const Bytes full = ckks::serialize(gk), seeded = ckks::serialize(gk, {.seeded = true});
    const std::size_t meta = 4 + 4 * 3 + 32 * 3 * D;
    EXPECT_EQ(full.size(), H + meta + 3 * D * 2 * poly_bytes(ctx, ext));
    EXPECT_EQ(seeded.size(), H + meta + 3 * D * poly_bytes(ctx, ext));
    EXPECT_EQ(ckks::serialized_bytes(gk, false), full.size());
    EXPECT_EQ(ckks::serialized_bytes(gk, true), seeded.size());
    EXPECT_EQ(full[7] | full[8] << 8, 7);
    EXPECT_EQ(full[H] | full[H + 1] << 8, 3);
    EXPECT_EQ(full[H + 2] | full[H + 3] << 8, static_cast<int>(D));
    // Elements ascending: 5^-1 = 5^(N/2-1), 5, 25 (mod 2N).
    std::vector<std::uint32_t> want = {ckks::galois_element(-1, n), ckks::galois_element(1, n), ckks::galois_element(2, n)};
    std::sort(want.begin(), want.end());
    for (std::size_t k = 0; k < 3; ++k)
        EXPECT_EQ(get64(full, H + 4 + 4 * k) & 0xffffffffu, want[k]) << "element " << k;
    // Compression is never applied (uniform residues), and a zstd flag is refused.
    EXPECT_EQ(ckks::serialize(gk, {.compress = true}), full);

    // Both forms load to keys that rotate exactly as the originals (the rotations' accuracy
    // is test_rotation's).
    const auto ct = e.encrypt(random_values(ctx.slots(), 40));
    for (const Bytes* b : {&full, &seeded}) {
        const auto loaded = ckks::load_galois_keys(e.ctx, *b);
        EXPECT_EQ(std::vector<std::uint32_t>(loaded.elements().begin(), loaded.elements().end()), want);
        for (int k : steps) {
            const auto mine = e.eval.rotate(ct, k, loaded), orig = e.eval.rotate(ct, k, gk);
            EXPECT_TRUE(same_words(mine.words(), orig.words())) << "step " << k;
        }
    }

    auto bad_meta = [&](const Bytes& src, auto edit, std::initializer_list<std::string> parts, const std::string& label) {
        Bytes b = src;
        edit(b);
        reseal(b);
        expect_format_error([&] { ckks::load_galois_keys(e.ctx, b); }, parts, label);
    };
    auto put32 = [](Bytes& b, std::size_t off, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
    };
    for (const Bytes* src : {&full, &seeded}) {
        bad_meta(*src, [&](Bytes& b) { put16(b, H, 0); }, {"0 elements", "expected 1 to"}, "no element");
        bad_meta(*src, [&](Bytes& b) { put16(b, H, static_cast<std::uint16_t>(n)); }, {"elements, expected 1 to"}, "count N");
        bad_meta(*src, [&](Bytes& b) { put16(b, H, 2); }, {"body is"}, "count 2 of 3");
        bad_meta(*src, [&](Bytes& b) { put16(b, H, 4); }, {"Galois keys"}, "count 4 of 3");
        bad_meta(*src, [&](Bytes& b) { put16(b, H + 2, static_cast<std::uint16_t>(D + 1)); }, {"digits", "dnum"}, "digits");
        bad_meta(*src, [&](Bytes& b) { put32(b, H + 4, 6); }, {"element 0 is 6", "not a Galois element"}, "even");
        bad_meta(*src, [&](Bytes& b) { put32(b, H + 4, 1); }, {"element 0 is 1"}, "identity");
        bad_meta(*src, [&](Bytes& b) { put32(b, H + 4, static_cast<std::uint32_t>(2 * n + 1)); }, {"not a Galois element"}, "beyond 2N");
        bad_meta(*src, [&](Bytes& b) { put32(b, H + 8, want[0]); }, {"element 1", "repeats the previous one"}, "duplicate");
        bad_meta(*src, [&](Bytes& b) { put32(b, H + 4, want[2]), put32(b, H + 12, want[0]); }, {"below the previous one"}, "order");
        bad_meta(*src, [&](Bytes& b) { put16(b, 9, static_cast<std::uint16_t>(b[9] | ckks::kFlagZstd)); }, {"never compressed"}, "zstd");
    }
    // Full form: a stored a that is not its seed's expansion (a seed byte changed).
    bad_meta(full, [&](Bytes& b) { b[H + 4 + 12] ^= 1; }, {"is not the expansion of its seed", "of element"}, "seed");
    // The seeded form does not carry a, so it has no such check: the flag must say which.
    bad_meta(full, [&](Bytes& b) { put16(b, 9, ckks::kFlagSeeded); }, {"body is"}, "seeded flag on a full body");
    // Other parameters.
    expect_format_error([&] { ckks::load_galois_keys(small->ctx, full); }, {"belongs to parameters"});
    EXPECT_THROW(ckks::serialize(ckks::GaloisKeys(e.ctx, {}, {})), std::invalid_argument);
}
