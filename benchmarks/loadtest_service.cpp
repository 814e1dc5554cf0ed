// hecnn-loadtest: the inference service under load, over loopback and TLS, stopped twice in
// the middle. N clients (threads, each its own key set and session) submit M batches each
// to a real `hecnn serve` process with a self-signed certificate for 127.0.0.1; after
// --kill-after seconds the server gets SIGTERM, drains and exits, and a new server process
// starts on the same state directory and port; --kill-after seconds later that one gets
// SIGKILL (in the middle of a job, with work queued) and a third one starts. The clients
// retry while the server is away and keep polling until every job they had accepted is
// finished. Nothing may be lost: every accepted job ends done (its result decrypts to the
// plaintext model's predictions) or failed with a reason. Each server's peak resident
// memory is sampled from /proc.
//
//   hecnn-loadtest --model MODEL.onnx --plan PLAN.json [--clients 4] [--batches 4]
//                  [--kill-after 20] [--images 256] [--memory SIZE] [--dir DIR]
#include <CLI/CLI.hpp>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "cli/subprocess.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/io/dataset.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/nn/reference.h"
#include "hecnn/server/client.h"
#include "hecnn/server/tls.h"

using namespace hecnn;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
    std::string model, plan, dir = "hecnn-loadtest", memory;
    std::size_t clients = 4, batches = 4, images = 256;
    double kill_after = 20;
    bool insecure = false;
};

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::size_t rss_field(pid_t pid, const char* field) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(field, 0) == 0) return static_cast<std::size_t>(std::stoull(line.substr(std::strlen(field)))) * 1024;
    return 0;
}

// One `hecnn serve` process; its peak RSS is sampled until it exits.
struct Server {
    std::unique_ptr<cli::Subprocess> proc;
    std::string url;
    std::atomic<std::size_t> peak{0};
    std::thread sampler;
    std::atomic<bool> running{false};

