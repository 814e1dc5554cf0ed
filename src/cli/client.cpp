#include "client.h"

#include <cstdio>
#include <filesystem>
#include <optional>

#include "decrypt.h"
#include "encrypt.h"
#include "format.h"
#include "token.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/server/client.h"
#include "hecnn/server/remote.h"
#include "progress.h"

namespace hecnn::cli {
namespace {
namespace fs = std::filesystem;

struct ClientOptions {
    std::string server, token_file, ca_cert, keys, work = "hecnn-client", out;
    std::vector<std::string> images;
    std::size_t limit = 0, offset = 0;
    bool insecure = false, keep = false;
};

void run_client(const ClientOptions& o) {
    server::ClientOptions co;
    co.url = o.server;
    co.token = read_token_file(o.token_file);
    co.ca_cert = o.ca_cert;
    server::ServiceClient svc(co);
    const fs::path work = o.work, keys_dir = o.keys;
    fs::create_directories(work);

    // The server's plan decides the parameters; keys are made for it once and reused.
    if (!fs::exists(keys_dir / io::kSecretKeyFile)) {
        const io::PlanFile plan = server::service_plan(svc, o.insecure);
        io::save_plan(work / "plan.json", plan);
        const auto ks = io::create_keyset(plan, keys_dir, false);
        std::printf("keys        new key set %016llx in %s (secret key stays here)\n", static_cast<unsigned long long>(ks.keyset_id), keys_dir.c_str());
    } else {
        // encrypt applies the key directory's copy of the plan: it must be the server's
        const auto mine = io::load_client_keys(keys_dir, o.insecure).plan;
        server::service_plan(svc, o.insecure, &mine, keys_dir.string() + "'s keys");
    }

    EncryptOptions eo;
    eo.keys = keys_dir.string();
    eo.images = o.images;
    eo.limit = o.limit;
    eo.offset = o.offset;
    eo.out = (work / "batch.hecnn").string();
    eo.force = true;
    eo.insecure = o.insecure;
    const auto batches = run_encrypt(eo);

    std::vector<fs::path> results;
    for (std::size_t k = 0; k < batches.size(); ++k) results.push_back(work / numbered_path("result.hecnn", k, batches.size()));
    std::optional<ProgressBar> bar;  // once the server says how many layers
    server::RemoteCallbacks cb;
    cb.uploaded = [&](std::size_t k) { ProgressBar("upload " + batches[k].filename().string(), 1).update(1); };
    cb.status = [&](std::size_t k, const server::JobStatus& s) {
        if (!s.progress_total()) return;
        if (!bar) bar.emplace("infer  " + batches[k].filename().string(), s.progress_total(), s.units_total ? "units" : "layers");
        bar->update(s.progress_done(), "", s.remaining);
    };
    cb.done = [&](const server::RemoteJob& r, std::size_t k) {
        bar.reset();
        const auto& st = r.status;
        std::printf("server      %s: %s on the server (%s per image; predicted %s); result %s\n", r.batch.filename().c_str(),
                    human_ms(st.server_seconds * 1e3).c_str(), human_ms(st.server_seconds * 1e3 / static_cast<double>(std::max<std::size_t>(1, st.samples))).c_str(),
                    human_ms(st.predicted_seconds * 1e3).c_str(), human_bytes(static_cast<double>(r.result_bytes)).c_str());
        DecryptOptions d;
        d.keys = keys_dir.string();
        d.in = r.result.string();
        d.out = numbered_path(o.out, k, batches.size()).string();
        d.labels = io::labels_path(r.batch).string();
        d.force = true;
        d.insecure = o.insecure;
        run_decrypt(d);
    };
    server::run_batches(svc, keys_dir / io::kEvalKeysFile, batches, results, cb, o.keep);
}

}  // namespace

void add_client(CLI::App& app) {
    auto o = std::make_shared<ClientOptions>();
    auto* cmd = app.add_subcommand("client",
                                   "Client end of `hecnn serve`: keys (made from the server's plan if --keys has none), encrypt, upload, "
                                   "wait, download, decrypt — one command");
    cmd->add_option("--server", o->server, "Service URL, e.g. https://host:8443 (TLS) or http://127.0.0.1:8080")->required();
    cmd->add_option("--ca-cert", o->ca_cert, "https: PEM file of the CA(s) the server's certificate must chain to (default: the system's)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--token-file", o->token_file, "File holding the service's bearer token")->check(CLI::ExistingFile);
    cmd->add_option("--keys", o->keys, "Key directory (created with a new key set if it has no secret key)")->required();
    cmd->add_option("--images", o->images, "fashion-mnist [DIR] | cifar10 DIR | folder DIR | image FILES (as `hecnn encrypt`)")->required()->expected(1, -1);
    cmd->add_option("--limit", o->limit, "At most this many images (0: all)");
    cmd->add_option("--offset", o->offset, "Skip this many images first")->capture_default_str();
    cmd->add_option("--work", o->work, "Where batches and results are kept on the client")->capture_default_str();
    cmd->add_option("--out", o->out, "predictions.csv or .json (one per batch: -1, -2, … when there are several)")->required();
    cmd->add_flag("--keep", o->keep, "Leave the jobs and the session on the server");
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept a plan with test-only parameters below 128-bit security");
    cmd->callback([o] { run_client(*o); });
}

}  // namespace hecnn::cli
