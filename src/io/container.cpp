// Container framing, kind names and hashing for the io files (see container.h).
#include "container.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <new>

namespace hecnn::io::detail {
namespace {

constexpr std::uint8_t kMagic[5] = {'H', 'E', 'C', 'N', 'N'};
static_assert(sizeof(crypto_generichash_state) <= 512 && alignof(crypto_generichash_state) <= 64);

crypto_generichash_state* state(std::uint8_t* s) { return std::launder(reinterpret_cast<crypto_generichash_state*>(s)); }

void sodium_ready() {
    static const bool ok = sodium_init() >= 0;
    if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

void bad(const std::string& what) { throw ckks::FormatError(what); }

const char* with_article(FileKind kind) {
    switch (kind) {
        case FileKind::eval_keys: return "evaluation keys (parameters + relinearisation key)";
        case FileKind::batch: return "a batch of encrypted images";
        case FileKind::result: return "an encrypted result";
    }
    return "an unknown hecnn file";
}

std::string describe_found(std::span<const std::uint8_t> head) {
    if (head.empty()) return "an empty file";
    std::size_t i = 0;
    while (i < head.size() && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')) ++i;
    if (i < head.size() && head[i] == '{') return "a JSON file (a plan or a labels file?)";
    if (head.size() < 5 || std::memcmp(head.data(), kMagic, 5) != 0) return "not a hecnn file (it does not start with \"HECNN\")";
    if (head.size() < 9) return "a truncated hecnn file";
    const unsigned kind = head[7] | (head[8] << 8);
    if (kind >= 1 && kind <= 6) {
        static const char* const names[] = {"parameters", "a secret key", "a public key", "a relinearisation key", "a plaintext",
                                            "a ciphertext"};
        return names[kind - 1];
    }
    if (kind >= 256 && kind <= 258) return with_article(static_cast<FileKind>(kind));
    return "a hecnn object of unknown kind " + std::to_string(kind);
}

Header parse_header(std::span<const std::uint8_t> head, FileKind want, const std::string& file) {
    const std::string expected = file + ": expected " + with_article(want) + ", got ";
    const bool magic_ok = !head.empty() && std::memcmp(head.data(), kMagic, std::min<std::size_t>(head.size(), 5)) == 0;
    if (!magic_ok) bad(expected + describe_found(head));
    if (head.size() >= 9) {
        const unsigned kind = head[7] | (head[8] << 8);
        if (kind == static_cast<unsigned>(ckks::ObjectKind::secret_key))
            bad(expected + "a SECRET KEY — it must never leave the client (give the evaluation keys, eval.keys)");
        if (kind != static_cast<unsigned>(want)) bad(expected + describe_found(head));
    }
    if (head.size() < ckks::kHeaderSize)
        bad(file + ": truncated — the header needs " + std::to_string(ckks::kHeaderSize) + " bytes, " + std::to_string(head.size()) + " present");
    const unsigned version = head[5] | (head[6] << 8);
    if (version != ckks::kFormatVersion)
        bad(file + ": unsupported format version " + std::to_string(version) + " (this build reads " + std::to_string(ckks::kFormatVersion) + ")");
    const unsigned flags = head[9] | (head[10] << 8);
    if (flags != 0) bad(file + ": unknown flag bits " + std::to_string(flags) + " (a container has none)");
    Header h;
    h.kind = want;
    h.params_id = get_u64(head.data() + 11);
    h.payload_bytes = get_u64(head.data() + 19);
    std::memcpy(h.checksum.data(), head.data() + kChecksumOffset, h.checksum.size());
    return h;
}

void check_payload_length(const Header& h, std::uint64_t present, const std::string& file) {
    if (h.payload_bytes > present)
        bad(file + ": truncated — the header declares " + std::to_string(h.payload_bytes) + " payload bytes, " + std::to_string(present) +
            " present");
    if (h.payload_bytes < present) bad(file + ": " + std::to_string(present - h.payload_bytes) + " trailing bytes after the declared payload");
}

std::array<std::uint8_t, ckks::kHeaderSize> make_header(FileKind kind, std::uint64_t params_id, std::uint64_t payload_bytes) {
    ByteWriter w;
    w.bytes(kMagic);
    w.u16(ckks::kFormatVersion);
    w.u16(static_cast<std::uint16_t>(kind));
    w.u16(0);
    w.u64(params_id);
    w.u64(payload_bytes);
    std::array<std::uint8_t, ckks::kHeaderSize> h{};  // checksum bytes zero until known
    std::memcpy(h.data(), w.out.data(), w.out.size());
    return h;
}

std::vector<std::uint8_t> make_container(FileKind kind, std::uint64_t params_id, std::span<const std::uint8_t> payload) {
    const auto header = make_header(kind, params_id, payload.size());
    auto hash = container_hasher(header);
    hash.update(payload);
    const auto sum = hash.final();
    std::vector<std::uint8_t> out(header.begin(), header.end());
    std::copy(sum.begin(), sum.end(), out.begin() + kChecksumOffset);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

Header open_container(std::span<const std::uint8_t> bytes, FileKind want, const std::string& file, std::span<const std::uint8_t>& payload) {
    const auto h = parse_header(bytes.first(std::min(bytes.size(), ckks::kHeaderSize)), want, file);
    check_payload_length(h, bytes.size() - ckks::kHeaderSize, file);
    payload = bytes.subspan(ckks::kHeaderSize);
    auto hash = container_hasher(bytes);
    hash.update(payload);
    if (to_checksum(hash.final()) != h.checksum) bad(file + ": checksum mismatch, the data is corrupted");
    return h;
}

Hasher::Hasher(std::size_t out_bytes) : out_(out_bytes) {
    sodium_ready();
    crypto_generichash_init(state(state_), nullptr, 0, out_);
}
void Hasher::update(std::span<const std::uint8_t> b) { crypto_generichash_update(state(state_), b.data(), b.size()); }
std::vector<std::uint8_t> Hasher::final() {
    std::vector<std::uint8_t> out(out_);
    crypto_generichash_final(state(state_), out.data(), out_);
    return out;
}

Hasher container_hasher(std::span<const std::uint8_t> header) {
    Hasher h(sizeof(Checksum));
    h.update(header.first(kChecksumOffset));
    return h;
}

Checksum to_checksum(const std::vector<std::uint8_t>& h) {
    Checksum c{};
    std::memcpy(c.data(), h.data(), c.size());
    return c;
}

std::array<std::uint8_t, 32> blake2b_256(std::span<const std::uint8_t> bytes) {
    Hasher h(32);
    h.update(bytes);
    const auto v = h.final();
    std::array<std::uint8_t, 32> out{};
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    s.reserve(2 * bytes.size());
    for (auto b : bytes) s.push_back(digits[b >> 4]), s.push_back(digits[b & 15]);
    return s;
}

std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> out) {
    if (hex.size() != 2 * out.size()) return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return true;
}

}  // namespace hecnn::io::detail
