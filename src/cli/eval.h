// `hecnn eval` (plaintext reference runner on an ONNX model) and `hecnn describe`
// (architecture table with multiplicative depth and the BEAA paper's Table-3 counts).
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_eval(CLI::App& app);
void add_describe(CLI::App& app);

}  // namespace hecnn::cli
