// Serialisation of parameters, keys, plaintexts and ciphertexts, and safe file I/O.
//
// Every byte a loader reads is treated as hostile: each field is range-checked, every
// length is exact, nothing is read out of bounds and nothing is allocated beyond the
// size the parameters imply for the declared shape. Any failure throws FormatError
// saying what is wrong and what was expected.
//
// FORMAT, version 1. All integers little-endian; f64 is IEEE-754 binary64 (LE bits).
//
//   Header, 43 bytes:
//     off  size  field
//       0     5  magic        "HECNN" (48 45 43 4E 4E)
//       5     2  version      u16 = 1
//       7     2  kind         u16: 1 parameters, 2 secret key, 3 public key,
//                             4 relinearisation key, 5 plaintext, 6 ciphertext,
//                             7 Galois keys
//       9     2  flags        u16: bit 0 seeded form (ciphertext, relinearisation key,
//                             Galois keys only), bit 1 body zstd-compressed (not for
//                             parameters or Galois keys); every other bit must be 0
//      11     8  params id    u64: Context::id() of the parameters the object belongs to
//                             (a parameters object: its own id)
//      19     8  payload len  u64: exact number of payload bytes that follow the header;
//                             nothing may follow the payload
//      27    16  checksum     BLAKE2b-128 (libsodium crypto_generichash, unkeyed) of
//                             header bytes [0, 27) followed by the payload as stored
//      43     …  payload      = meta (never compressed) ‖ body
//
//   The meta fixes the object's shape, so the loader knows the exact body size before it
//   touches the body. With the zstd flag the body is one zstd frame (nothing after it)
//   whose declared content size must equal that exact size; it is checked before any
//   buffer is allocated.
//
//   Packed residues: a polynomial limb modulo q_i is its N residues, each in exactly
//   b_i = bit_length(q_i) bits, as one little-endian bit stream (residue k occupies bits
//   [k·b_i, (k+1)·b_i), bit j of the stream is bit j%8 of byte j/8), zero-padded to a
//   whole byte: ceil(N·b_i/8) bytes. Every residue must be < q_i, padding bits 0.
//   "Packed poly over limbs 0..l" = the packed limbs i = 0..l one after the other.
//
//   1 parameters (flags 0). Meta, 14 + 8·(d + s) bytes, no body:
//       u8 log_n | u8 insecure_test_only (0 or 1) | u8 dnum | u8 digit_size (primes per
//       key-switching digit) | u8 d (data primes, 1..64) | u8 s (special primes, 1..64) |
//       f64 log_scale | u64 data primes q_0..q_{d-1} | u64 special primes p_0..p_{s-1}
//     = Context::literal(). Loading re-validates through Context::create (primality,
//     NTT-friendliness, 128-bit security unless the caller allows test parameters) and
//     requires the recomputed id and digit size to equal the stored ones.
//   2 secret key (flags: zstd). Meta empty. Body ceil(N/4) bytes: coefficient k in bits
//       [2k, 2k+2): 00 = 0, 01 = +1, 10 = −1; 11 is invalid; padding bits 0.
//   5 plaintext / 6 ciphertext (flags: zstd; ciphertext also seeded). Meta 12 bytes:
//       u16 level (≤ max_level) | u8 size (plaintext: 1; ciphertext: 2 or 3) |
//       u8 is_ntt (0 or 1) | f64 scale (finite, > 0)
//     seeded ciphertext: the meta continues with the 32-byte seed (44 bytes); size must
//       be 2 and is_ntt 0. Body: c_0 only; c_1 is expand_seeded_c1(seed).
//     Body otherwise: packed polys 0..size-1, each over limbs 0..level.
//   3 public key (flags: zstd). Meta empty. Body: b then a, each packed over all L+1+k
//       extended limbs (data primes, then special primes), NTT form.
//   4 relinearisation key (flags: zstd, seeded). Meta 2 + 32·D bytes:
//       u16 D (= dnum) | D seeds of 32 bytes (a_j = RelinKey::expand_uniform(seed_j)).
//     Body per digit j = 0..D-1: b_j packed over all L+1+k extended limbs (data primes,
//       then special primes), then — full form only — a_j likewise, which must equal
//       the expansion of seed_j. Seeded form: b_j only (half the bytes).
//   7 Galois keys (flags: seeded; never zstd: the residues are uniform and do not
//     compress, and a frame could declare a key set far larger than the input). Meta
//     4 + 4·E + 32·E·D bytes: u16 E (1 ≤ E < N) | u16 D (= dnum) | E elements u32, strictly
//       increasing, each odd with 1 < g < 2N | E·D seeds of 32 bytes (element-major).
//     Body per element e, per digit j: b_{e,j} packed over all L+1+k extended limbs, then —
//       full form only — a_{e,j} likewise, which must equal the expansion of its seed.
//     Size: 43 + 4 + 4E + 32ED + E·D·(1 or 2)·Σ_{i<L+1+k} ceil(N·b_i/8)
//       (serialized_bytes).
//
// Sizes: a full ciphertext at level l is 43 + 12 + size·Σ_{i≤l} ceil(N·b_i/8) bytes;
// seeded, 43 + 44 + Σ_{i≤l} ceil(N·b_i/8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/galois.h"
#include "hecnn/ckks/keys.h"

