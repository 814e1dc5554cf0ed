// `hecnn train …`: runs hecnn-train (the only executable linked to libtorch) from the
// same directory with the same arguments, so that `hecnn` itself starts fast.
#pragma once

#include <CLI/CLI.hpp>

namespace hecnn::cli {

// Handles `hecnn train …` before CLI11 parses anything (the arguments belong to
// hecnn-train). Returns false if argv is not a train command; otherwise execs and only
// returns on failure (by throwing).
bool forward_train(int argc, char** argv);
void add_train_help(CLI::App& app);

}  // namespace hecnn::cli
