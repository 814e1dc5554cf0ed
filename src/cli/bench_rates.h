// `hecnn bench rates`: this machine's kernel rates for the simulator (he::Rates).
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_bench_rates(CLI::App& bench);

}  // namespace hecnn::cli
