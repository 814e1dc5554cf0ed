#include "demo.h"

#include <omp.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "format.h"
#include "preprocessing_options.h"
#include "hecnn/he/pipeline.h"
#include "hecnn/he/reference_check.h"
#include "hecnn/io/calibration.h"
#include "hecnn/io/planner.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/server/client.h"
#include "hecnn/server/tls.h"
#include "progress.h"
#include "subprocess.h"

namespace hecnn::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct DemoOptions {
    std::string dir, model;
    std::size_t count = 0;      // 0: a full batch (every slot)
    std::size_t calib = 1024;
    int epochs = 10, threads = 0, log_n = 0;
    bool retrain = false, insecure = false;
    nn::PreprocessingOverride preprocessing;  // for a --model made elsewhere
};

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string default_dir() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/hecnn/demo";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/hecnn/demo";
    return "hecnn-demo";
}

void run_child(const std::vector<std::string>& argv, const std::string& what) {
    Subprocess p(argv, false);
    if (const int rc = p.wait(); rc != 0) throw std::runtime_error(what + " failed (exit status " + std::to_string(rc) + ")");
}

// The HE-friendly model of the training issue: a ReLU teacher, then the element-wise
// quadratic student started from its weights (the methodology of "A methodology for
// training homomorphic encryption friendly neural networks", docs/BASELINES.md). Cached
// between runs.
fs::path trained_model(const DemoOptions& o, const fs::path& dir, double& seconds) {
    if (!o.model.empty()) return o.model;
    const fs::path model = dir / "model.onnx";
    if (fs::exists(model) && !o.retrain) {
        std::printf("[1/7] model: reusing %s (--retrain to train again)\n", model.c_str());
        return model;
    }
    const std::string trainer = sibling_exe("hecnn-train");
    if (access(trainer.c_str(), X_OK) != 0)
        throw std::runtime_error("hecnn-train is not built next to hecnn (it needs libtorch-dev and HECNN_BUILD_TRAIN=ON); "
                                 "or pass --model MODEL.onnx");
    const auto t = Clock::now();
    const std::string ep = std::to_string(o.epochs);
    std::printf("[1/7] model: training the ReLU teacher, then the element-wise quadratic student from its weights (%s epochs each)\n", ep.c_str());
    std::fflush(stdout);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    run_child({trainer, "--activation", "relu", "--lr", "0.1", "--epochs", ep, "--progress", "-o", (dir / "teacher").string()}, "training the teacher");
    // The best recipe of docs/TRAINING.md for this model: the student starts from the
    // teacher's weights with least-squares fitted quadratics (distillation did not help here).
    run_child({trainer, "--granularity", "element", "--init", (dir / "teacher.pt").string(), "--lr", "0.03", "--epochs", ep, "--progress", "-o", (dir / "model").string()},
              "training the student");
    seconds = since(t);
    return model;
}

