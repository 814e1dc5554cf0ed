// `hecnn client`: the client end of `hecnn serve` — encrypt → upload → wait → download →
// decrypt in one command.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_client(CLI::App& app);

}  // namespace hecnn::cli
