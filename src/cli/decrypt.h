// `hecnn decrypt --keys DIR --in RESULT --out predictions.csv|json`: encrypted result → predictions.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace hecnn::cli {

struct DecryptOptions {
    std::string keys, in, out, labels, reference;
    bool force = false, insecure = false;
};
// The command's work (also `hecnn client`'s last step).
void run_decrypt(const DecryptOptions& o);

void add_decrypt(CLI::App& app);

}  // namespace hecnn::cli