void run_demo(const DemoOptions& o) {
    const auto t_all = Clock::now();
    if (o.threads > 0) omp_set_num_threads(o.threads);
    const fs::path dir = o.dir.empty() ? default_dir() : o.dir;
    fs::create_directories(dir);
    double train_s = 0;
    const fs::path model_path = trained_model(o, dir, train_s);

    // ---- the model owner: plan (parameters chosen for the model, a full batch) ----
    auto t = Clock::now();
    io::PlanRequest req;
    req.preprocessing = o.preprocessing;
    req.calib = {"fashion-mnist"};
    req.calib_samples = o.calib;
    he::ParamOptions& popt = req.pipeline.params;
    popt.batch = o.count;
    popt.log_n = o.log_n;
    popt.insecure_test_only_allow_below_128_bits = o.insecure;
    if (o.insecure) popt.min_log_n = 1;
    req.server.threads = o.threads > 0 ? o.threads : omp_get_max_threads();
    const auto made = io::make_plan(model_path, req);
    const nn::Model& model = made.model;
    const he::CompiledModel& compiled = made.planned.compiled;
    const auto& ctx = made.context;
    const io::PlanFile& plan = made.file;
    const std::size_t batch = plan.batch;
    const fs::path plan_path = dir / "plan.json";
    io::save_plan(plan_path, plan);
    const double plan_s = since(t);
    std::printf("[2/7] plan: depth %d, %s; %zu images per batch (%s)\n", plan.depth, ctx->describe().c_str(), batch,
                ctx->secure_128() ? "128-bit security" : "INSECURE test parameters");

    // ---- the client (hospital): keys, then its images encrypted ----
    t = Clock::now();
    const fs::path keys_dir = dir / "client" / "keys";
    const auto ks = io::create_keyset(plan, keys_dir, /*force=*/true);
    const auto keys = io::load_client_keys(keys_dir, o.insecure);
    const double keygen_s = since(t);
    std::printf("[3/7] keygen: secret key %s (stays here, mode 0600), evaluation keys %s (for the server)\n",
                human_bytes(static_cast<double>(ks.secret_bytes)).c_str(), human_bytes(static_cast<double>(ks.eval_keys_bytes)).c_str());

    const auto test = io::batch_inputs({"fashion-mnist"}, batch, plan.input_shape, plan.preprocessing);
    const auto& x = test.inputs;
    const fs::path batch_path = dir / "client" / "batch.hecnn", result_path = dir / "client" / "result.hecnn";
    t = Clock::now();
    {
        ProgressBar bar("[4/7] encrypt", plan.features(), "ciphertexts");
        io::encrypt_batch_file(keys, x, batch, batch_path, [&](std::size_t done, std::size_t) { bar.update(done); }, /*replace=*/true);
    }
    const double encrypt_s = since(t);
    const auto upload_bytes = static_cast<double>(fs::file_size(batch_path));
    std::printf("[4/7] encrypt: %zu images → %zu seeded ciphertexts, %s (%s per image) in %s\n", batch, plan.features(),
                human_bytes(upload_bytes).c_str(), human_bytes(upload_bytes / static_cast<double>(batch)).c_str(), human_ms(encrypt_s * 1e3).c_str());

    // ---- the service: a separate process on loopback, over TLS, evaluation keys only ----
    // A fresh self-signed certificate for 127.0.0.1 each run (its key: mode 0600, in the
    // demo's directory); the client trusts exactly that certificate.
    const fs::path state = dir / "server-state", tls = dir / "server-tls";
    fs::remove_all(state);
    fs::create_directories(tls);
    server::make_self_signed_certificate(tls / "cert.pem", tls / "key.pem", {"127.0.0.1"});
    std::vector<std::string> argv = {self_exe(), "serve", "--model", model_path.string(), "--plan", plan_path.string(),
                                     "--listen", "127.0.0.1:0", "--state-dir", state.string(),
                                     "--tls-cert", (tls / "cert.pem").string(), "--tls-key", (tls / "key.pem").string()};
    if (o.threads > 0) argv.insert(argv.end(), {"--threads", std::to_string(o.threads)});
    if (o.insecure) argv.push_back("--insecure-test-params");
    Subprocess server(argv, true);
    const std::string url = read_serve_url(server, std::chrono::seconds(120));
    if (url.empty()) throw std::runtime_error("`hecnn serve` did not start (see its messages above)");
    std::printf("[5/7] server: `hecnn serve` (pid %d) listening on %s (TLS, self-signed certificate for 127.0.0.1)\n",
                static_cast<int>(server.pid()), url.c_str());

    server::ClientOptions co;
    co.url = url;
    co.ca_cert = (tls / "cert.pem").string();
    server::ServiceClient client(co);
    t = Clock::now();
    const std::string session = client.open_session(keys_dir / io::kEvalKeysFile);
    const std::string job = client.submit(session, batch_path);
    const double upload_s = since(t);
    server::JobStatus st;
    {
        std::optional<ProgressBar> bar;  // once the server says how many units
        st = client.wait(session, job, [&](const server::JobStatus& s) {
            if (!s.progress_total()) return;
            if (!bar) bar.emplace("[6/7] infer  ", s.progress_total(), s.units_total ? "units" : "layers");
            bar->update(s.progress_done(), "", s.remaining);
        }, 0.2);
    }
    if (st.state != server::JobState::done) throw std::runtime_error("the encrypted inference failed on the server: " + st.error);
    t = Clock::now();
    const std::size_t result_bytes = client.download(session, job, result_path);
    const double download_s = since(t);
    client.delete_job(session, job);
    client.close_session(session);
    server.signal(SIGTERM);
    const int server_rc = server.wait();
    std::printf("[6/7] infer: %s on the server = %s per image; result %s; server stopped (exit %d)\n", human_ms(st.server_seconds * 1e3).c_str(),
                human_ms(st.server_seconds * 1e3 / static_cast<double>(batch)).c_str(), human_bytes(static_cast<double>(result_bytes)).c_str(), server_rc);

    // ---- the client decrypts; the plaintext model is the reference ----
    t = Clock::now();
    const auto dec = io::decrypt_result_file(keys, result_path);
    const double decrypt_s = since(t);
    const auto check = he::check_against_reference(model, x, batch, dec.logits, test.labels);
    const double B = static_cast<double>(batch);
    std::printf("[7/7] decrypt: %s\n\n", human_ms(decrypt_s * 1e3).c_str());

    std::printf("=== hecnn demo: %zu Fashion-MNIST test images, encrypted end to end ===\n", batch);
    std::printf("security     %s; %s\n", ctx->secure_128() ? "128-bit (HE Standard, ternary secret)" : "INSECURE test parameters", ctx->describe().c_str());
    std::printf("accuracy     plaintext model %.2f %%   encrypted %.2f %%   agreement %zu/%zu (%.3f %%)   max |logit error| %.2e\n",
                100.0 * static_cast<double>(check.correct_ref) / B, 100.0 * static_cast<double>(check.correct_he) / B, check.agreements, batch,
                100.0 * static_cast<double>(check.agreements) / B, check.max_abs_error);
    std::printf("time         client: keygen %s, encrypt %s, decrypt %s   upload %s   server %s   download %s\n", human_ms(keygen_s * 1e3).c_str(),
                human_ms(encrypt_s * 1e3).c_str(), human_ms(decrypt_s * 1e3).c_str(), human_ms(upload_s * 1e3).c_str(),
                human_ms(st.server_seconds * 1e3).c_str(), human_ms(download_s * 1e3).c_str());
    std::printf("per image    server %s, client %s (encrypt + decrypt)%s\n", human_ms(st.server_seconds * 1e3 / B).c_str(),
                human_ms((encrypt_s + decrypt_s) * 1e3 / B).c_str(), train_s > 0 ? "" : "");
    std::printf("sizes        secret key %s, evaluation keys %s (sent once), upload %s (%s per image), result %s\n",
                human_bytes(static_cast<double>(ks.secret_bytes)).c_str(), human_bytes(static_cast<double>(ks.eval_keys_bytes)).c_str(),
                human_bytes(upload_bytes).c_str(), human_bytes(upload_bytes / B).c_str(), human_bytes(static_cast<double>(result_bytes)).c_str());
    std::printf("total        %s (training %s, planning %s)   files in %s\n\n", human_ms(since(t_all) * 1e3).c_str(),
                train_s > 0 ? human_ms(train_s * 1e3).c_str() : "cached", human_ms(plan_s * 1e3).c_str(), dir.c_str());
    std::printf(
        "What happened: a CNN whose ReLUs were replaced by trainable element-wise quadratics (started from a ReLU\n"
        "teacher's weights) was compiled to a homomorphic plan of %d levels. The client generated an RNS-CKKS key set, packed %zu\n"
        "images element-wise (ciphertext j holds pixel j of every image, one image per slot) and encrypted them. A\n"
        "separate `hecnn serve` process received only the evaluation keys and the ciphertexts over HTTPS, evaluated the\n"
        "network on them without ever being able to read an image or a prediction, and returned encrypted logits. Only\n"
        "the client, holding the secret key, decrypted them; the predictions match the plaintext model's on %.2f %% of\n"
        "the images.\n",
        plan.depth, batch, 100.0 * static_cast<double>(check.agreements) / B);
    if (server_rc != 0) throw std::runtime_error("`hecnn serve` exited with status " + std::to_string(server_rc));
}

}  // namespace

