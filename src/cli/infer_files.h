// `hecnn infer --model MODEL.onnx --eval-keys FILE --in BATCH --out RESULT`: the server side,
// offline — one batch file in, one result file out, with the evaluation keys only.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace hecnn::cli {

void add_infer_files(CLI::App& app, const std::string& name = "infer");

}  // namespace hecnn::cli
