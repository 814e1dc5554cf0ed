// The hecnn command line: one executable, one subcommand per task.
#include <CLI/CLI.hpp>
#include <omp.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include <exception>
#include <iostream>

#include "bench_ckks.h"
#include "bench_rates.h"
#include "client.h"
#include "eval.h"
#include "decrypt.h"
#include "demo.h"
#include "encrypt.h"
#include "bench_infer.h"
#include "bench_latency.h"
#include "infer_files.h"
#include "keygen.h"
#include "plan.h"
#include "roundtrip.h"
#include "serve.h"
#include "train_forward.h"

int main(int argc, char** argv) {
    // On a shared machine, spinning OpenMP barriers with more threads than free cores are
    // an order of magnitude slower than one thread; dynamic teams follow the load average.
    if (!std::getenv("OMP_DYNAMIC")) omp_set_dynamic(1);
    // A peer that closes a socket must give an error on write, not kill the process.
    signal(SIGPIPE, SIG_IGN);
    // Report lines appear in order with the progress bars on stderr, also when piped.
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    CLI::App app{"hecnn: privacy-preserving CNN inference with homomorphic encryption (RNS-CKKS)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "hecnn 0.1.0");
    hecnn::cli::add_roundtrip(app);
    auto* bench = app.add_subcommand("bench", "Measure the engine's speed");
    bench->require_subcommand(1);
    hecnn::cli::add_bench_ckks(*bench);
    hecnn::cli::add_bench_rates(*bench);
    hecnn::cli::add_eval(app);
    hecnn::cli::add_describe(app);
    hecnn::cli::add_plan(app);
    hecnn::cli::add_bench_infer(*bench);
    hecnn::cli::add_bench_latency(*bench);
    hecnn::cli::add_keygen(app);
    hecnn::cli::add_encrypt(app);
    hecnn::cli::add_infer_files(app);
    hecnn::cli::add_decrypt(app);
    hecnn::cli::add_serve(app);
    hecnn::cli::add_client(app);
    hecnn::cli::add_demo(app);
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
