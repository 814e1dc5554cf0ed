// `hecnn bench ckks`: operation timings of the engine (see docs/BENCHMARKS.md).
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_bench_ckks(CLI::App& bench);

}  // namespace hecnn::cli
