// `hecnn encrypt --keys DIR --images … --out BATCH`: images → encrypted batch files (+ client-side labels sidecars).
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace hecnn::cli {

// File k of n written for OUT: OUT itself when n is 1, else OUT's stem + "-k+1" + its
// extension (batch.hecnn → batch-1.hecnn, batch-2.hecnn). Batches, results and predictions
// of one run are numbered alike.
std::filesystem::path numbered_path(const std::filesystem::path& out, std::size_t k, std::size_t n);

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
