// Batch and result files (io::BatchReader, io::verify_batch_file; they read paths): mode
// byte ‖ file, written to a scratch directory, read under the fixed small parameters.
// Mode bits (fuzz_common.h): kModeReseal / kModeHeader on the container (kind 257 batch or,
// with kModeVariant, 258 result; the small parameters' id), kModeDeep = re-seal every
// record's ciphertext object first. Only FormatError may escape the readers; every
// ciphertext of an accepted file must load, at the declared level; a result file must
// re-write (io::write_batch) to the same bytes.
#include "fuzz_common.h"
#include "hecnn/io/batch_file.h"

using namespace hecnn;
using namespace hecnn::fuzz;

namespace {
constexpr std::uint16_t kBatchKind = 257, kResultKind = 258;
constexpr std::size_t kMaxBytes = std::size_t{1} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const auto& ctx = small_context();
    const bool result = data[0] & kModeVariant;
    auto in = container_input(data, size, result ? kResultKind : kBatchKind, ctx->id(), [](Bytes& b) {
        // Each record's ciphertext object, after the 56-byte meta.
        for_each_record(b, ckks::kHeaderSize + io::kBatchMetaBytes, SIZE_MAX, [](std::span<std::uint8_t> o) { reseal(o); });
    });
    if (!in) return 0;
    const auto path = scratch_dir() / "batch.bin";
    write_file(path, in->bytes);
    std::vector<ckks::Ciphertext> cts;
    io::BatchInfo info;
    try {
        io::BatchReader r(path, ctx, kMaxBytes, result ? io::BatchKind::result : io::BatchKind::batch);
        info = r.info();
        if (info.count > 4096 || info.file_bytes != in->bytes.size()) fail("BatchReader: count or size inconsistent with the file");
        for (std::size_t i = 0; i < info.count; ++i) {
            cts.push_back(r.ciphertext(i));
            if (cts.back().level() != info.level || cts.back().size() != 2) fail("BatchReader: a ciphertext disagrees with the meta");
        }
    } catch (const ckks::FormatError& e) {
        refused(e);
        return 0;
    }
    accepted(result ? "result" : "batch");
    if (!result) {
        // The server's check must agree with the reader on a file the reader accepts.
        const auto v = io::verify_batch_file(path, *ctx, info.keyset_id, info.count, kMaxBytes);
        if (v.checksum != info.checksum || v.count != info.count) fail("verify_batch_file disagrees with BatchReader");
        return 0;
    }
    const auto again = scratch_dir() / "again.bin";
    io::write_batch(again, *ctx, info, cts);
    std::ifstream f(again, std::ios::binary);
    const Bytes out((std::istreambuf_iterator<char>(f)), {});
    if (out != in->bytes) fail("an accepted result file re-writes to different bytes");
    return 0;
}
