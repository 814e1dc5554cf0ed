#include "spill.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>

#include "hecnn/ckks/serialize.h"

namespace hecnn::he::detail {
namespace {

std::mutex dir_mutex;  // directory creation (the first writes may race)

}  // namespace

SpillStore::SpillStore(const Backend& backend, std::filesystem::path parent) : be_(backend), parent_(std::move(parent)) {
    if (parent_.empty()) parent_ = std::filesystem::temp_directory_path();
}

SpillStore::~SpillStore() {
    if (!made_) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);  // best effort: never throw from a destructor
}

void SpillStore::make_dir() {
    std::lock_guard lock(dir_mutex);
    if (made_) return;
    std::filesystem::create_directories(parent_);
    // A fresh directory per store: concurrent runs never share files.
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0;; ++attempt) {
        std::string name = "hecnn-spill-";  // (appends: GCC 12 warns falsely on "literal" + std::string)
        name.append(std::to_string(::getpid())).append("-").append(std::to_string(counter++));
        dir_ = parent_ / name;
        if (std::filesystem::create_directory(dir_)) break;
        if (attempt > 1000) throw std::runtime_error("cannot create a spill directory in " + parent_.string());
    }
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    made_ = true;
}

std::filesystem::path SpillStore::file(int wire) const {
    std::string name = "w";
    name.append(std::to_string(wire)).append(".ct");
    return dir_ / name;
}

std::size_t SpillStore::write(int wire, const ckks::Ciphertext& ct) {
    if (!made_) make_dir();
    const auto bytes = be_.serialize(ct);
    // A scratch file, read back by this process only: no fsync (unlike write_file_atomic).
    std::ofstream f(file(wire), std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) throw std::system_error(errno, std::generic_category(), "cannot write spill file " + file(wire).string());
    return bytes.size();
}

ckks::Ciphertext SpillStore::read(int wire) {
    const auto path = file(wire);
    // Bound: a size-3 ciphertext at the top level, 8 bytes per residue, plus headers.
    const auto& ctx = be_.context();
    const std::size_t max_bytes = 3 * (static_cast<std::size_t>(ctx->max_level()) + 1) * ctx->n() * 8 + 4096;
    auto ct = be_.deserialize(ckks::read_file(path, max_bytes));
    std::filesystem::remove(path);
    return ct;
}

}  // namespace hecnn::he::detail