    void start(const Options& o, const std::string& listen) {
        const fs::path tls = fs::path(o.dir) / "tls";
        std::vector<std::string> argv = {cli::sibling_exe("hecnn"), "serve", "--model", o.model, "--plan", o.plan, "--listen", listen,
                                         "--state-dir", (fs::path(o.dir) / "state").string(), "--max-queued", "1000",
                                         "--tls-cert", (tls / "cert.pem").string(), "--tls-key", (tls / "key.pem").string()};
        if (o.insecure) argv.push_back("--insecure-test-params");
        if (!o.memory.empty()) argv.insert(argv.end(), {"--memory", o.memory});
        proc = std::make_unique<cli::Subprocess>(argv, true);
        url = cli::read_serve_url(*proc, std::chrono::seconds(120));
        if (url.empty()) throw std::runtime_error("hecnn serve did not start");
        running = true;
        sampler = std::thread([this] {
            while (running) {
                peak = std::max<std::size_t>(peak, rss_field(proc->pid(), "VmHWM:"));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        });
    }
    int stop(int sig = SIGTERM) {
        peak = std::max<std::size_t>(peak, rss_field(proc->pid(), "VmHWM:"));
        proc->signal(sig);
        const int rc = proc->wait();
        running = false;
        sampler.join();
        return rc;
    }
};

struct Tally {
    std::mutex mu;
    std::size_t accepted = 0, refused = 0, done = 0, failed = 0, lost = 0, wrong = 0, retries = 0;
    std::vector<std::string> failures;
};

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    Options o;
    CLI::App app{"hecnn-loadtest: N clients × M batches against `hecnn serve` on loopback over TLS, with a SIGTERM, a restart, a SIGKILL and a "
                 "restart in the middle"};
    app.add_option("--model", o.model, "ONNX model")->required()->check(CLI::ExistingFile);
    app.add_option("--plan", o.plan, "Its plan (hecnn plan MODEL --out PLAN.json)")->required()->check(CLI::ExistingFile);
    app.add_option("--clients", o.clients, "Concurrent clients")->capture_default_str();
    app.add_option("--batches", o.batches, "Batches per client")->capture_default_str();
    app.add_option("--images", o.images, "Fashion-MNIST test images per batch")->capture_default_str();
    app.add_option("--kill-after", o.kill_after, "Seconds before the SIGTERM, and from the restart to the SIGKILL")->capture_default_str();
    app.add_option("--memory", o.memory, "Passed to `hecnn serve --memory` (its budget, reported next to the peak RSS)");
    app.add_option("--dir", o.dir, "Working directory (removed first)")->capture_default_str();
    app.add_flag("--insecure-test-params", o.insecure, "Allow test-only parameters");
    CLI11_PARSE(app, argc, argv);
    try {
        fs::remove_all(o.dir);
        fs::create_directories(fs::path(o.dir) / "tls");
        const fs::path ca = fs::path(o.dir) / "tls" / "cert.pem";
        server::make_self_signed_certificate(ca, fs::path(o.dir) / "tls" / "key.pem", {"127.0.0.1"});
        const auto plan = io::load_plan(o.plan, o.insecure);
        const auto onnx = ckks::read_file(o.model, io::kMaxOnnxBytes);
        const auto model = io::parse_onnx(std::string_view(reinterpret_cast<const char*>(onnx.data()), onnx.size()));
        const std::size_t S = std::min(o.images, plan.batch), F = plan.features(), K = plan.outputs;

        // Clients: their own keys, one encrypted batch each (submitted M times).
        const auto data = io::load_fashion_mnist(false, io::kFashionMnistDir, S * o.clients);
        std::vector<io::ClientKeys> keys(o.clients);
        std::vector<std::vector<double>> x(o.clients), want(o.clients);
        const nn::ReferenceRunner ref(model);
        std::printf("preparing %zu clients: keys + one batch of %zu images each\n", o.clients, S);
        for (std::size_t c = 0; c < o.clients; ++c) {
            const fs::path d = fs::path(o.dir) / ("client" + std::to_string(c));
            io::create_keyset(plan, d / "keys", false);
            keys[c] = io::load_client_keys(d / "keys", o.insecure);
            x[c].resize(S * F);
            for (std::size_t i = 0; i < S; ++i) io::to_input(data, c * S + i, plan.preprocessing, std::span<double>(x[c].data() + i * F, F));
            io::encrypt_batch_file(keys[c], x[c], S, d / "batch");
            for (std::size_t i = 0; i < S; ++i) {
                const auto y = ref.run(std::span<const double>(x[c].data() + i * F, F));
                want[c].insert(want[c].end(), y.begin(), y.end());
            }
        }

        Server first;
        first.start(o, "127.0.0.1:0");
        const std::string listen = first.url.substr(first.url.find("//") + 2);  // the restart reuses the port
        std::atomic<bool> server_up{true};
        std::mutex url_mu;
        std::string url = first.url;
        Tally t;
        const auto t0 = Clock::now();

        auto client_loop = [&](std::size_t c) {
            const fs::path d = fs::path(o.dir) / ("client" + std::to_string(c));
            auto make = [&] {
                std::lock_guard lk(url_mu);
                server::ClientOptions co;
                co.url = url;
                co.ca_cert = ca.string();
                co.read_timeout_seconds = 30;
                return server::ServiceClient(co);
            };
            // Every call is retried while the server is down or busy (what a real client does).
            auto retry = [&](auto&& f) {
                for (;;) {
                    try {
                        return f();
                    } catch (const server::ClientError& e) {
                        if (e.status() != 0 && e.status() != 503 && e.status() != 429) throw;
                        std::lock_guard lk(t.mu);
                        ++t.retries;
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                }
            };
            const std::string sid = retry([&] { return make().open_session(d / "keys" / io::kEvalKeysFile); });
            std::vector<std::string> jobs;
            for (std::size_t b = 0; b < o.batches; ++b) {
                try {
                    jobs.push_back(make().submit(sid, d / "batch"));
                    std::lock_guard lk(t.mu);
                    ++t.accepted;
                } catch (const server::ClientError& e) {
                    // Not accepted (shutting down, or the server is away): the client knows and resubmits.
                    std::lock_guard lk(t.mu);
                    ++t.refused;
                    --b;
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                }
            }
            for (std::size_t b = 0; b < jobs.size(); ++b) {
                server::JobStatus st;
                try {
                    st = retry([&] { return make().wait(sid, jobs[b], {}, 0.2); });
                } catch (const server::ClientError& e) {
                    std::lock_guard lk(t.mu);
                    ++t.lost;  // an accepted job the server no longer knows
                    t.failures.push_back(e.what());
                    continue;
                }
                if (st.state == server::JobState::failed) {
                    std::lock_guard lk(t.mu);
                    ++t.failed;
                    t.failures.push_back(st.error);
                    continue;
                }
                const fs::path res = d / ("result" + std::to_string(b));
                retry([&] { return make().download(sid, jobs[b], res); });
                const auto got = io::decrypt_result_file(keys[c], res);
                std::size_t bad = 0;
                for (std::size_t i = 0; i < S; ++i) {
                    const double* g = got.logits.data() + i * K;
                    const double* w = want[c].data() + i * K;
                    bad += (std::max_element(g, g + K) - g) != (std::max_element(w, w + K) - w);
                }
                std::lock_guard lk(t.mu);
                ++t.done;
                t.wrong += bad;
            }
        };
        std::vector<std::thread> threads;
        for (std::size_t c = 0; c < o.clients; ++c) threads.emplace_back(client_loop, c);

        std::this_thread::sleep_for(std::chrono::duration<double>(o.kill_after));
        std::fflush(stdout);
        std::printf("t=%.1f s: SIGTERM to the server (accepted so far %zu, done %zu)\n", since(t0), t.accepted, t.done);
        const int rc1 = first.stop();
        server_up = false;
        std::printf("t=%.1f s: server exited with status %d; restarting on the same state directory\n", since(t0), rc1);
        Server second;
        second.start(o, listen);
        {
            std::lock_guard lk(url_mu);
            url = second.url;
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(o.kill_after));
        std::printf("t=%.1f s: SIGKILL to the restarted server (accepted so far %zu, done %zu)\n", since(t0), t.accepted, t.done);
        const int rc2 = second.stop(SIGKILL);
        std::size_t running = 0, queued = 0;  // what the kill interrupted, as the state directory says
        for (const auto& e : fs::recursive_directory_iterator(fs::path(o.dir) / "state"))
            if (e.path().filename() == "status.json") {
                std::ifstream f(e.path());
                const std::string text((std::istreambuf_iterator<char>(f)), {});
                running += text.find("\"running\"") != std::string::npos;
                queued += text.find("\"queued\"") != std::string::npos;
            }
        std::printf("t=%.1f s: server killed (status %d) with %zu job(s) running and %zu queued; restarting on the same state directory\n",
                    since(t0), rc2, running, queued);
        Server third;
        third.start(o, listen);
        {
            std::lock_guard lk(url_mu);
            url = third.url;
        }
        for (auto& th : threads) th.join();
        const int rc3 = third.stop();
        const double total = since(t0);

        std::printf("\n=== load test over TLS: %zu clients × %zu batches of %zu images (%zu ciphertexts each); SIGTERM at %.0f s, "
                    "SIGKILL %.0f s after the restart ===\n",
                    o.clients, o.batches, S, F, o.kill_after, o.kill_after);
        std::printf("accepted %zu, done %zu, failed %zu (with a reason), LOST %zu; refused while shutting down %zu (resubmitted); "
                    "retries %zu\n",
                    t.accepted, t.done, t.failed, t.lost, t.refused, t.retries);
        std::printf("predictions differing from the plaintext model: %zu of %zu\n", t.wrong, t.done * S);
        std::printf("server exits: %d (SIGTERM), %d (SIGKILL), %d (SIGTERM at the end); peak RSS %.1f, %.1f, %.1f MiB%s%s; wall %.1f s\n",
                    rc1, rc2, rc3, first.peak / 1048576.0, second.peak / 1048576.0, third.peak / 1048576.0,
                    o.memory.empty() ? "" : " against --memory ", o.memory.c_str(), total);
        for (const auto& f : t.failures) std::printf("  failure: %s\n", f.c_str());
        const bool ok = t.lost == 0 && t.done + t.failed == t.accepted && t.accepted == o.clients * o.batches && rc1 == 0 &&
                        rc2 == 128 + SIGKILL && rc3 == 0;
        std::printf("%s\n", ok ? "OK: every accepted job finished or was reported failed" : "FAILED");
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
