#include "serve.h"

#include <omp.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "execution_options.h"
#include "format.h"
#include "token.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/process.h"
#include "hecnn/he/rates.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/server/http_server.h"
#include "hecnn/server/service.h"
#include "hecnn/server/tls.h"

namespace hecnn::cli {
namespace {

struct ServeOptions {
    std::string model, plan, listen = "127.0.0.1:8080", state_dir = "hecnn-state", token_file, tls_cert, tls_key;
    std::size_t workers = 1, max_queued = 8, http_threads = 8;
    int threads = 0;
    double drain = 300;
    bool insecure = false;
    he::MemoryBudget memory;
    std::filesystem::path spill_dir;
};

std::pair<std::string, int> parse_listen(const std::string& s) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) throw std::runtime_error("--listen wants ADDR:PORT, e.g. 127.0.0.1:8080 (got \"" + s + "\")");
    std::size_t used = 0;
    int port = -1;
    try {
        port = std::stoi(s.substr(colon + 1), &used);
    } catch (const std::exception&) {
    }
    if (port < 0 || port > 65535 || used != s.size() - colon - 1) throw std::runtime_error("--listen: bad port in \"" + s + "\" (0–65535; 0 picks a free one)");
    return {s.substr(0, colon), port};
}

void run_serve(const ServeOptions& o) {
    // Signals go to one thread that drains the service; every other thread blocks them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);
    // Before any thread (process.h): a job reuses the pages of the jobs before it, and the
    // first job runs as warm as the next: its memory is faulted in now, as much as the plan
    // predicts it holds, never beyond the memory budget (--memory), resolved once here for
    // the pre-fault bound and the workers' shares. Jobs set their own threads (--threads).
    io::PlanFile plan = io::load_plan(o.plan, o.insecure);
    he::ExecutionOptions exec;
    exec.memory = o.memory;
    const auto process = he::start_inference_process(exec, plan.predicted_peak_bytes);

    const auto onnx = ckks::read_file(o.model, io::kMaxOnnxBytes);
    const std::string_view onnx_bytes(reinterpret_cast<const char*>(onnx.data()), onnx.size());
    const auto model = io::parse_onnx(onnx_bytes);
    he::CompileOptions copt;
    copt.lazy_relin = plan.lazy_relin;
    copt.level_budget = plan.depth;  // the client's plan spent its levels so (pools on their own step)
    he::Plan compiled = he::compile(model, copt);
    io::check_plan_matches(plan, onnx_bytes, compiled);

    server::ServiceOptions so;
    so.state_dir = o.state_dir;
    so.workers = o.workers;
    so.max_queued = o.max_queued;
    so.drain_seconds = o.drain;
    so.allow_insecure = o.insecure;
    so.threads = o.threads;
    so.memory = process.exec.memory;
    so.spill_dir = o.spill_dir;
    so.prefaulted_bytes = process.prefaulted_bytes;
    so.rates = he::Rates::for_machine(plan.params.log_n, o.threads);  // once: what the jobs predict with is what is printed
    server::Service svc(plan, std::move(compiled), so);
    const auto h0 = svc.health();

    server::HttpOptions ho;
    std::tie(ho.host, ho.port) = parse_listen(o.listen);
    ho.threads = o.http_threads;
    if (!o.token_file.empty()) ho.token = read_token_file(o.token_file);
    ho.tls_cert = o.tls_cert;
    ho.tls_key = o.tls_key;
    server::HttpServer http(svc, ho);
    http.bind();
    if (!http.tls() && !server::is_loopback_host(ho.host))
        std::fprintf(stderr,
                     "\n*** WARNING: hecnn serve listens on %s WITHOUT TLS. The bearer token and the session and job ids\n"
                     "*** (the capabilities to every client's jobs and results) cross the network in clear. Use\n"
                     "*** --tls-cert FILE --tls-key FILE, or listen on 127.0.0.1 behind a TLS-terminating proxy.\n\n",
                     ho.host.c_str());

    std::thread sig([&] {
        int s = 0;
        sigwait(&sigs, &s);
        std::fprintf(stderr, "\nhecnn serve: %s received: no new jobs; finishing the running one (up to %s; a second signal cancels it)\n",
                     s == SIGINT ? "SIGINT" : "SIGTERM", human_ms(o.drain * 1e3).c_str());
        std::thread second([&] {
            int s2 = 0;
            sigwait(&sigs, &s2);
            svc.hurry();
        });
        second.detach();
        svc.shutdown();
        http.stop();
    });
    std::printf("hecnn serve: listening on %s%s\n", http.url().c_str(), http.tls() ? (" (TLS, certificate " + o.tls_cert + ")").c_str() : "");
    std::printf("  model %s (%s), plan %s: batch of %zu images, N=2^%d, depth %d%s\n", o.model.c_str(), plan.model_name.c_str(),
                o.plan.c_str(), plan.batch, plan.params.log_n, plan.depth, o.insecure ? ", INSECURE test parameters allowed" : "");
    std::printf("  state %s: %zu session(s), %zu queued job(s) resumed; %zu worker(s), %d thread(s) per job; uploads ≤ %s; auth %s\n",
                o.state_dir.c_str(), h0.sessions, h0.queued, o.workers, o.threads ? o.threads : omp_get_max_threads(),
                human_bytes(static_cast<double>(svc.max_batch_bytes())).c_str(), ho.token.empty() ? "none (loopback/trusted network only)" : "bearer token");
    std::printf("  memory: %s pre-faulted for the jobs in %s (the plan's predicted peak)\n", human_bytes(static_cast<double>(process.prefaulted_bytes)).c_str(),
                human_ms(process.prefault_seconds * 1e3).c_str());
    std::printf("  memory %s of ciphertexts per worker × %zu worker(s); spills to %s\n", svc.worker_budget().describe().c_str(), o.workers,
                svc.spill_dir().c_str());
    std::printf("  rates for the jobs' predictions: %s\n", so.rates->source.c_str());
    std::fflush(stdout);
    http.run();
    sig.join();
    const auto h = svc.health();
    std::printf("hecnn serve: stopped cleanly; %zu done, %zu failed, %zu queued for the next start\n", h.done, h.failed, h.queued);
}

}  // namespace

