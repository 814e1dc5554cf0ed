// Batch files: what the client uploads (kind "batch": one SEEDED ciphertext per input
// feature, slot b of ciphertext f = feature f of image b) and what the server returns
// (kind "result": one full ciphertext per model output).
//
// FORMAT (little-endian; docs/WORKFLOW.md has the full layout):
//   header, 43 bytes: the ckks object header (include/hecnn/ckks/serialize.h) with kind 257
//     (batch) or 258 (result), flags 0, the parameters' id, the exact payload length and
//     BLAKE2b-128 of header[0,27) ‖ payload
//   meta, 56 bytes: u64 keyset id | u64 samples | u64 count | u16 level | u16 0 | u32 0 |
//     u64 model id (first 8 bytes of the model digest; 0: unbound) | 16 bytes source (a
//     result: the checksum of the batch it was computed from; a batch: zero)
//   count records: u64 length | one ckks ciphertext object of exactly that length
//     (batch: seeded, at `level`; result: full, size 2, at `level`)
// Every length is exact for the parameters and the level, so the size of the whole file is
// known from the header and meta alone: a reader refuses a truncated, padded or oversized
// file before reading the ciphertexts, and verifies the checksum in one streaming pass
// (bounded memory) before handing out any ciphertext.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/serialize.h"

namespace hecnn::io {

inline constexpr std::size_t kBatchMetaBytes = 56;
inline constexpr std::size_t kMaxBatchCiphertexts = std::size_t{1} << 24;

using Checksum = std::array<std::uint8_t, 16>;

struct BatchInfo {
    bool is_result = false;
    std::uint64_t params_id = 0, keyset_id = 0;
    std::size_t samples = 0;  // images in the batch (slots used)
    std::size_t count = 0;    // ciphertexts
    int level = 0;            // of every ciphertext
    std::uint64_t model_id = 0;  // PlanFile::model_id() of the model it is for (0: any)
    Checksum source{};        // result: checksum of the batch it answers; batch: zero
    // Filled by readers and writers:
    Checksum checksum{};      // this file's header checksum
    std::size_t file_bytes = 0;
};

// Exact file sizes: a batch of `count` seeded ciphertexts at `level` (−1: the top level),
// a result of `count` full size-2 ciphertexts at `level`.
std::size_t batch_file_bytes(const ckks::Context& ctx, std::size_t count, int level = -1);
std::size_t result_file_bytes(const ckks::Context& ctx, std::size_t count, int level);

// Streams a batch or result to disk (ckks::AtomicFileWriter): ciphertexts are added in
// order, each serialised and hashed as it comes; commit() fills in the checksum and
// renames into place. Destroyed before commit: nothing at `path` changes.
class BatchWriter {
public:
    // info.count ciphertexts will follow; info.params_id is taken from ctx.
    BatchWriter(const std::filesystem::path& path, const ckks::Context& ctx, BatchInfo info);
    ~BatchWriter();
    void add(const ckks::SeededCiphertext& ct);  // batch
    void add(const ckks::Ciphertext& ct);        // result (size 2)
    // replace = false: refuse (atomically) if `path` exists.
    const BatchInfo& commit(bool replace = true);

private:
    void record(const std::vector<std::uint8_t>& object);
    struct State;
    std::unique_ptr<State> s_;
};

BatchInfo write_batch(const std::filesystem::path& path, const ckks::Context& ctx, BatchInfo info,
                      std::span<const ckks::SeededCiphertext> cts);
BatchInfo write_batch(const std::filesystem::path& path, const ckks::Context& ctx, BatchInfo info, std::span<const ckks::Ciphertext> cts);

enum class BatchKind { batch, result };

// Opens and validates (header, meta, exact size, every record length, checksum — one
// streaming pass) a batch or result under the given parameters; then ciphertext(i) reads
// and validates one (thread-safe). Files above max_bytes are refused before reading.
class BatchReader {
public:
    BatchReader(const std::filesystem::path& path, const ckks::ContextPtr& ctx, std::size_t max_bytes, BatchKind kind = BatchKind::batch);
    ~BatchReader();
    BatchReader(const BatchReader&) = delete;
    BatchReader& operator=(const BatchReader&) = delete;

    const BatchInfo& info() const { return info_; }
    ckks::Ciphertext ciphertext(std::size_t i) const;

private:
    std::filesystem::path path_;
    ckks::ContextPtr ctx_;
    BatchInfo info_;
    int fd_ = -1;
    std::size_t record_bytes_ = 0;  // one serialised ciphertext
};

// What a server runs on an upload before accepting it: a batch under ctx, made with the
// key set `keyset_id`, of exactly `expected_count` ciphertexts. Throws ckks::FormatError
// with one clear message per failure (wrong kind, parameters, key set or count,
// truncation, trailing bytes, checksum).
BatchInfo verify_batch_file(const std::filesystem::path& path, const ckks::Context& ctx, std::uint64_t keyset_id,
                            std::size_t expected_count, std::size_t max_bytes);

// The client-side sidecar BATCH.labels.json (never uploaded): which images a batch holds.
struct BatchLabels {
    Checksum batch{};                 // checksum of the batch file it describes
    std::vector<std::string> names;   // one per image
    std::vector<int> labels;          // one per image, or empty (unknown); −1: unknown image
    std::vector<std::string> classes; // the data set's class names, if any
};
void save_labels(const std::filesystem::path& path, const BatchLabels& l);
BatchLabels load_labels(const std::filesystem::path& path);  // validated, size-bounded
// The sidecar of `file`: file + ".labels.json".
std::filesystem::path labels_path(const std::filesystem::path& file);
// The sidecar of the batch a result answers (its checksum `batch`): the *.labels.json
// describing that batch, next to `result` or in the current directory (at most 10000
// entries of each are looked at; sidecars of other batches and unreadable ones are passed
// over). nullopt when there is none.
std::optional<std::pair<std::filesystem::path, BatchLabels>> find_labels(const std::filesystem::path& result, const Checksum& batch);

}  // namespace hecnn::io
