#include "keygen.h"

#include <cstdio>

#include "format.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/plan_file.h"

namespace hecnn::cli {
namespace {

struct KeygenOptions {
    std::string plan, out;
    bool force = false, insecure = false;
};

void run_keygen(const KeygenOptions& o) {
    const auto plan = io::load_plan(o.plan, o.insecure);
    const auto ctx = ckks::Context::create(plan.params);
    std::printf("plan        %s: model %s (digest %.16s…), %zu images per batch, depth %d\n", o.plan.c_str(),
                plan.model_name.empty() ? "(unnamed)" : plan.model_name.c_str(), plan.model_digest.c_str(), plan.batch, plan.depth);
    std::printf("parameters  %s\n", ctx->describe().c_str());
    if (!ctx->secure_128()) std::printf("WARNING     these are TEST-ONLY parameters below 128-bit security: never use them for real data\n");
    std::fflush(stdout);
    const auto s = io::create_keyset(plan, o.out, o.force);
    const std::filesystem::path dir(o.out);
    std::printf("keys        %s, key set %016llx, made in %s\n", o.out.c_str(), static_cast<unsigned long long>(s.keyset_id),
                human_ms(s.seconds * 1e3).c_str());
    auto row = [&](const char* name, std::size_t bytes, const char* note) {
        std::printf("  %-13s %10s  %s\n", name, human_bytes(static_cast<double>(bytes)).c_str(), note);
    };
    row(io::kSecretKeyFile, s.secret_bytes, "mode 0600: keep it here, never send it anywhere");
    row(io::kEvalKeysFile, s.eval_keys_bytes, "parameters + seeded relinearisation key: what the server gets");
    row(io::kPublicKeyFile, s.public_bytes, "public key (not needed by this workflow)");
    row(io::kParamsFile, s.params_bytes, "parameters");
    row(io::kPlanCopyFile, std::filesystem::file_size(dir / io::kPlanCopyFile), "copy of the plan");
    std::printf("next        hecnn encrypt --keys %s --images fashion-mnist --out batch.hecnn\n", o.out.c_str());
}

}  // namespace

void add_keygen(CLI::App& app) {
    auto o = std::make_shared<KeygenOptions>();
    auto* cmd = app.add_subcommand("keygen",
                                   "Client: make a key directory for a plan (secret key, evaluation keys to upload, parameters, plan copy)");
    cmd->add_option("--plan", o->plan, "Plan file written by `hecnn plan MODEL.onnx --out PLAN.json`")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out", o->out, "Key directory to create (refused if it already holds keys, unless --force)")->required();
    cmd->add_flag("--force", o->force, "Replace the keys of an existing key directory (the old secret key is lost)");
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept a plan with test-only parameters below 128-bit security");
    cmd->callback([o] { run_keygen(*o); });
}

}  // namespace hecnn::cli
