// `hecnn encrypt --keys DIR --images … --out BATCH`: images → encrypted batch files (+ client-side labels sidecars).
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace hecnn::cli {

struct EncryptOptions {
    std::string keys, out;
    std::vector<std::string> images;
    std::size_t limit = 0, offset = 0;
    bool force = false, insecure = false;
};
// The command's work (also `hecnn client`'s first half); returns the batch files written.
std::vector<std::filesystem::path> run_encrypt(const EncryptOptions& o);

void add_encrypt(CLI::App& app);

}  // namespace hecnn::cli
