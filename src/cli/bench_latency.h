// `hecnn bench latency MODEL.onnx`: the latency mode (channel-wise packing, one image at a
// time, rotations), end to end in one process, checked against the plaintext reference.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_bench_latency(CLI::App& bench);

}  // namespace hecnn::cli
