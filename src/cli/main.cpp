// The hecnn command line: one executable, one subcommand per task.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "bench_ckks.h"
#include "roundtrip.h"

int main(int argc, char** argv) {
    CLI::App app{"hecnn: privacy-preserving CNN inference with homomorphic encryption (RNS-CKKS)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "hecnn 0.1.0");
    hecnn::cli::add_roundtrip(app);
    auto* bench = app.add_subcommand("bench", "Measure the engine's speed");
    bench->require_subcommand(1);
    hecnn::cli::add_bench_ckks(*bench);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
