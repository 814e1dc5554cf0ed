// `hecnn roundtrip`: a CKKS round trip at 128-bit security with timings.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_roundtrip(CLI::App& app);

}  // namespace hecnn::cli
