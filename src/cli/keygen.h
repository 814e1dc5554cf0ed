// `hecnn keygen --plan PLAN.json --out DIR`: the client's key directory for a plan.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_keygen(CLI::App& app);

}  // namespace hecnn::cli
