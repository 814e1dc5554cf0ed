// Serialisation framing: header, checksum, zstd body, bit-packed residues. The byte
// layout is specified in include/hecnn/ckks/serialize.h.
#include <sodium.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>

#include "serialize_detail.h"

namespace hecnn::ckks {
namespace detail {
namespace {

constexpr std::uint8_t kMagic[5] = {'H', 'E', 'C', 'N', 'N'};
constexpr std::uint16_t kKnownFlags = kFlagSeeded | kFlagZstd;

void checksum(std::span<const std::uint8_t> header, std::span<const std::uint8_t> payload, std::uint8_t out[kChecksumBytes]) {
    static const bool sodium_ok = sodium_init() >= 0;
    if (!sodium_ok) throw std::runtime_error("libsodium failed to initialise");
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, kChecksumBytes);
    crypto_generichash_update(&st, header.data(), kChecksumOffset);
    crypto_generichash_update(&st, payload.data(), payload.size());
    crypto_generichash_final(&st, out, kChecksumBytes);
}

std::string limb_label(std::size_t i, std::size_t data_count) {
    return i < data_count ? "q_" + std::to_string(i) : "p_" + std::to_string(i - data_count);
}

// Writes limb_bytes(n, bits(q)) bytes; every residue must be < q.
void pack_limb(const u64* in, std::size_t n, const Modulus& q, std::uint8_t* out, const std::string& where) {
    const int b = q.bits();
    unsigned __int128 acc = 0;
    int nb = 0;
    for (std::size_t k = 0; k < n; ++k) {
        if (in[k] >= q.value())
            throw std::invalid_argument("serialize: " + where + ": residue " + std::to_string(k) + " is not below its modulus " +
                                        std::to_string(q.value()));
        acc |= static_cast<unsigned __int128>(in[k]) << nb;
        nb += b;
        if (nb >= 64) {
            set_u64(out, static_cast<std::uint64_t>(acc));
            out += 8;
            acc >>= 64;
            nb -= 64;
        }
    }
    for (; nb > 0; nb -= 8, acc >>= 8) *out++ = static_cast<std::uint8_t>(acc);
}

// Reads exactly limb_bytes(n, bits(q)) bytes. Returns -1 if valid, the index of the first
// residue >= q, or -2 if padding bits are set.
std::ptrdiff_t unpack_limb(const std::uint8_t* in, std::size_t n, const Modulus& q, u64* out) {
    const int b = q.bits();
    const u64 mask = (u64{1} << b) - 1, qv = q.value();
    const std::size_t size = limb_bytes(n, b);
    std::size_t pos = 0;
    unsigned __int128 acc = 0;
    int nb = 0;
    for (std::size_t k = 0; k < n; ++k) {
        if (nb < b) {
            if (pos + 8 <= size) {
                acc |= static_cast<unsigned __int128>(get_u64(in + pos)) << nb;  // nb < 61: fits
                pos += 8;
                nb += 64;
            } else {
                while (nb < b && pos < size) acc |= static_cast<unsigned __int128>(in[pos++]) << nb, nb += 8;
                if (nb < b) return -2;  // cannot happen with the exact size; never read past it
            }
        }
        const u64 r = static_cast<u64>(acc) & mask;
        if (r >= qv) return static_cast<std::ptrdiff_t>(k);
        out[k] = r;
        acc >>= b;
        nb -= b;
    }
    while (pos < size) acc |= static_cast<unsigned __int128>(in[pos++]) << nb, nb += 8;  // not reached
    return acc == 0 ? -1 : -2;
}

}  // namespace

void bad(const std::string& what) { throw FormatError(what); }

std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

const char* with_article(ObjectKind k) {
    switch (k) {
        case ObjectKind::parameters: return "parameters";
        case ObjectKind::secret_key: return "a secret key";
        case ObjectKind::public_key: return "a public key";
        case ObjectKind::relin_key: return "a relinearisation key";
        case ObjectKind::plaintext: return "a plaintext";
        case ObjectKind::ciphertext: return "a ciphertext";
        case ObjectKind::galois_keys: return "Galois keys";
    }
    return "an unknown object";
}

std::size_t poly_bytes(const Context& ctx, std::size_t limbs) {
    std::size_t s = 0;
    for (std::size_t i = 0; i < limbs; ++i) s += limb_bytes(ctx.n(), ctx.modulus(i).bits());
    return s;
}

Builder::Builder(ObjectKind kind, std::uint16_t flags, std::uint64_t id, std::size_t reserve)
    : kind_(kind), flags_(flags), id_(id), meta_end_(kHeaderSize) {
    out_.reserve(kHeaderSize + reserve);
    out_.resize(kHeaderSize);
}

std::uint8_t* Builder::grow(std::size_t n) {
    const std::size_t old = out_.size();
    out_.resize(old + n);
    return out_.data() + old;
}

void Builder::pack_poly(const Context& ctx, const u64* limbs, std::size_t count, const std::string& where) {
    const std::size_t n = ctx.n();
    for (std::size_t i = 0; i < count; ++i)
        pack_limb(limbs + i * n, n, ctx.modulus(i), grow(limb_bytes(n, ctx.modulus(i).bits())), where + ", limb " + std::to_string(i));
}

std::vector<std::uint8_t> Builder::finish(const SerializeOptions& opt) {
    if (opt.compress && kind_ != ObjectKind::parameters && kind_ != ObjectKind::galois_keys) {
        const std::size_t body = out_.size() - meta_end_;
        std::vector<std::uint8_t> z(ZSTD_compressBound(body));
        const std::size_t zn = ZSTD_compress(z.data(), z.size(), out_.data() + meta_end_, body, opt.zstd_level);
        if (ZSTD_isError(zn)) throw std::runtime_error(std::string("serialize: zstd failed: ") + ZSTD_getErrorName(zn));
        sodium_memzero(out_.data() + meta_end_, body);  // may be a secret key
        out_.resize(meta_end_);
        out_.insert(out_.end(), z.begin(), z.begin() + static_cast<std::ptrdiff_t>(zn));
        flags_ |= kFlagZstd;
    }
    std::uint8_t* h = out_.data();
    std::memcpy(h, kMagic, 5);
    h[5] = kFormatVersion & 0xff, h[6] = kFormatVersion >> 8;
    h[7] = static_cast<std::uint8_t>(kind_), h[8] = static_cast<std::uint16_t>(kind_) >> 8;
    h[9] = flags_ & 0xff, h[10] = flags_ >> 8;
    set_u64(h + 11, id_);
    set_u64(h + 19, out_.size() - kHeaderSize);
    checksum({h, kHeaderSize}, {h + kHeaderSize, out_.size() - kHeaderSize}, h + kChecksumOffset);
    return std::move(out_);
}

Opened open(std::span<const std::uint8_t> data, ObjectKind want, const Context* ctx) {
    Opened o{peek_header(data), {}};
    const char* what = kind_name(want);
    if (o.info.kind != want) bad(std::string("expected ") + with_article(want) + ", but the data holds " + with_article(o.info.kind));
    const bool may_seed = want == ObjectKind::ciphertext || want == ObjectKind::relin_key || want == ObjectKind::galois_keys;
    if (o.info.seeded && !may_seed) bad(std::string(what) + ": the seeded flag is set, but this kind has no seeded form");
    if (o.info.compressed && want == ObjectKind::parameters) bad("parameters: the zstd flag is set, but parameters are never compressed");
    if (o.info.compressed && want == ObjectKind::galois_keys) bad("Galois keys: the zstd flag is set, but Galois keys are never compressed");
    if (ctx && o.info.params_id != ctx->id())
        bad(std::string(what) + " belongs to parameters " + hex64(o.info.params_id) + " but these parameters are " + ctx->id_hex() +
            "; load the matching parameters");
    const std::size_t present = data.size() - kHeaderSize;
    if (o.info.payload_bytes > present)
        bad(std::string("truncated: ") + what + " payload declares " + std::to_string(o.info.payload_bytes) + " bytes, " +
            std::to_string(present) + " present");
    if (o.info.payload_bytes < present)
        bad(std::string(what) + ": " + std::to_string(present - o.info.payload_bytes) + " trailing bytes after the declared payload of " +
            std::to_string(o.info.payload_bytes) + " bytes");
    o.payload = data.subspan(kHeaderSize);
    std::uint8_t sum[kChecksumBytes];
    checksum(data.first(kHeaderSize), o.payload, sum);
    if (sodium_memcmp(sum, data.data() + kChecksumOffset, kChecksumBytes) != 0)
        bad(std::string(what) + ": checksum mismatch, the data is corrupted");
    return o;
}

// The body after `meta` bytes, decompressed if flagged, of exactly `expected` bytes. A
// compressed frame must declare exactly that content size before anything is allocated.
std::span<const std::uint8_t> body(const Opened& o, std::size_t meta, std::size_t expected, std::vector<std::uint8_t>& store,
                                   const char* what) {
    const auto rest = o.payload.subspan(meta);  // meta <= payload size: checked by the Reader
    if (!o.info.compressed) {
        if (rest.size() != expected)
            bad(std::string(what) + ": body is " + std::to_string(rest.size()) + " bytes, expected exactly " + std::to_string(expected) +
                " for its shape");
        return rest;
    }
    const std::size_t frame = ZSTD_findFrameCompressedSize(rest.data(), rest.size());
    if (ZSTD_isError(frame)) bad(std::string(what) + ": compressed body is not a valid zstd frame (" + ZSTD_getErrorName(frame) + ")");
    if (frame != rest.size())
        bad(std::string(what) + ": " + std::to_string(rest.size() - frame) + " bytes follow the zstd frame (expected exactly one frame)");
    const unsigned long long content = ZSTD_getFrameContentSize(rest.data(), rest.size());
    if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR)
        bad(std::string(what) + ": the zstd frame does not declare its decompressed size");
    if (content != expected)
        bad(std::string(what) + ": the zstd frame declares " + std::to_string(content) + " decompressed bytes, expected exactly " +
            std::to_string(expected));
    store.resize(expected);
    const std::size_t got = ZSTD_decompress(store.data(), store.size(), rest.data(), rest.size());
    if (ZSTD_isError(got)) bad(std::string(what) + ": zstd decompression failed (" + ZSTD_getErrorName(got) + ")");
    if (got != expected)
        bad(std::string(what) + ": zstd produced " + std::to_string(got) + " bytes, expected exactly " + std::to_string(expected));
    return store;
}