namespace hecnn::ckks {

// Malformed, truncated, corrupted, hostile or mismatched serialised data.
class FormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class ObjectKind : std::uint16_t {
    parameters = 1,
    secret_key = 2,
    public_key = 3,
    relin_key = 4,
    plaintext = 5,
    ciphertext = 6,
    galois_keys = 7,
};
const char* kind_name(ObjectKind kind);  // "ciphertext", "relinearisation key", …

inline constexpr std::uint16_t kFormatVersion = 1;
inline constexpr std::size_t kHeaderSize = 43;
inline constexpr std::uint16_t kFlagSeeded = 1u << 0;
inline constexpr std::uint16_t kFlagZstd = 1u << 1;

struct SerializeOptions {
    bool seeded = false;     // relinearisation key, Galois keys: b and the seeds only (a
                             // seeded ciphertext comes from the SeededCiphertext overload)
    bool compress = false;   // zstd on the body (ignored for parameters and Galois keys)
    int zstd_level = 3;
};

// What a header says (checked: magic, version, kind, flag bits; not the payload).
struct ObjectInfo {
    ObjectKind kind{};
    std::uint16_t version = 0;
    std::uint16_t flags = 0;
    bool seeded = false;
    bool compressed = false;
    std::uint64_t params_id = 0;
    std::uint64_t payload_bytes = 0;  // as declared
    std::uint64_t total_bytes = 0;    // header + declared payload (saturates at 2^64-1)
};
ObjectInfo peek_header(std::span<const std::uint8_t> data);

// Serialisation of objects that are not in range (residues ≥ q, non-ternary keys)
// throws std::invalid_argument.
std::vector<std::uint8_t> serialize(const Context& ctx, SerializeOptions opt = {});
std::vector<std::uint8_t> serialize(const SecretKey& sk, SerializeOptions opt = {});
std::vector<std::uint8_t> serialize(const PublicKey& pk, SerializeOptions opt = {});
std::vector<std::uint8_t> serialize(const RelinKey& rk, SerializeOptions opt = {});
std::vector<std::uint8_t> serialize(const GaloisKeys& gk, SerializeOptions opt = {});
// The exact size serialize(gk, {.seeded = seeded}) produces, without serialising.
std::size_t serialized_bytes(const GaloisKeys& gk, bool seeded);
std::vector<std::uint8_t> serialize(const Plaintext& pt, SerializeOptions opt = {});
std::vector<std::uint8_t> serialize(const Ciphertext& ct, SerializeOptions opt = {});
// Seeded form; c1 must still be the expansion of the seed (checked).
std::vector<std::uint8_t> serialize(const SeededCiphertext& sct, SerializeOptions opt = {});

// Parameters below 128-bit security (the literal's insecure flag) are refused unless
// allow_insecure_test_only is set.
ContextPtr load_parameters(std::span<const std::uint8_t> data, bool allow_insecure_test_only = false);
SecretKey load_secret_key(const ContextPtr& ctx, std::span<const std::uint8_t> data);
PublicKey load_public_key(const ContextPtr& ctx, std::span<const std::uint8_t> data);
RelinKey load_relin_key(const ContextPtr& ctx, std::span<const std::uint8_t> data);  // full or seeded
GaloisKeys load_galois_keys(const ContextPtr& ctx, std::span<const std::uint8_t> data);  // full or seeded
Plaintext load_plaintext(const ContextPtr& ctx, std::span<const std::uint8_t> data);
Ciphertext load_ciphertext(const ContextPtr& ctx, std::span<const std::uint8_t> data);  // full or seeded
SeededCiphertext load_seeded_ciphertext(const ContextPtr& ctx, std::span<const std::uint8_t> data);  // seeded only

// Write via a temporary file in the same directory (mode 0600), fsync, rename over
// `path`, fsync the directory: a crash or error never leaves a partial file at `path`
// and never leaves the temporary behind. Throws std::system_error.
void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);
// The streaming form of write_file_atomic, for files too large to hold in memory (batches
// of ciphertexts, uploads): bytes go to a temporary file in the target's directory (mode
// 0600); write_at patches bytes already written (a header whose checksum is known only at
// the end); commit() fsyncs and renames over `path` (or, with replace = false, refuses —
// atomically — if `path` exists: never overwrite a key). Destroyed uncommitted, the
// temporary is removed and `path` is untouched. Throws std::system_error.
class AtomicFileWriter {
public:
    explicit AtomicFileWriter(const std::filesystem::path& path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(std::span<const std::uint8_t> bytes);
    void write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes);  // within what was written
    std::uint64_t size() const { return size_; }
    void commit(bool replace = true);

private:
    std::filesystem::path path_, dir_;
    std::string tmp_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

// Whole file, refusing (FormatError, before allocating) anything above max_bytes.
// Open/read errors throw std::system_error.
std::vector<std::uint8_t> read_file(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace hecnn::ckks
