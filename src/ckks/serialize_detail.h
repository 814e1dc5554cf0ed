// Internal to the serialisation sources: framing, checksum, zstd and bit-packed residues
// (serialize_format.cpp), shared by the object codecs (serialize.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "hecnn/ckks/serialize.h"

namespace hecnn::ckks::detail {

inline constexpr std::size_t kChecksumOffset = 27, kChecksumBytes = 16;
inline constexpr std::size_t kSeedBytes = 32;

[[noreturn]] void bad(const std::string& what);  // throws FormatError
std::string hex64(std::uint64_t v);
const char* with_article(ObjectKind k);  // "a ciphertext", "parameters", …

inline std::uint16_t get_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
inline std::uint32_t get_u32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 | static_cast<std::uint32_t>(p[2]) << 16 |
           static_cast<std::uint32_t>(p[3]) << 24;
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline void set_u64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Packed residues: ceil(N·bits/8) bytes per limb.
inline std::size_t limb_bytes(std::size_t n, int bits) { return (n * static_cast<std::size_t>(bits) + 7) / 8; }
std::size_t poly_bytes(const Context& ctx, std::size_t limbs);  // extended limbs [0, limbs)

// Output buffer: header (filled by finish), meta, then body.
class Builder {
public:
    Builder(ObjectKind kind, std::uint16_t flags, std::uint64_t id, std::size_t reserve);
    void put_u8(std::uint8_t v) { out_.push_back(v); }
    void put_u16(std::uint16_t v) { put_u8(static_cast<std::uint8_t>(v)), put_u8(static_cast<std::uint8_t>(v >> 8)); }
    void put_u32(std::uint32_t v) { put_u16(static_cast<std::uint16_t>(v)), put_u16(static_cast<std::uint16_t>(v >> 16)); }
    void put_u64(std::uint64_t v) { set_u64(grow(8), v); }
    void put_f64(double v) {
        std::uint64_t bits;
        std::memcpy(&bits, &v, 8);
        put_u64(bits);
    }
    void bytes(std::span<const std::uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void end_meta() { meta_end_ = out_.size(); }
    std::uint8_t* grow(std::size_t n);  // zero-filled
    // Packed limbs 0..count-1 of one polynomial (contiguous limbs); residues must be < q_i.
    void pack_poly(const Context& ctx, const u64* limbs, std::size_t count, const std::string& where);
    std::vector<std::uint8_t> finish(const SerializeOptions& opt);

private:
    ObjectKind kind_;
    std::uint16_t flags_;
    std::uint64_t id_;
    std::size_t meta_end_;
    std::vector<std::uint8_t> out_;
};

// Bounds-checked little-endian field reader over a payload.
class Reader {
public:
    Reader(std::span<const std::uint8_t> d, const char* what) : d_(d), what_(what) {}
    std::span<const std::uint8_t> take(std::size_t n) {
        if (d_.size() - pos_ < n)
            bad(std::string(what_) + ": payload of " + std::to_string(d_.size()) + " bytes is too short for its fields");
        auto s = d_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    std::uint8_t u8() { return take(1)[0]; }
    std::uint16_t u16() { return get_u16(take(2).data()); }
    std::uint32_t u32() { return get_u32(take(4).data()); }
    std::uint64_t u64() { return get_u64(take(8).data()); }
    double f64() {
        const std::uint64_t bits = u64();
        double v;
        std::memcpy(&v, &bits, 8);
        return v;
    }
    std::size_t pos() const { return pos_; }

private:
    std::span<const std::uint8_t> d_;
    std::size_t pos_ = 0;
    const char* what_;
};

struct Opened {
    ObjectInfo info;
    std::span<const std::uint8_t> payload;
};

// Checks header, kind, flags allowed for the kind, parameters id (ctx != null), exact
// length and checksum.
Opened open(std::span<const std::uint8_t> data, ObjectKind want, const Context* ctx);

// The body after `meta` payload bytes, decompressed into `store` if flagged, of exactly
// `expected` bytes; a zstd frame must declare exactly that size before allocation.
std::span<const std::uint8_t> body(const Opened& o, std::size_t meta, std::size_t expected, std::vector<std::uint8_t>& store,
                                   const char* what);

// Unpack limbs 0..count-1 of one polynomial, advancing `in`; validates residues < q_i
// and zero padding. `poly` labels the polynomial in messages.
void unpack_poly(const Context& ctx, const std::uint8_t*& in, u64* out, std::size_t count, const std::string& what,
                 const std::string& poly);

}  // namespace hecnn::ckks::detail
