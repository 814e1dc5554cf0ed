// `hecnn serve`: the inference service over HTTP (server side; never sees a secret key).
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_serve(CLI::App& app);

}  // namespace hecnn::cli