void add_demo(CLI::App& app) {
    auto o = std::make_shared<DemoOptions>();
    auto* cmd = app.add_subcommand("demo", "The whole workflow on Fashion-MNIST: train (or reuse), plan, keygen, encrypt, serve on loopback, "
                                           "infer, decrypt, compare with the plaintext model");
    cmd->add_option("--dir", o->dir, "Working directory (model cache, keys, files; default ~/.cache/hecnn/demo)");
    cmd->add_option("--model", o->model, "Use this HE-friendly ONNX model instead of training one")->check(CLI::ExistingFile);
    cmd->add_option("--count", o->count, "Images (0: a full batch, every slot of the ring)")->capture_default_str();
    cmd->add_option("--epochs", o->epochs, "Training epochs for the teacher and the student")->capture_default_str()->check(CLI::Range(1, 1000));
    cmd->add_flag("--retrain", o->retrain, "Train again even if a cached model exists");
    cmd->add_option("--threads", o->threads, "Threads (0: all cores)")->capture_default_str();
    cmd->add_option("--log-n", o->log_n, "Ring degree 2^n (0: automatic)");
    add_preprocessing_options(cmd, o->preprocessing, "with --model: as `hecnn plan` takes them");
    cmd->add_flag("--insecure-test-params", o->insecure, "Allow parameters below 128-bit security (tests only)");
    cmd->callback([o] { run_demo(*o); });
}

}  // namespace hecnn::cli