// Unpack `count` limbs (extended indices 0..count-1) of one polynomial.
void unpack_poly(const Context& ctx, const std::uint8_t*& in, u64* out, std::size_t count, const std::string& what,
                 const std::string& poly) {
    const std::size_t n = ctx.n();
    for (std::size_t i = 0; i < count; ++i) {
        const Modulus& q = ctx.modulus(i);
        const std::ptrdiff_t r = unpack_limb(in, n, q, out + i * n);
        const std::string lbl = limb_label(i, ctx.data_count());
        if (r == -2) bad(what + ": padding bits of limb " + std::to_string(i) + poly + " are not zero");
        if (r >= 0)
            bad(what + ": residue " + std::to_string(r) + " of limb " + std::to_string(i) + poly + " is not below " + lbl + " = " +
                std::to_string(q.value()));
        in += limb_bytes(n, q.bits());
    }
}

}  // namespace detail

using namespace detail;

const char* kind_name(ObjectKind kind) {
    switch (kind) {
        case ObjectKind::parameters: return "parameters";
        case ObjectKind::secret_key: return "secret key";
        case ObjectKind::public_key: return "public key";
        case ObjectKind::relin_key: return "relinearisation key";
        case ObjectKind::plaintext: return "plaintext";
        case ObjectKind::ciphertext: return "ciphertext";
        case ObjectKind::galois_keys: return "Galois keys";
    }
    return "unknown object";
}

