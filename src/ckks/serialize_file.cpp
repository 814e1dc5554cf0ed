// Atomic file writes (whole or streamed) and bounded file reads for serialised objects.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "hecnn/ckks/serialize.h"

namespace hecnn::ckks {
namespace {

[[noreturn]] void sys_fail(int err, const std::string& what) { throw std::system_error(err, std::generic_category(), what); }

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

AtomicFileWriter::AtomicFileWriter(const std::filesystem::path& path) : path_(path) {
    const std::filesystem::path name = path.filename();
    if (name.empty() || name == "." || name == "..") throw std::invalid_argument("write_file_atomic: not a file path: " + path.string());
    dir_ = path.parent_path();
    if (dir_.empty()) dir_ = ".";
    std::string tmp_name(1, '.');
    tmp_name.append(name.string()).append(".tmp.XXXXXX");
    tmp_ = (dir_ / tmp_name).string();
    fd_ = ::mkostemp(tmp_.data(), O_CLOEXEC);  // mode 0600
    if (fd_ < 0) sys_fail(errno, "write_file_atomic: cannot create a temporary file in " + dir_.string());
}

AtomicFileWriter::~AtomicFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());  // not committed: the target stays as it was
}

void AtomicFileWriter::write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    if (fd_ < 0) throw std::logic_error("AtomicFileWriter: already committed or failed");
    if (offset > size_ || bytes.size() > size_ - offset) throw std::logic_error("AtomicFileWriter::write_at: beyond the bytes written");
    for (std::size_t off = 0; off < bytes.size();) {
        const ssize_t n = ::pwrite(fd_, bytes.data() + off, std::min<std::size_t>(bytes.size() - off, std::size_t{1} << 30),
                                   static_cast<off_t>(offset + off));
        if (n > 0) off += static_cast<std::size_t>(n);
        else if (n < 0 && errno == EINTR) continue;
        else sys_fail(n < 0 ? errno : EIO, "write_file_atomic: write of " + tmp_ + " failed; " + path_.string() + " is unchanged");
    }
}

void AtomicFileWriter::write(std::span<const std::uint8_t> bytes) {
    if (fd_ < 0) throw std::logic_error("AtomicFileWriter: already committed or failed");
    size_ += bytes.size();  // write_at checks against the new end
    write_at(size_ - bytes.size(), bytes);
}

void AtomicFileWriter::commit(bool replace) {
    if (fd_ < 0) throw std::logic_error("AtomicFileWriter: already committed or failed");
    int err = 0;
    std::string step;
    if (::fsync(fd_) != 0) err = errno, step = "fsync";
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && !err) err = errno, step = "close";
    if (!err && replace && ::rename(tmp_.c_str(), path_.c_str()) != 0) err = errno, step = "rename to " + path_.string();
    // link() fails with EEXIST if the target exists: no window in which it could be replaced.
    if (!err && !replace && ::link(tmp_.c_str(), path_.c_str()) != 0) err = errno, step = "link to " + path_.string();
    if (err) sys_fail(err, "write_file_atomic: " + step + " of " + tmp_ + " failed; " + path_.string() + " is unchanged");
    if (!replace) ::unlink(tmp_.c_str());
    tmp_.clear();
    // Make the rename durable.
    Fd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.get() < 0 || ::fsync(dfd.get()) != 0)
        sys_fail(errno, "write_file_atomic: " + path_.string() + " was replaced, but syncing its directory failed");
}

void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
    AtomicFileWriter w(path);
    w.write(bytes);
    w.commit();
}

std::vector<std::uint8_t> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) sys_fail(errno, "read_file: cannot open " + path.string());
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) sys_fail(errno, "read_file: cannot stat " + path.string());
    if (S_ISDIR(st.st_mode)) sys_fail(EISDIR, "read_file: " + path.string());
    const bool regular = S_ISREG(st.st_mode);
    auto too_big = [&](const std::string& size) {
        throw FormatError("read_file: " + path.string() + " is " + size + " bytes, above the limit of " + std::to_string(max_bytes) + " bytes");
    };
    if (regular && static_cast<std::uintmax_t>(st.st_size) > max_bytes) too_big(std::to_string(st.st_size));
    // Read until end of file, never holding more than max_bytes + one chunk.
    std::vector<std::uint8_t> out;
    const std::size_t chunk = regular ? static_cast<std::size_t>(st.st_size) + 1 : std::size_t{1} << 16;
    out.reserve(std::min(chunk, max_bytes == SIZE_MAX ? max_bytes : max_bytes + 1));
    for (;;) {
        // old <= max_bytes here; room reaches one byte past the limit to detect excess.
        const std::size_t old = out.size(), step = std::max<std::size_t>(chunk, 4096), left = max_bytes - old;
        const std::size_t room = left >= step ? step : left + 1;
        out.resize(old + room);
        const ssize_t n = ::read(fd.get(), out.data() + old, room);
        if (n < 0) {
            out.resize(old);
            if (errno == EINTR) continue;
            sys_fail(errno, "read_file: cannot read " + path.string());
        }
        out.resize(old + static_cast<std::size_t>(n));
        if (n == 0) break;
        if (out.size() > max_bytes) too_big("more than " + std::to_string(max_bytes));
    }
    return out;
}

}  // namespace hecnn::ckks
