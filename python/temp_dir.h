// A private temporary directory (mode 0700) removed with its contents when the last object
// holding it goes: where the Python module keeps the files an object owns when the caller
// names no path (a key set made in memory, a batch, a result).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace hecnn::python {

class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

using TempDirPtr = std::shared_ptr<TempDir>;

}  // namespace hecnn::python