ObjectInfo peek_header(std::span<const std::uint8_t> data) {
    if (!data.empty() && std::memcmp(data.data(), kMagic, std::min<std::size_t>(data.size(), 5)) != 0)
        bad("not a hecnn object: the data does not start with the magic \"HECNN\"");
    if (data.size() < kHeaderSize)
        bad("truncated: the header needs " + std::to_string(kHeaderSize) + " bytes, " + std::to_string(data.size()) + " present");
    ObjectInfo info;
    info.version = get_u16(data.data() + 5);
    if (info.version != kFormatVersion)
        bad("unsupported format version " + std::to_string(info.version) + " (this build reads " + std::to_string(kFormatVersion) + ")");
    const std::uint16_t kind = get_u16(data.data() + 7);
    if (kind < 1 || kind > 7) bad("unknown object kind " + std::to_string(kind) + " (expected 1 to 7)");
    info.kind = static_cast<ObjectKind>(kind);
    info.flags = get_u16(data.data() + 9);
    if (info.flags & ~kKnownFlags) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "unknown flag bits 0x%04x (this build knows 0x%04x)", info.flags & ~kKnownFlags, kKnownFlags);
        bad(buf);
    }
    info.seeded = info.flags & kFlagSeeded;
    info.compressed = info.flags & kFlagZstd;
    info.params_id = get_u64(data.data() + 11);
    info.payload_bytes = get_u64(data.data() + 19);
    info.total_bytes = info.payload_bytes > ~std::uint64_t{0} - kHeaderSize ? ~std::uint64_t{0} : info.payload_bytes + kHeaderSize;
    return info;
}

}  // namespace hecnn::ckks
