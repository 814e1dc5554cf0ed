#include "train_forward.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace hecnn::cli {

bool forward_train(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "train") != 0) return false;
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::runtime_error("cannot locate the hecnn executable: " + ec.message());
    const std::string trainer = (self.parent_path() / "hecnn-train").string();
    if (access(trainer.c_str(), X_OK) != 0)
        throw std::runtime_error("'" + trainer + "' not found: build it (cmake --build BUILD --target hecnn-train; needs libtorch-dev and HECNN_BUILD_TRAIN=ON)");
    // OpenBLAS reads its thread count when it is loaded: set it before the exec.
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    std::vector<char*> args{const_cast<char*>(trainer.c_str())};
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    execv(trainer.c_str(), args.data());
    throw std::runtime_error("cannot run '" + trainer + "': " + std::strerror(errno));
}

void add_train_help(CLI::App& app) {
    // Listed for --help; the real parsing happens in hecnn-train (see forward_train).
    app.add_subcommand("train", "Train an HE-friendly model (runs hecnn-train; `hecnn train --help` for its options)")
        ->allow_extras()
        ->prefix_command();
}

}  // namespace hecnn::cli
