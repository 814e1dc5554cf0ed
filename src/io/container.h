// Internal to src/io: the framing shared by hecnn's multi-object files (evaluation keys,
// batches, results) — the same 43-byte header as a ckks object (include/hecnn/ckks/
// serialize.h: magic, version, kind, flags, params id, payload length, BLAKE2b-128 of
// header[0,27) ‖ payload), with kinds from 256 up so that a container can never be taken
// for a single ckks object (kinds 1..6) or the other way round. docs/WORKFLOW.md has the
// byte layouts.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hecnn/ckks/serialize.h"

namespace hecnn::io::detail {

enum class FileKind : std::uint16_t { eval_keys = 256, batch = 257, result = 258 };

using Checksum = std::array<std::uint8_t, 16>;
inline constexpr std::size_t kChecksumOffset = 27;

[[noreturn]] void bad(const std::string& what);  // throws ckks::FormatError

// What the first bytes of a file are, for "expected X, got Y" messages: "a batch of
// encrypted images", "a secret key", "a JSON file", "not a hecnn file", …
std::string describe_found(std::span<const std::uint8_t> head);
const char* with_article(FileKind kind);

struct Header {
    FileKind kind{};
    std::uint64_t params_id = 0, payload_bytes = 0;
    Checksum checksum{};
};
// Checks magic, version, that the kind is `want` and that no flag is set; `file` names the
// source in messages. head must hold ckks::kHeaderSize bytes (shorter: "truncated").
Header parse_header(std::span<const std::uint8_t> head, FileKind want, const std::string& file);
// The payload bytes present after the header must be exactly the declared length.
void check_payload_length(const Header& h, std::uint64_t present, const std::string& file);
std::array<std::uint8_t, ckks::kHeaderSize> make_header(FileKind kind, std::uint64_t params_id, std::uint64_t payload_bytes);

// A whole container in memory: header (with its checksum) + payload.
std::vector<std::uint8_t> make_container(FileKind kind, std::uint64_t params_id, std::span<const std::uint8_t> payload);
// Header checks, exact payload length (truncation, trailing bytes) and checksum; returns
// the header and sets `payload`.
Header open_container(std::span<const std::uint8_t> bytes, FileKind want, const std::string& file,
                      std::span<const std::uint8_t>& payload);

// BLAKE2b (libsodium crypto_generichash, unkeyed), streaming.
class Hasher {
public:
    explicit Hasher(std::size_t out_bytes);
    void update(std::span<const std::uint8_t> bytes);
    std::vector<std::uint8_t> final();

private:
    alignas(64) std::uint8_t state_[512];
    std::size_t out_;
};
// The container checksum: header bytes [0, 27) then the payload, fed by the caller.
Hasher container_hasher(std::span<const std::uint8_t> header);
Checksum to_checksum(const std::vector<std::uint8_t>& h);

std::array<std::uint8_t, 32> blake2b_256(std::span<const std::uint8_t> bytes);
std::string to_hex(std::span<const std::uint8_t> bytes);
std::string hex64(std::uint64_t v);  // 16 lowercase hex digits
// Exactly 2·out.size() hex digits (either case) → bytes; false otherwise.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out);

inline std::uint64_t get_u64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline std::uint64_t le_u64(std::span<const std::uint8_t> b) { return get_u64(b.data()); }  // first 8 bytes

// Little-endian output buffer.
class ByteWriter {
public:
    void u16(std::uint16_t v) { out.push_back(static_cast<std::uint8_t>(v)), out.push_back(static_cast<std::uint8_t>(v >> 8)); }
    void u32(std::uint32_t v) { u16(static_cast<std::uint16_t>(v)), u16(static_cast<std::uint16_t>(v >> 16)); }
    void u64(std::uint64_t v) { u32(static_cast<std::uint32_t>(v)), u32(static_cast<std::uint32_t>(v >> 32)); }
    void bytes(std::span<const std::uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
    std::vector<std::uint8_t> out;
};

// Bounds-checked little-endian reader; `what` names the object in messages.
class ByteReader {
public:
    ByteReader(std::span<const std::uint8_t> d, std::string what) : d_(d), what_(std::move(what)) {}
    std::span<const std::uint8_t> take(std::uint64_t n) {
        if (d_.size() - pos_ < n)
            bad(what_ + ": truncated — " + std::to_string(n) + " more bytes needed at offset " + std::to_string(pos_) + ", " +
                std::to_string(d_.size() - pos_) + " present");
        auto s = d_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    std::uint16_t u16() { auto b = take(2); return static_cast<std::uint16_t>(b[0] | (b[1] << 8)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }
    std::uint64_t u64() { return get_u64(take(8).data()); }
    std::size_t left() const { return d_.size() - pos_; }

private:
    std::span<const std::uint8_t> d_;
    std::size_t pos_ = 0;
    std::string what_;
};

}  // namespace hecnn::io::detail
