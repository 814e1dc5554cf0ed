// The hecnn command line: one executable, one subcommand per task.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <cstdlib>

#include <exception>
#include <iostream>

#include "bench_ckks.h"
#include "eval.h"
#include "infer.h"
#include "plan.h"
#include "roundtrip.h"
#include "train_forward.h"

int main(int argc, char** argv) {
    // On a shared machine, spinning OpenMP barriers with more threads than free cores are
    // an order of magnitude slower than one thread; dynamic teams follow the load average.
    if (!std::getenv("OMP_DYNAMIC")) omp_set_dynamic(1);
    CLI::App app{"hecnn: privacy-preserving CNN inference with homomorphic encryption (RNS-CKKS)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "hecnn 0.1.0");
    hecnn::cli::add_roundtrip(app);
    auto* bench = app.add_subcommand("bench", "Measure the engine's speed");
    bench->require_subcommand(1);
    hecnn::cli::add_bench_ckks(*bench);
    hecnn::cli::add_eval(app);
    hecnn::cli::add_describe(app);
    hecnn::cli::add_plan(app);
    hecnn::cli::add_infer(app);
    hecnn::cli::add_train_help(app);
    try {
        if (hecnn::cli::forward_train(argc, argv)) return 0;
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
