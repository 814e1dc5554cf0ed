// `hecnn demo`: the README's main job — the whole client/server workflow on Fashion-MNIST.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

void add_demo(CLI::App& app);

}  // namespace hecnn::cli
