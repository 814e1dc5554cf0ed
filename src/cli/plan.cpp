#include "plan.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "execution_options.h"
#include "format.h"
#include "preprocessing_options.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/memory.h"
#include "hecnn/he/network.h"
#include "hecnn/io/planner.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/io/plan_report.h"

namespace hecnn::cli {
namespace {

struct PlanOptions {
    std::string model, json, rates, out;
    std::vector<std::string> calib{"random"};
    std::size_t batch = 0, calib_samples = 256;
    he::MemoryBudget memory;
    int log_n = 0, threads = 1;
    double scale_bits = 40;
    bool no_lazy = false, insecure = false;
    he::PoolSteps pools = he::PoolSteps::Auto;
    nn::PreprocessingOverride preprocessing;
    std::vector<int> ranks;                 // --ranks: predict R ranks (he::predict_ranks)
    std::vector<std::string> nets;          // empty: he::Network's default
    std::string net_latency;                // empty: he::Network's default
};

// A usage error before the (long) planning when a --net or --net-latency value is garbage.
template <double (*parse)(std::string_view)>
CLI::Validator network_check(const char* name) {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            try {
                parse(text);
                return {};
            } catch (const std::invalid_argument& e) {
                return e.what();
            }
        },
        "", name);
}

void run_plan(const PlanOptions& o) {
    io::PlanRequest req;
    req.preprocessing = o.preprocessing;
    req.calib = o.calib;
    req.calib_samples = o.calib_samples;
    req.pipeline.compile.lazy_relin = !o.no_lazy;
    req.pipeline.pools = o.pools;
    req.pipeline.params.batch = o.batch;
    req.pipeline.params.log_n = o.log_n;
    req.pipeline.params.scale_bits = o.scale_bits;
    req.pipeline.params.insecure_test_only_allow_below_128_bits = o.insecure;
    if (o.insecure) req.pipeline.params.min_log_n = 1;
    req.server.threads = o.threads;
    req.server.memory = o.memory;  // resolved once, recorded in the plan file
    req.server.lazy_inputs = true;  // a server reads the uploaded batch as the schedule needs it (he::InputProvider)
    req.rates_file = o.rates;
    const auto made = io::make_plan(o.model, req);
    if (!o.out.empty()) {
        // The contract clients (keygen, encrypt) and `hecnn serve` work from.
        io::save_plan(o.out, made.file);
        std::printf("wrote       %s (plan file for hecnn keygen / hecnn serve)\n", o.out.c_str());
    }

    std::fputs(io::plan_report(made, req, o.model).c_str(), stdout);
    if (!o.ranks.empty()) {
        std::vector<he::Network> nets;
        for (const auto& n : o.nets) nets.push_back(he::Network::parse(n, o.net_latency));
        if (nets.empty()) nets.push_back(he::Network::parse({}, o.net_latency));
        std::fputs(io::ranks_report(made, req, o.ranks, nets).c_str(), stdout);
    }
    if (!o.json.empty()) {
        std::ofstream(o.json) << io::plan_json(made, o.model).dump(2) << "\n";
        std::printf("wrote %s\n", o.json.c_str());
    }
}

}  // namespace

void add_plan(CLI::App& app) {
    auto o = std::make_shared<PlanOptions>();
    auto* cmd = app.add_subcommand("plan", "Compile an ONNX model to an HE plan: folding, levels, parameters, predicted cost per layer");
    cmd->add_option("model", o->model, "ONNX model")->required()->check(CLI::ExistingFile);
    cmd->add_option("--batch", o->batch, "Images per batch (0: all slots of the smallest ring)");
    add_memory_option(cmd, o->memory, "The server's (the prediction assumes it; stored in the plan file)");
    cmd->add_option("--log-n", o->log_n, "Ring degree 2^n (0: automatic)");
    cmd->add_option("--scale-bits", o->scale_bits, "log2 of the scale Δ")->capture_default_str();
    cmd->add_option("--calib", o->calib,
                    "Calibration data, always its TRAINING part: fashion-mnist [DIR] | cifar10 DIR | folder DIR (its training split, as "
                    "`hecnn train`) | image FILES | random (uniform in [-3, 3], no data)")
        ->expected(1, -1)->capture_default_str();
    cmd->add_option("--calib-samples", o->calib_samples, "Calibration images (a stratified sample of the training part)")->capture_default_str();
    add_preprocessing_options(cmd, o->preprocessing, "stored in the plan: keygen, encrypt and client apply exactly these");
    cmd->add_option("--rates", o->rates, "Kernel rates for the prediction: a file of `hecnn bench rates --out` or `hecnn bench ckks --json` (default: this machine's, measured by `hecnn bench rates`, else built-in)");
    cmd->add_option("--threads", o->threads, "Threads the time prediction assumes")->capture_default_str();
    cmd->add_flag("--no-lazy-relin", o->no_lazy, "Never defer relinearisation");
    cmd->add_flag("--insecure-test-params", o->insecure,
                  "Allow parameters below 128-bit security (tests and scaled-down rehearsals only: keygen, encrypt, infer and decrypt "
                  "then need the same flag)");
    add_pools_option(cmd, o->pools);
    cmd->add_option("--ranks", o->ranks,
                    "Also predict the plan run by R MPI ranks (`mpirun -np R hecnn infer`), one per machine, each with --threads and "
                    "--memory: a list, e.g. 1,2,4,8,16,32,64 (time, speedup, per-rank peak memory, bytes exchanged; docs/MPI.md)")
        ->delimiter(',')->check(CLI::Range(1, 65536))->type_name("R,...");
    const he::Network net;  // the defaults
    cmd->add_option("--net", o->nets, "With --ranks: the network between the machines, each rank's link per direction, a list: 10Gbit, 100Gbit/s, 800Mbit, … (default: " + net.name() + ")")
        ->delimiter(',')->check(network_check<&he::Network::parse_bandwidth>("BANDWIDTH"))->type_name("BANDWIDTH,...");
    cmd->add_option("--net-latency", o->net_latency, "With --ranks: the time per message on top of its bytes: 20us, 2us, 1.5ms, 0 (default: " + net.latency_name() + ", MPI over TCP)")
        ->check(network_check<&he::Network::parse_latency>("LATENCY"))->type_name("LATENCY");
    cmd->add_option("--json", o->json, "Write the plan and prediction as JSON");
    cmd->add_option("--out", o->out, "Write the plan file PLAN.json for `hecnn keygen` and `hecnn serve` (calibrate on the data it will see: --calib)");
    cmd->callback([o] { run_plan(*o); });
}

}  // namespace hecnn::cli
