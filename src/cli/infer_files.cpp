#include "infer_files.h"

#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "execution_options.h"
#include "format.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/process.h"
#include "hecnn/io/infer_job.h"
#include "hecnn/io/onnx.h"
#include "hecnn/mpi/world.h"
#include "progress.h"

namespace hecnn::cli {
namespace {

struct InferFilesOptions {
    std::string model, eval_keys, in, out;
    int threads = 0;
    he::MemoryBudget memory;
    std::filesystem::path spill_dir;
    bool force = false, insecure = false, no_lazy = false, steps = false;
};

// Under mpirun (world: several ranks, docs/MPI.md) every rank runs this with the same
// arguments: rank 0 reads the model and the evaluation keys and broadcasts them (the
// others parse the same bytes), every rank reads the batch's inputs from the shared file,
// each computes its share of the plan, and rank 0 alone prints and writes the result.
void run_infer_files(const InferFilesOptions& o, mpi::World* world) {
    const bool lead = !world || world->rank() == 0;
    he::ExecutionOptions start;  // as bench infer and serve: freed ciphertexts' pages reused (process.h)
    start.threads = o.threads;
    // Ranks sharing a machine share its cores: OpenMP's default divided among them.
    if (world && o.threads == 0) start.threads = std::max(1, omp_get_max_threads() / world->ranks_per_machine());
    he::start_inference_process(start);  // the budget is resolved by the job (io::infer_batch_file)
    auto read_shared = [&](const std::string& path, std::size_t max_bytes) {
        if (!world) return ckks::read_file(path, max_bytes);
        return world->broadcast(lead ? ckks::read_file(path, max_bytes) : std::vector<std::uint8_t>{});
    };
    const auto onnx = read_shared(o.model, io::kMaxOnnxBytes);
    const auto keys = world ? io::load_eval_keys(read_shared(o.eval_keys, std::size_t{1} << 32), o.insecure)
                            : io::load_eval_keys_file(o.eval_keys, o.insecure);
    he::CompileOptions copt;
    copt.lazy_relin = !o.no_lazy;
    copt.level_budget = keys.ctx->max_level();  // the levels the client's plan spent (pools on their own step)
    const auto served = io::served_model({reinterpret_cast<const char*>(onnx.data()), onnx.size()}, copt);
    const auto& plan = served.plan;
    const std::string& digest = served.digest;
    if (!lead) {
        io::JobOptions jo;
        jo.model_id = served.model_id;
        jo.exec.memory = world->common_budget(o.memory);
        jo.exec.spill_dir = o.spill_dir;
        jo.ranks = world;
        const auto r = io::infer_batch_file(plan, keys, o.in, o.out, jo);
        world->gather(r.sent_bytes);
        return;
    }
    std::printf("model       %s: %d input ciphertexts, %zu steps, depth %d (digest %.16s…)\n", o.model.c_str(), plan.input_count,
                plan.steps.size(), plan.depth, digest.c_str());
    std::printf("keys        %s: key set %016llx, %s — evaluation keys only, no secret key\n", o.eval_keys.c_str(),
                static_cast<unsigned long long>(keys.keyset_id), keys.ctx->describe().c_str());
    if (!o.force && std::filesystem::exists(o.out)) throw std::runtime_error(o.out + " exists: choose another --out, or --force to replace it");
    if (world)
        std::printf("ranks       %d MPI ranks (%d on the fullest machine), %d thread(s) each; model and keys broadcast by rank 0 (%s)\n",
                    world->size(), world->ranks_per_machine(), omp_get_max_threads(), human_bytes(static_cast<double>(world->broadcast_bytes())).c_str());
    std::fflush(stdout);

    std::optional<ProgressBar> bar;  // over units (io::JobProgress): known once the run starts
    io::JobOptions jo;
    jo.model_id = served.model_id;  // a batch encrypted for another model is refused
    jo.replace_result = o.force;
    jo.exec.memory = world ? world->common_budget(o.memory) : o.memory;
    jo.exec.spill_dir = o.spill_dir;
    jo.ranks = world;
    jo.progress = [&](const io::JobProgress& p) {
        if (!p.units_total) return;
        if (!bar) bar.emplace("server", p.units_total, "units");
        bar->update(p.units, "step " + std::to_string(p.step) + "/" + std::to_string(p.steps), p.remaining);
    };
    const auto r = io::infer_batch_file(plan, keys, o.in, o.out, jo);
    const double per = r.samples ? r.seconds / static_cast<double>(r.samples) : 0;
    std::printf("batch       %s: %zu images, %s, verified in %s\n", o.in.c_str(), r.samples, human_bytes(static_cast<double>(r.batch.file_bytes)).c_str(),
                human_ms(r.load_seconds * 1e3).c_str());
    std::printf("inference   %s = %s per image, %d thread(s), memory budget %s\n", human_ms(r.seconds * 1e3).c_str(), human_ms(per * 1e3).c_str(),
                omp_get_max_threads(), r.memory_budget.describe().c_str());
    std::printf("predicted   %s (%s of it first touch of memory; measured/predicted %.2f); rates: %s\n", human_ms(r.predicted_seconds * 1e3).c_str(),
                human_ms(r.predicted_first_touch_seconds * 1e3).c_str(), r.predicted_seconds > 0 ? r.seconds / r.predicted_seconds : 0.0,
                r.rates_source.c_str());
    std::printf("wrote       %s: %zu output ciphertexts, %s (only the key owner can decrypt it)\n", o.out.c_str(), r.result.count,
                human_bytes(static_cast<double>(r.result_bytes)).c_str());
    if (o.steps) std::printf("%s", io::step_report(r).c_str());
    if (world) {  // exact byte counts: tests compare them with the prediction
        const auto sent = world->gather(r.sent_bytes);
        std::printf("exchange   ");
        for (std::size_t k = 0; k < sent.size(); ++k)
            std::printf(" rank %zu sent %llu bytes (predicted %llu)%s", k, static_cast<unsigned long long>(sent[k]),
                        static_cast<unsigned long long>(k < r.predicted_sent.size() ? r.predicted_sent[k] : 0), k + 1 < sent.size() ? "," : "\n");
    }
}

// A failed rank ends the whole job (the others would wait for it forever), saying which.
void run_infer_files(const InferFilesOptions& o) {
    if (!mpi::launched()) return run_infer_files(o, nullptr);
    mpi::World world;
    if (world.size() == 1) return run_infer_files(o, nullptr);
    try {
        run_infer_files(o, &world);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hecnn infer: rank %d of %d failed: %s\n", world.rank(), world.size(), e.what());
        std::fflush(stderr);
        world.abort(1);
    }
}

}  // namespace

void add_infer_files(CLI::App& app, const std::string& name) {
    auto o = std::make_shared<InferFilesOptions>();
    auto* cmd = app.add_subcommand(name,
                                   "Server, offline: run the model on an encrypted batch file with the client's evaluation keys only, "
                                   "writing an encrypted result file");
    cmd->add_option("--model", o->model, "ONNX model (the one the client's plan was made for)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--eval-keys", o->eval_keys, "The client's eval.keys (parameters + relinearisation key)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--in", o->in, "Batch file from `hecnn encrypt`")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out", o->out, "Result file to write (refused if it exists, unless --force)")->required();
    cmd->add_option("--threads", o->threads, "Threads (exactly; 0: OpenMP's default)");
    add_memory_option(cmd, o->memory, "The run's");
    add_spill_dir_option(cmd, o->spill_dir, "the system's temporary directory");
    cmd->add_flag("--no-lazy-relin", o->no_lazy, "Never defer relinearisation");
    cmd->add_flag("--steps", o->steps, "Print every step's measured time, memory and spill next to the prediction");
    cmd->add_flag("--force", o->force, "Replace an existing result file");
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept evaluation keys with test-only parameters below 128-bit security");
    cmd->callback([o] { run_infer_files(*o); });
}

}  // namespace hecnn::cli
