#include "infer_files.h"

#include <omp.h>

#include <cstdio>
#include <filesystem>

#include "execution_options.h"
#include "format.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/process.h"
#include "hecnn/io/infer_job.h"
#include "hecnn/io/onnx.h"
#include "progress.h"

namespace hecnn::cli {
namespace {

struct InferFilesOptions {
    std::string model, eval_keys, in, out;
    int threads = 0;
    he::MemoryBudget memory;
    std::filesystem::path spill_dir;
    bool force = false, insecure = false, no_lazy = false;
};

void run_infer_files(const InferFilesOptions& o) {
    he::ExecutionOptions start;  // as bench infer and serve: freed ciphertexts' pages reused (process.h)
    start.threads = o.threads;
    he::start_inference_process(start);  // the budget is resolved by the job (io::infer_batch_file)
    const auto onnx = ckks::read_file(o.model, io::kMaxOnnxBytes);
    const std::string_view onnx_bytes(reinterpret_cast<const char*>(onnx.data()), onnx.size());
    const auto model = io::parse_onnx(onnx_bytes);
    he::CompileOptions copt;
    copt.lazy_relin = !o.no_lazy;
    const auto plan = he::compile(model, copt);
    const std::string digest = io::model_digest(onnx_bytes);
    const auto keys = io::load_eval_keys_file(o.eval_keys, o.insecure);
    std::printf("model       %s: %d input ciphertexts, %zu steps, depth %d (digest %.16s…)\n", o.model.c_str(), plan.input_count,
                plan.steps.size(), plan.depth, digest.c_str());
    std::printf("keys        %s: key set %016llx, %s — evaluation keys only, no secret key\n", o.eval_keys.c_str(),
                static_cast<unsigned long long>(keys.keyset_id), keys.ctx->describe().c_str());
    if (!o.force && std::filesystem::exists(o.out)) throw std::runtime_error(o.out + " exists: choose another --out, or --force to replace it");
    std::fflush(stdout);

    ProgressBar bar("server", plan.steps.size(), "steps");
    io::JobOptions jo;
    jo.model_id = io::model_id_of(digest);  // a batch encrypted for another model is refused
    jo.replace_result = o.force;
    jo.exec.memory = o.memory;
    jo.exec.spill_dir = o.spill_dir;
    jo.progress = [&](const io::JobProgress& p) { bar.update(p.step, "", p.remaining); };
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
    cmd->add_flag("--force", o->force, "Replace an existing result file");
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept evaluation keys with test-only parameters below 128-bit security");
    cmd->callback([o] { run_infer_files(*o); });
}

}  // namespace hecnn::cli