void add_serve(CLI::App& app) {
    auto o = std::make_shared<ServeOptions>();
    auto* cmd = app.add_subcommand("serve", "Run the encrypted-inference service over HTTPS or HTTP (server side: evaluation keys only)");
    cmd->add_option("--model", o->model, "ONNX model to serve")->required()->check(CLI::ExistingFile);
    cmd->add_option("--plan", o->plan, "Plan made for it (`hecnn plan MODEL --out PLAN.json`); clients fetch it at GET /v1/plan")
        ->required()->check(CLI::ExistingFile);
    cmd->add_option("--listen", o->listen, "ADDR:PORT to listen on (port 0: any free port, printed)")->capture_default_str();
    cmd->add_option("--state-dir", o->state_dir, "Where sessions, uploads and results are kept (survives a restart)")->capture_default_str();
    cmd->add_option("--token-file", o->token_file, "File holding a bearer token clients must send (recommended beyond loopback)");
    auto* cert = cmd->add_option("--tls-cert", o->tls_cert, "HTTPS: PEM certificate chain, the server's own first")->check(CLI::ExistingFile);
    auto* key = cmd->add_option("--tls-key", o->tls_key, "HTTPS: its unencrypted PEM private key")->check(CLI::ExistingFile);
    cert->needs(key);
    key->needs(cert);
    cmd->add_option("--workers", o->workers, "Jobs run at once")->capture_default_str()->check(CLI::Range(1, 64));
    cmd->add_option("--max-queued", o->max_queued, "Jobs accepted but not finished, at most (then 429)")->capture_default_str()->check(CLI::Range(1, 100000));
    cmd->add_option("--threads", o->threads, "OpenMP threads per job (0: all cores)")->capture_default_str();
    add_memory_option(cmd, o->memory, "All workers' (shared in equal parts)");
    add_spill_dir_option(cmd, o->spill_dir, "spill/ inside the state directory");
    cmd->add_option("--http-threads", o->http_threads, "Connections served at once")->capture_default_str()->check(CLI::Range(1, 1024));
    cmd->add_option("--drain-seconds", o->drain, "On SIGINT/SIGTERM, how long the running job may finish")->capture_default_str();
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept plans and keys below 128-bit security (tests only)");
    cmd->callback([o] { run_serve(*o); });
}

}  // namespace hecnn::cli
