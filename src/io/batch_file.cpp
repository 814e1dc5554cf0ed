// Batch and result files: streaming writer, validating reader (layout in batch_file.h).
#include "hecnn/io/batch_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <type_traits>
#include <utility>

#include "container.h"

namespace hecnn::io {
namespace {

using detail::bad;
using detail::FileKind;

constexpr std::size_t kChunk = std::size_t{1} << 20;

std::size_t limbs_bytes(const ckks::Context& ctx, int level) {
    std::size_t s = 0;
    for (int i = 0; i <= level; ++i) s += (ctx.n() * static_cast<std::size_t>(ctx.data_moduli()[i].bits()) + 7) / 8;
    return s;
}
// One serialised ciphertext (serialize.h "Sizes").
std::size_t seeded_ct_bytes(const ckks::Context& ctx, int level) { return ckks::kHeaderSize + 44 + limbs_bytes(ctx, level); }
std::size_t full_ct_bytes(const ckks::Context& ctx, int level) { return ckks::kHeaderSize + 12 + 2 * limbs_bytes(ctx, level); }

std::size_t record_bytes(const ckks::Context& ctx, bool result, int level) {
    return result ? full_ct_bytes(ctx, level) : seeded_ct_bytes(ctx, level);
}

FileKind file_kind(bool result) { return result ? FileKind::result : FileKind::batch; }

[[noreturn]] void sys_fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

// Exactly n bytes at offset (short only at end of file: "truncated").
void pread_exact(int fd, std::uint8_t* out, std::size_t n, std::uint64_t offset, const std::string& file) {
    for (std::size_t got = 0; got < n;) {
        const ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) sys_fail("cannot read " + file);
        if (r == 0) bad(file + ": truncated while reading (the file shrank?)");
        got += static_cast<std::size_t>(r);
    }
}

std::vector<std::uint8_t> meta_bytes(const BatchInfo& b) {
    detail::ByteWriter w;
    w.u64(b.keyset_id);
    w.u64(b.samples);
    w.u64(b.count);
    w.u16(static_cast<std::uint16_t>(b.level));
    w.u16(0);
    w.u32(0);
    w.u64(b.model_id);
    w.bytes(b.source);
    return std::move(w.out);
}

// Header + meta + exact size + every record length + checksum, in one pass. The fd is
// read with pread only, so BatchReader can share it between threads afterwards.
BatchInfo verify_fd(int fd, const std::string& file, const ckks::Context& ctx, std::size_t max_bytes, BatchKind kind) {
    const bool result = kind == BatchKind::result;
    struct stat st;
    if (::fstat(fd, &st) != 0) sys_fail("cannot stat " + file);
    if (!S_ISREG(st.st_mode)) bad(file + ": not a regular file");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::array<std::uint8_t, ckks::kHeaderSize + kBatchMetaBytes> head{};
    const auto head_n = static_cast<std::size_t>(std::min<std::uint64_t>(size, head.size()));
    pread_exact(fd, head.data(), head_n, 0, file);
    const auto h = detail::parse_header(std::span(head).first(head_n), file_kind(result), file);
    if (size > max_bytes)
        bad(file + ": " + std::to_string(size) + " bytes, above the limit of " + std::to_string(max_bytes) + " bytes for this upload");
    detail::check_payload_length(h, size - ckks::kHeaderSize, file);
    if (h.params_id != ctx.id())
        bad(file + ": made under parameters " + detail::hex64(h.params_id) + ", these keys' parameters are " + ctx.id_hex() +
            " (another plan or key set)");
    if (head_n < head.size()) bad(file + ": truncated — too short for its meta");

    BatchInfo b;
    b.is_result = result;
    b.params_id = h.params_id;
    b.checksum = h.checksum;
    b.file_bytes = static_cast<std::size_t>(size);
    detail::ByteReader r(std::span<const std::uint8_t>(head).subspan(ckks::kHeaderSize), file);
    b.keyset_id = r.u64();
    const std::uint64_t samples = r.u64(), count = r.u64();
    const unsigned level = r.u16(), pad16 = r.u16(), pad32 = r.u32();
    b.model_id = r.u64();
    const auto src = r.take(16);
    std::copy(src.begin(), src.end(), b.source.begin());
    if (samples < 1 || samples > ctx.slots())
        bad(file + ": " + std::to_string(samples) + " images declared, expected 1 to " + std::to_string(ctx.slots()) + " (the slots)");
    if (count < 1 || count > kMaxBatchCiphertexts)
        bad(file + ": " + std::to_string(count) + " ciphertexts declared, expected 1 to " + std::to_string(kMaxBatchCiphertexts));
    if (level > static_cast<unsigned>(ctx.max_level()))
        bad(file + ": level " + std::to_string(level) + " declared, these parameters have " + std::to_string(ctx.max_level()));
    if (pad16 || pad32) bad(file + ": reserved meta bytes are not zero");
    if (!result && b.source != Checksum{}) bad(file + ": a batch has no source checksum, but its meta holds one");
    b.samples = static_cast<std::size_t>(samples);
    b.count = static_cast<std::size_t>(count);
    b.level = static_cast<int>(level);
    const std::size_t rec = record_bytes(ctx, result, b.level);
    const std::uint64_t want = kBatchMetaBytes + count * (8 + rec);  // count ≤ 2^24, rec < 2^40: no overflow
    if (h.payload_bytes != want)
        bad(file + ": " + std::to_string(count) + " ciphertexts at level " + std::to_string(level) + " take " + std::to_string(want) +
            " payload bytes, the header declares " + std::to_string(h.payload_bytes));

    auto hash = detail::container_hasher(head);
    hash.update(std::span(head).subspan(ckks::kHeaderSize));
    std::vector<std::uint8_t> buf(std::min<std::size_t>(kChunk, rec + 8));
    std::uint64_t off = head.size();
    for (std::size_t i = 0; i < b.count; ++i) {
        pread_exact(fd, buf.data(), 8, off, file);
        if (const auto len = detail::get_u64(buf.data()); len != rec)
            bad(file + ": ciphertext " + std::to_string(i) + " declares " + std::to_string(len) + " bytes, expected exactly " +
                std::to_string(rec));
        hash.update(std::span(buf).first(8));
        off += 8;
        for (std::size_t left = rec; left > 0;) {
            const std::size_t n = std::min(left, buf.size());
            pread_exact(fd, buf.data(), n, off, file);
            hash.update(std::span(buf).first(n));
            off += n, left -= n;
        }
    }
    if (detail::to_checksum(hash.final()) != h.checksum) bad(file + ": checksum mismatch, the file is corrupted");
    return b;
}

class Fd {
public:
    explicit Fd(const std::filesystem::path& p) : fd_(::open(p.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_ < 0) sys_fail("cannot open " + p.string());
    }
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int release() { return std::exchange(fd_, -1); }
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

std::size_t batch_file_bytes(const ckks::Context& ctx, std::size_t count, int level) {
    return ckks::kHeaderSize + kBatchMetaBytes + count * (8 + seeded_ct_bytes(ctx, level < 0 ? ctx.max_level() : level));
}
std::size_t result_file_bytes(const ckks::Context& ctx, std::size_t count, int level) {
    return ckks::kHeaderSize + kBatchMetaBytes + count * (8 + full_ct_bytes(ctx, level));
}

// ---------------------------------------------------------------- writer

struct BatchWriter::State {
    State(const std::filesystem::path& p, const ckks::Context& c, BatchInfo i) : path(p), ctx(c), info(std::move(i)), file(p) {}
    std::filesystem::path path;
    const ckks::Context& ctx;
    BatchInfo info;
    ckks::AtomicFileWriter file;
    detail::Hasher hash{16};
    std::size_t added = 0, rec = 0;
};

BatchWriter::BatchWriter(const std::filesystem::path& path, const ckks::Context& ctx, BatchInfo info) {
    info.params_id = ctx.id();
    if (info.count < 1 || info.count > kMaxBatchCiphertexts) throw std::invalid_argument("BatchWriter: ciphertext count out of range");
    if (info.samples < 1 || info.samples > ctx.slots()) throw std::invalid_argument("BatchWriter: sample count out of range");
    if (info.level < 0 || info.level > ctx.max_level()) throw std::invalid_argument("BatchWriter: level out of range");
    if (!info.is_result) info.source = {};
    s_ = std::make_unique<State>(path, ctx, std::move(info));
    s_->rec = record_bytes(ctx, s_->info.is_result, s_->info.level);
    const std::uint64_t payload = kBatchMetaBytes + s_->info.count * (8 + s_->rec);
    const auto header = detail::make_header(file_kind(s_->info.is_result), s_->info.params_id, payload);
    s_->hash = detail::container_hasher(header);
    const auto meta = meta_bytes(s_->info);
    s_->file.write(header);
    s_->file.write(meta);
    s_->hash.update(meta);
}

BatchWriter::~BatchWriter() = default;

void BatchWriter::record(const std::vector<std::uint8_t>& object) {
    if (s_->added == s_->info.count) throw std::logic_error("BatchWriter: more ciphertexts than declared");
    if (object.size() != s_->rec) throw std::logic_error("BatchWriter: ciphertext of an unexpected serialised size");
    detail::ByteWriter len;
    len.u64(object.size());
    s_->file.write(len.out);
    s_->file.write(object);
    s_->hash.update(len.out);
    s_->hash.update(object);
    ++s_->added;
}

void BatchWriter::add(const ckks::SeededCiphertext& ct) {
    if (s_->info.is_result) throw std::invalid_argument("BatchWriter: a result holds full ciphertexts, not seeded ones");
    if (ct.ct.level() != s_->info.level) throw std::invalid_argument("BatchWriter: ciphertext at another level than the batch's");
    record(ckks::serialize(ct));
}

void BatchWriter::add(const ckks::Ciphertext& ct) {
    if (!s_->info.is_result) throw std::invalid_argument("BatchWriter: a batch holds seeded ciphertexts");
    if (ct.level() != s_->info.level || ct.size() != 2)
        throw std::invalid_argument("BatchWriter: a result ciphertext must be of size 2 at the result's level");
    record(ckks::serialize(ct));
}

const BatchInfo& BatchWriter::commit(bool replace) {
    if (s_->added != s_->info.count)
        throw std::logic_error("BatchWriter: " + std::to_string(s_->added) + " ciphertexts added, " + std::to_string(s_->info.count) + " declared");
    s_->info.checksum = detail::to_checksum(s_->hash.final());
    s_->file.write_at(detail::kChecksumOffset, s_->info.checksum);
    s_->info.file_bytes = static_cast<std::size_t>(s_->file.size());
    s_->file.commit(replace);
    return s_->info;
}

namespace {
template <class Ct>
BatchInfo write_all(const std::filesystem::path& path, const ckks::Context& ctx, BatchInfo info, std::span<const Ct> cts) {
    info.is_result = std::is_same_v<Ct, ckks::Ciphertext>;
    info.count = cts.size();
    BatchWriter w(path, ctx, std::move(info));
    for (const auto& c : cts) w.add(c);
    return w.commit();
}
}  // namespace

BatchInfo write_batch(const std::filesystem::path& path, const ckks::Context& ctx, BatchInfo info, std::span<const ckks::SeededCiphertext> cts) {
    return write_all(path, ctx, std::move(info), cts);
}
BatchInfo write_batch(const std::filesystem::path& path, const ckks::Context& ctx, BatchInfo info, std::span<const ckks::Ciphertext> cts) {
    return write_all(path, ctx, std::move(info), cts);
}

// ---------------------------------------------------------------- reader

BatchReader::BatchReader(const std::filesystem::path& path, const ckks::ContextPtr& ctx, std::size_t max_bytes, BatchKind kind)
    : path_(path), ctx_(ctx) {
    Fd fd(path);
    info_ = verify_fd(fd.get(), path.string(), *ctx, max_bytes, kind);
    record_bytes_ = record_bytes(*ctx, info_.is_result, info_.level);
    fd_ = fd.release();
}

BatchReader::~BatchReader() {
    if (fd_ >= 0) ::close(fd_);
}

ckks::Ciphertext BatchReader::ciphertext(std::size_t i) const {
    if (i >= info_.count) throw std::out_of_range("BatchReader: ciphertext " + std::to_string(i) + " of " + std::to_string(info_.count));
    std::vector<std::uint8_t> bytes(record_bytes_);
    const std::uint64_t off = ckks::kHeaderSize + kBatchMetaBytes + i * (8 + record_bytes_) + 8;
    const std::string what = path_.string() + ", ciphertext " + std::to_string(i);
    pread_exact(fd_, bytes.data(), bytes.size(), off, path_.string());
    try {
        // Each object carries its own checksum: a file changed since verification is caught here.
        if (ckks::peek_header(bytes).seeded == info_.is_result)
            bad(std::string("a ") + (info_.is_result ? "result holds full" : "batch holds seeded") + " ciphertexts");
        auto ct = ckks::load_ciphertext(ctx_, bytes);
        if (ct.level() != info_.level) bad("at level " + std::to_string(ct.level()) + ", the file declares " + std::to_string(info_.level));
        return ct;
    } catch (const ckks::FormatError& e) {
        throw ckks::FormatError(what + ": " + e.what());
    }
}

BatchInfo verify_batch_file(const std::filesystem::path& path, const ckks::Context& ctx, std::uint64_t keyset_id, std::size_t expected_count,
                            std::size_t max_bytes) {
    Fd fd(path);
    const auto b = verify_fd(fd.get(), path.string(), ctx, max_bytes, BatchKind::batch);
    if (b.keyset_id != keyset_id)
        bad(path.string() + ": encrypted for key set " + detail::hex64(b.keyset_id) + ", these evaluation keys are key set " +
            detail::hex64(keyset_id) + " — encrypt with the keys whose eval.keys were uploaded");
    if (b.count != expected_count)
        bad(path.string() + ": holds " + std::to_string(b.count) + " ciphertexts, the model takes " + std::to_string(expected_count) +
            " (one per input feature)");
    return b;
}

}  // namespace hecnn::io
