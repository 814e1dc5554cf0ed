// `hecnn bench infer MODEL.onnx`: encrypted batch inference end to end in one process,
// measured (client keygen + seeded encryption, server run with the relinearisation key
// only, client decryption), checked against the plaintext reference runner; optional
// batch-size sweep with an SVG plot.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_bench_infer(CLI::App& bench);

}  // namespace hecnn::cli
