// Shared by the libFuzzer targets of fuzz/ and the corpus generator: the fixed small
// insecure parameters the typed readers are fuzzed against, the input framing of the
// engine-object targets (a mode byte, then the object, optionally re-sealed with a valid
// checksum), the round-trip oracle, and a scratch directory for the path-based readers.
//
// A target fails (abort → libFuzzer keeps the input) on a crash, a sanitizer report, an
// exception other than the reader's documented error type, or a broken invariant.
#pragma once

#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/ckks/serialize.h"

namespace hecnn::fuzz {

using Bytes = std::vector<std::uint8_t>;

// A broken invariant: report it and abort, so libFuzzer records the input as a crash.
[[noreturn]] inline void fail(const std::string& what) {
    std::fprintf(stderr, "\nhecnn fuzz: INVARIANT BROKEN: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

// HECNN_FUZZ_VERBOSE=1 prints why each input was refused (to check seeds and finds).
inline void refused(const std::exception& e) {
    static const bool verbose = std::getenv("HECNN_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
}
inline void accepted(const char* what) {
    static const bool verbose = std::getenv("HECNN_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "accepted: %s\n", what);
}

// ---- engine objects ---------------------------------------------------------------------

// N = 16, data primes of 60/40/40 bits, one 60-bit special prime, 3 key-switching digits:
// every code path of the codecs (several limbs, several digits, padding-free and padded
// widths) at a few hundred bytes per object. Deterministic, so the corpus stays valid.
inline ckks::ParametersLiteral small_literal() {
    ckks::ParametersLiteral lit;
    lit.log_n = 4;
    lit.data_prime_bits = {60, 40, 40};
    lit.special_prime_bits = {60};
    lit.dnum = 3;
    lit.log_scale = 30;
    lit.insecure_test_only_allow_below_128_bits = true;
    return lit;
}
inline const ckks::ContextPtr& small_context() {
    static const ckks::ContextPtr ctx = ckks::Context::create(small_literal());
    return ctx;
}

// Recompute the payload length and the BLAKE2b-128 checksum over header[0,27) ‖ payload
// of the object filling `b` (an independent restatement of the format in
// hecnn/ckks/serialize.h; hecnn's containers — eval keys, batches — share the header).
inline void reseal(std::span<std::uint8_t> b) {
    if (b.size() < ckks::kHeaderSize) return;
    const std::uint64_t payload = b.size() - ckks::kHeaderSize;
    for (int i = 0; i < 8; ++i) b[19 + i] = static_cast<std::uint8_t>(payload >> (8 * i));
    if (sodium_init() < 0) fail("libsodium failed to initialise");
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, 16);
    crypto_generichash_update(&st, b.data(), 27);
    crypto_generichash_update(&st, b.data() + ckks::kHeaderSize, payload);
    crypto_generichash_final(&st, b.data() + 27, 16);
}

inline std::uint64_t get_le(const std::uint8_t* p, int n) {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline void put_le(std::uint8_t* p, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Mode byte of the engine-object targets (the first input byte):
inline constexpr std::uint8_t kModeReseal = 1;  // fix payload length and checksum
inline constexpr std::uint8_t kModeHeader = 2;  // also force magic, version, kind, params id
inline constexpr std::uint8_t kModeVariant = 4; // target-specific switch (see each target)
inline constexpr std::uint8_t kModeDeep = 8;    // containers: re-seal the nested objects too

struct ObjectInput {
    Bytes bytes;  // what the loader is given
    bool variant = false;
};

// Decodes mode byte ‖ object of header kind `kind` (a ckks::ObjectKind, or a container
// kind from 256 up). `params_id` = 0 leaves the header's id alone.
inline std::optional<ObjectInput> object_input(const std::uint8_t* data, std::size_t size, std::uint16_t kind,
                                               std::uint64_t params_id) {
    if (size < 1) return std::nullopt;
    const std::uint8_t mode = data[0];
    ObjectInput in{Bytes(data + 1, data + size), (mode & kModeVariant) != 0};
    Bytes& b = in.bytes;
    if ((mode & kModeHeader) && b.size() >= ckks::kHeaderSize) {
        std::memcpy(b.data(), "HECNN", 5);
        put_le(b.data() + 5, ckks::kFormatVersion, 2);
        put_le(b.data() + 7, static_cast<std::uint16_t>(kind), 2);
        if (params_id) put_le(b.data() + 11, params_id, 8);
    }
    if (mode & (kModeReseal | kModeHeader)) reseal(b);
    return in;
}

inline std::optional<ObjectInput> object_input(const std::uint8_t* data, std::size_t size, ckks::ObjectKind kind,
                                               std::uint64_t params_id) {
    return object_input(data, size, static_cast<std::uint16_t>(kind), params_id);
}

// object_input for hecnn's containers (eval keys, batches): with kModeDeep, deep(bytes)
// re-seals the nested objects before the container's own checksum is recomputed.
template <class Deep>
std::optional<ObjectInput> container_input(const std::uint8_t* data, std::size_t size, std::uint16_t kind, std::uint64_t params_id,
                                           Deep&& deep) {
    auto in = object_input(data, size, kind, params_id);
    if (in && (data[0] & kModeDeep)) {
        deep(in->bytes);
        if (data[0] & (kModeReseal | kModeHeader)) reseal(in->bytes);
    }
    return in;
}

inline Bytes framed(std::uint8_t mode, const Bytes& object) {
    Bytes out{mode};
    out.insert(out.end(), object.begin(), object.end());
    return out;
}

inline bool compressed(const Bytes& b) { return b.size() >= ckks::kHeaderSize && (b[9] & ckks::kFlagZstd); }
inline bool seeded(const Bytes& b) { return b.size() >= ckks::kHeaderSize && (b[9] & ckks::kFlagSeeded); }

// The round-trip oracle of a typed reader. load(bytes) may only throw FormatError. What
// it accepts must serialise again (save(object, seeded form?)) without error; the result
// must equal the input byte for byte when the input was stored uncompressed in a form
// the loader keeps (`keeps_seeded`: the loaded object remembers the seeded form), and
// must itself load back to the same bytes in every case.
template <class Load, class Save>
void check_roundtrip(const Bytes& in, Load&& load, Save&& save, bool keeps_seeded = true) {
    using Object = decltype(load(in));
    std::optional<Object> obj;
    try {
        obj.emplace(load(in));
    } catch (const ckks::FormatError& e) {
        return refused(e);
    }
    accepted("object");
    const bool seeded_form = seeded(in) && keeps_seeded;
    const Bytes out = save(*obj, seeded_form);
    if (!compressed(in) && (keeps_seeded || !seeded(in)) && out != in)
        fail("an accepted object serialises to different bytes (" + std::to_string(in.size()) + " in, " + std::to_string(out.size()) + " out)");
    const Bytes again = save(load(out), seeded_form);
    if (again != out) fail("a re-serialised object does not load back to the same bytes");
}

// The whole of an engine-object target: mode byte ‖ object of `kind`, loaded against the
// small parameters by load(ctx, bytes) and checked by the round-trip oracle.
template <class Load, class Save>
int fuzz_engine_object(const std::uint8_t* data, std::size_t size, ckks::ObjectKind kind, Load&& load, Save&& save,
                       bool keeps_seeded = true) {
    const ckks::ContextPtr& ctx = small_context();
    auto in = object_input(data, size, kind, ctx->id());
    if (in) check_roundtrip(in->bytes, [&](const Bytes& b) { return load(ctx, b); }, save, keeps_seeded);
    return 0;
}

// Calls f(object span) for each record `u64 length ‖ object` from `offset` on, at most
// `max_records`, while the declared lengths fit (hecnn's containers: eval keys, batches).
template <class F>
std::size_t for_each_record(Bytes& b, std::size_t offset, std::size_t max_records, F&& f) {
    std::size_t n = 0;
    for (; n < max_records && b.size() >= offset + 8; ++n) {
        const std::uint64_t len = get_le(b.data() + offset, 8);
        offset += 8;
        if (len > b.size() - offset) break;
        f(std::span(b).subspan(offset, static_cast<std::size_t>(len)));
        offset += static_cast<std::size_t>(len);
    }
    return n;
}

// ---- path-based readers --------------------------------------------------------------------

// A private directory under $TMPDIR (or /tmp), removed at exit.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        std::string tmpl = (std::filesystem::temp_directory_path() / "hecnn-fuzz-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) fail("mkdtemp failed");
        static std::filesystem::path keep = tmpl;
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(keep, ec);
        });
        return keep;
    }();
    return dir;
}

inline void write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
    std::error_code ec;
    std::filesystem::remove(path, ec);  // a new file: ext4 flushes a truncated one at close
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!f) fail("cannot write " + path.string());
}

// Input of the two-file data-set targets: u8 limit ‖ u16 n (little-endian) ‖ first file (n
// bytes, fewer if the input ends) ‖ second file (the rest).
struct TwoFiles {
    std::size_t limit = 0;
    std::span<const std::uint8_t> first, second;
};
inline std::optional<TwoFiles> two_files(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return std::nullopt;
    TwoFiles t;
    t.limit = data[0];
    const std::size_t n = std::min<std::size_t>(data[1] | (data[2] << 8), size - 3);
    t.first = {data + 3, n};
    t.second = {data + 3 + n, size - 3 - n};
    return t;
}

}  // namespace hecnn::fuzz
