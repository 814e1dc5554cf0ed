// `hecnn plan MODEL.onnx`: compile a model to an HE plan, choose parameters, simulate.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_plan(CLI::App& app);

}  // namespace hecnn::cli
