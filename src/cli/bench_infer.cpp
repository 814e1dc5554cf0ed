#include "bench_infer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "execution_options.h"
#include "format.h"
#include "preprocessing_options.h"
#include "hecnn/he/pipeline.h"
#include "hecnn/he/process.h"
#include "hecnn/io/calibration.h"
#include "hecnn/io/planner.h"
#include "hecnn/io/onnx.h"

namespace hecnn::cli {
namespace {

struct InferOptions {
    std::string model, json, plot, rates, batches;
    he::MemoryBudget memory;
    std::filesystem::path spill_dir;
    std::vector<std::string> images{"fashion-mnist"}, calib;  // calib empty: the images' data set (training part)
    std::size_t count = 0, calib_samples = 1024;
    int threads = 0, log_n = 0, repeat = 1;
    double scale_bits = 40, precision_bits = 20;
    bool no_lazy = false, lazy_inputs = false;
    he::PoolSteps pools = he::PoolSteps::Auto;
    nn::PreprocessingOverride preprocessing;
};

std::string pct(double f) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f %%", 100 * f);
    return b;
}

void print_report(const he::PipelineReport& r, int threads) {
    const double B = static_cast<double>(r.samples);
    std::printf("\n=== encrypted inference: %zu images, N=2^%d, depth %d, %s, %d thread(s) ===\n", r.samples, r.log_n, r.depth,
                r.secure_128 ? "128-bit secure" : "INSECURE test parameters", threads);
    std::printf("parameters        %s\n", r.parameters.c_str());
    std::printf("%-3s %-7s %-26s %5s %4s %8s %10s %10s %10s\n", "#", "step", "from", "level", "size", "outputs", "measured", "predicted", "live");
    std::vector<std::string> off;  // prediction ≠ measurement (he::differences)
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
        const auto& s = r.steps[i].measured;
        const std::string name = s.name.size() > 26 ? s.name.substr(0, 23) + "..." : s.name;
        std::printf("%-3zu %-7s %-26s %5d %4d %8zu %10s %10s %10s\n", i, s.kind.c_str(), name.c_str(), s.level, s.size, s.outputs,
                    human_ms(s.seconds * 1e3).c_str(), human_ms(r.steps[i].predicted.seconds * 1e3).c_str(),
                    human_bytes(static_cast<double>(s.live_bytes)).c_str());
        for (const auto& d : he::differences(r.steps[i].predicted, s)) off.push_back("step " + std::to_string(i) + " " + d.describe());
    }
    std::printf("server total      %s = %s per image (predicted %s %s, measured/predicted %.2f); deserialising the upload %s%s\n",
                human_ms(r.server_seconds * 1e3).c_str(), human_ms(r.server_ms_per_sample()).c_str(),
                human_ms(r.predicted_server_seconds * 1e3).c_str(),
                r.cold ? ("cold, with " + human_ms(r.predicted_first_touch_seconds * 1e3) + " of first-touch page faults").c_str() : "warm",
                r.predicted_server_seconds > 0 ? r.server_seconds / r.predicted_server_seconds : 0.0, human_ms(r.load_seconds * 1e3).c_str(),
                r.load_seconds > 0 ? "" : " (in the server time: --lazy-inputs)");
    std::printf("server memory     peak RSS %s during the server run; ciphertexts held at most %s (predicted %s, budget %s); "
                "spilled %s (predicted %s); process peak %s\n",
                r.server_peak_rss_bytes ? human_bytes(static_cast<double>(r.server_peak_rss_bytes)).c_str() : "n/a",
                human_bytes(static_cast<double>(r.peak_ciphertext_bytes)).c_str(), human_bytes(static_cast<double>(r.predicted_peak_bytes)).c_str(),
                r.memory_budget.describe().c_str(), human_bytes(static_cast<double>(r.spill_bytes)).c_str(),
                human_bytes(static_cast<double>(r.predicted_spill_bytes)).c_str(), human_bytes(static_cast<double>(r.peak_rss_bytes)).c_str());
    if (off.empty()) std::printf("prediction        every step's levels, scales, operation counts and bytes as measured\n");
    for (const auto& d : off) std::printf("prediction        differs: %s\n", d.c_str());
    std::printf("server keys       relinearisation key only: %s seeded (%s full); secret key on the server: %s\n",
                human_bytes(static_cast<double>(r.relin_key_bytes_seeded)).c_str(), human_bytes(static_cast<double>(r.relin_key_bytes_full)).c_str(),
                r.server_had_secret_key ? "YES" : "no");
    std::printf("client keygen     %s\n", human_ms(r.keygen_seconds * 1e3).c_str());
    std::printf("client encrypt    %s for %zu seeded ciphertexts (pack + encode + encrypt + serialise)\n", human_ms(r.encrypt_seconds * 1e3).c_str(),
                r.features);
    std::printf("upload            %s = %s per image\n", human_bytes(static_cast<double>(r.upload_bytes)).c_str(),
                human_bytes(r.upload_bytes_per_sample()).c_str());
    std::printf("client decrypt    %s for %zu ciphertexts (download %s)\n", human_ms(r.decrypt_seconds * 1e3).c_str(), r.outputs,
                human_bytes(static_cast<double>(r.result_bytes)).c_str());
    std::printf("agreement         %s of classes equal to the plaintext reference (%zu of %zu differ)\n", pct(r.check.agreement).c_str(), r.check.disagreements,
                r.samples);
    std::printf("logit error       max |HE − reference| = %.3g (max |logit| %.3g)\n", r.check.max_abs_error, r.check.max_abs_logit);
    if (r.check.accuracy_he >= 0)
        std::printf("accuracy          encrypted %.2f %%, plaintext reference %.2f %% (%zu labelled images)\n", 100 * r.check.accuracy_he, 100 * r.check.accuracy_ref,
                    r.samples);
    (void)B;
}

nlohmann::json to_json(const he::PipelineReport& r) {
    nlohmann::json j;
    j["parameters"] = r.parameters;
    j["log_n"] = r.log_n;
    j["depth"] = r.depth;
    j["secure_128"] = r.secure_128;
    j["samples"] = r.samples;
    j["client"] = {{"keygen_seconds", r.keygen_seconds},   {"encrypt_seconds", r.encrypt_seconds},
                   {"decrypt_seconds", r.decrypt_seconds}, {"upload_bytes", r.upload_bytes},
                   {"upload_bytes_per_image", r.upload_bytes_per_sample()}, {"relin_key_bytes_seeded", r.relin_key_bytes_seeded},
                   {"relin_key_bytes_full", r.relin_key_bytes_full}, {"result_bytes", r.result_bytes}};
    j["server"] = {{"seconds", r.server_seconds},
                   {"ms_per_image", r.server_ms_per_sample()},
                   {"predicted_seconds", r.predicted_server_seconds},
                   {"predicted_first_touch_seconds", r.predicted_first_touch_seconds},
                   {"cold", r.cold},
                   {"memory_budget", budget_json(r.memory_budget)},
                   {"peak_ciphertext_bytes", r.peak_ciphertext_bytes},
                   {"spill_bytes", r.spill_bytes},
                   {"predicted_spill_bytes", r.predicted_spill_bytes},
                   {"load_seconds", r.load_seconds},
                   {"peak_rss_bytes", r.server_peak_rss_bytes},
                   {"process_peak_rss_bytes", r.peak_rss_bytes},
                   {"predicted_peak_bytes", r.predicted_peak_bytes},
                   {"secret_key", r.server_had_secret_key}};
    auto steps = nlohmann::json::array();
    for (const auto& [s, predicted] : r.steps) {
        auto off = nlohmann::json::array();
        for (const auto& d : he::differences(predicted, s)) off.push_back(d.describe());
        steps.push_back({{"kind", s.kind}, {"name", s.name}, {"level", s.level}, {"size", s.size}, {"outputs", s.outputs},
                         {"seconds", s.seconds}, {"predicted_seconds", predicted.seconds}, {"live_bytes", s.live_bytes},
                         {"peak_bytes", s.peak_bytes}, {"spill_bytes", s.spill_bytes}, {"prediction_differences", off}});
    }
    j["server"]["steps"] = steps;
    j["accuracy"] = {{"agreement", r.check.agreement}, {"disagreements", r.check.disagreements}, {"max_abs_logit_error", r.check.max_abs_error},
                     {"max_abs_logit", r.check.max_abs_logit}, {"accuracy_he", r.check.accuracy_he}, {"accuracy_reference", r.check.accuracy_ref}};
    return j;
}

// A minimal self-contained SVG line chart: batch size (log2 axis) against amortized
// server time per image (left axis, blue) and total server time (right axis, orange).
// With --repeat, the last (warm) run of each batch size is plotted.
void write_batch_svg(const std::string& path, const std::vector<he::PipelineReport>& all, const std::string& title) {
    std::vector<he::PipelineReport> rows;
    for (const auto& r : all) {
        auto it = std::find_if(rows.begin(), rows.end(), [&](const he::PipelineReport& x) { return x.samples == r.samples; });
        if (it == rows.end()) rows.push_back(r);
        else *it = r;
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.samples < b.samples; });
    const double W = 640, H = 400, L = 70, R = 70, T = 50, Bm = 60;
    const double pw = W - L - R, ph = H - T - Bm;
    double xmin = 1e300, xmax = -1e300, ymax1 = 0, ymax2 = 0;
    for (const auto& r : rows) {
        const double x = std::log2(static_cast<double>(r.samples));
        xmin = std::min(xmin, x), xmax = std::max(xmax, x);
        ymax1 = std::max(ymax1, r.server_ms_per_sample());
        ymax2 = std::max(ymax2, r.server_seconds);
    }
    if (xmax <= xmin) xmin -= 1, xmax += 1;
    auto nice = [](double v) {  // round up to 1, 2, 5 × 10^k
        if (v <= 0) return 1.0;
        const double p = std::pow(10, std::floor(std::log10(v)));
        for (double m : {1.0, 2.0, 5.0, 10.0})
            if (v <= m * p) return m * p;
        return 10 * p;
    };
    ymax1 = nice(ymax1 * 1.05), ymax2 = nice(ymax2 * 1.05);
    auto X = [&](double lx) { return L + (lx - xmin) / (xmax - xmin) * pw; };
    auto Y = [&](double v, double ymax) { return T + ph - v / ymax * ph; };
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(1);
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" << title << "</text>\n";
    s << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph << "\" fill=\"none\" stroke=\"#444\"/>\n";
    for (int i = 0; i <= 5; ++i) {  // horizontal grid + both axes' labels
        const double y = T + ph - ph * i / 5;
        s << "<line x1=\"" << L << "\" y1=\"" << y << "\" x2=\"" << L + pw << "\" y2=\"" << y << "\" stroke=\"#ddd\"/>\n";
        char a[32], b[32];
        std::snprintf(a, sizeof a, "%g", ymax1 * i / 5);
        std::snprintf(b, sizeof b, "%g", ymax2 * i / 5);
        s << "<text x=\"" << L - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\" fill=\"#1f5fb4\">" << a << "</text>\n";
        s << "<text x=\"" << L + pw + 6 << "\" y=\"" << y + 4 << "\" fill=\"#d0640a\">" << b << "</text>\n";
    }
    for (const auto& r : rows) {  // x ticks at the measured batch sizes
        const double x = X(std::log2(static_cast<double>(r.samples)));
        s << "<line x1=\"" << x << "\" y1=\"" << T + ph << "\" x2=\"" << x << "\" y2=\"" << T + ph + 5 << "\" stroke=\"#444\"/>\n";
        s << "<text x=\"" << x << "\" y=\"" << T + ph + 18 << "\" text-anchor=\"middle\">" << r.samples << "</text>\n";
    }
    s << "<text x=\"" << L + pw / 2 << "\" y=\"" << H - 15 << "\" text-anchor=\"middle\">batch size (images per ciphertext; N fixed)</text>\n";
    s << "<text transform=\"translate(18," << T + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\" fill=\"#1f5fb4\">amortized server time (ms / image)</text>\n";
    s << "<text transform=\"translate(" << W - 14 << "," << T + ph / 2 << ") rotate(90)\" text-anchor=\"middle\" fill=\"#d0640a\">total server time (s)</text>\n";
    auto series = [&](bool amortized, const char* colour) {
        s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\"";
        for (const auto& r : rows)
            s << X(std::log2(static_cast<double>(r.samples))) << ","
              << (amortized ? Y(r.server_ms_per_sample(), ymax1) : Y(r.server_seconds, ymax2)) << " ";
        s << "\"/>\n";
        for (const auto& r : rows)
            s << "<circle cx=\"" << X(std::log2(static_cast<double>(r.samples))) << "\" cy=\""
              << (amortized ? Y(r.server_ms_per_sample(), ymax1) : Y(r.server_seconds, ymax2)) << "\" r=\"4\" fill=\"" << colour << "\"/>\n";
    };
    series(true, "#1f5fb4");
    series(false, "#d0640a");
    s << "</svg>\n";
    std::ofstream f(path);
    if (!f) throw std::runtime_error("cannot write " + path);
    f << s.str();
}

std::vector<std::size_t> parse_sizes(const std::string& list) {
    std::vector<std::size_t> v;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) v.push_back(static_cast<std::size_t>(std::stoull(item)));
    if (v.empty()) throw std::runtime_error("--batches: give a comma-separated list of batch sizes");
    return v;
}

void run_infer(const InferOptions& o) {
    using Clock = std::chrono::steady_clock;
    const auto t_start = Clock::now();
    auto stamp = [&] { return human_ms(std::chrono::duration<double, std::milli>(Clock::now() - t_start).count()); };
    he::ExecutionOptions start;  // RSS ≈ ciphertexts held; later runs reuse the pages (process.h)
    start.threads = o.threads;
    const int threads = he::start_inference_process(start).exec.threads;  // the budget is resolved by each run
    const auto m = io::load_onnx(o.model);

    std::vector<std::size_t> sizes = o.batches.empty() ? std::vector<std::size_t>{o.count} : parse_sizes(o.batches);
    const std::size_t max_batch = *std::max_element(sizes.begin(), sizes.end());
    if (o.repeat > 1) {  // each batch size R times in this process: the first run is cold
        std::vector<std::size_t> rep;
        for (auto b : sizes)
            for (int i = 0; i < o.repeat; ++i) rep.push_back(b);
        sizes = rep;
    }

    io::PlanRequest req;
    req.preprocessing = o.preprocessing;
    req.calib = !o.calib.empty() ? o.calib : o.images;
    req.calib_samples = o.calib_samples;
    he::PipelineOptions& popt = req.pipeline;
    popt.compile.lazy_relin = !o.no_lazy;
    popt.pools = o.pools;
    popt.params.scale_bits = o.scale_bits;
    popt.params.precision_bits = o.precision_bits;
    popt.params.log_n = o.log_n;
    popt.params.batch = max_batch;  // 0: the slots of the smallest ring
    popt.exec.threads = threads;
    popt.exec.memory = o.memory;  // resolved by each run (the prediction and the run share it)
    popt.exec.spill_dir = o.spill_dir;
    popt.exec.lazy_inputs = o.lazy_inputs;

    std::printf("[%s] compiling %s; calibrating on %s\n", stamp().c_str(), o.model.c_str(), req.calib[0].c_str());
    const auto planned = io::plan_model(m, req);
    const auto& compiled = planned.compiled;
    std::printf("[%s] calibrated on %s\n", stamp().c_str(), planned.calib_source.c_str());
    const int log_n = compiled.choice.literal.log_n;
    popt.rates = he::Rates::resolve(o.rates, log_n, threads);
    std::printf("[%s] rates: %s\n", stamp().c_str(), popt.rates->source.c_str());
    const std::size_t slots = std::size_t{1} << (log_n - 1);
    for (auto& b : sizes)
        if (b == 0) b = slots;
    std::printf("[%s] plan: depth %d, %zu steps; %s\n", stamp().c_str(), compiled.plan.depth, compiled.plan.steps.size(), compiled.choice.explain.c_str());

    const std::size_t load = *std::max_element(sizes.begin(), sizes.end());
    std::printf("[%s] loading %zu %s images\n", stamp().c_str(), load, o.images[0].c_str());
    const auto test = io::batch_inputs(o.images, load, m.input_shape(), planned.preprocessing);
    const auto F = static_cast<std::size_t>(compiled.plan.input_count);

    std::vector<he::PipelineReport> rows;
    he::WarmMemory warm;  // this process's memory history over the runs below (the first is cold)
    for (const std::size_t B : sizes) {
        he::PipelineHooks hooks;
        hooks.stage = [&](const std::string& s) { std::printf("[%s] batch %zu: %s\n", stamp().c_str(), B, s.c_str()), std::fflush(stdout); };
        hooks.step = [&](const he::StepReport& s, std::size_t i, std::size_t n, double elapsed, double remaining) {
            std::printf("[%s]   server step %zu/%zu %-6s %-20.20s %6zu ct  %9s (predicted %9s)  elapsed %9s, ~%s left\n", stamp().c_str(), i + 1, n,
                        s.measured.kind.c_str(), s.measured.name.c_str(), s.measured.outputs, human_ms(s.measured.seconds * 1e3).c_str(),
                        human_ms(s.predicted.seconds * 1e3).c_str(),
                        human_ms(elapsed * 1e3).c_str(), human_ms(remaining * 1e3).c_str());
            std::fflush(stdout);
        };
        const std::span<const double> x(test.inputs.data(), B * F);
        const std::span<const int> labels = test.labels.empty() ? std::span<const int>() : std::span<const int>(test.labels.data(), B);
        rows.push_back(he::run_pipeline(m, compiled, x, B, labels, popt, warm, hooks));
        print_report(rows.back(), threads);
    }

    if (rows.size() > 1) {
        std::printf("\n=== batch size (N=2^%d for every batch, %d thread(s)) ===\n", log_n, threads);
        std::printf("%8s %12s %14s %12s %14s %12s %12s\n", "batch", "server", "per image", "predicted", "client enc", "upload/img", "agreement");
        for (const auto& r : rows)
            std::printf("%8zu %12s %14s %12s %14s %12s %12s\n", r.samples, human_ms(r.server_seconds * 1e3).c_str(),
                        human_ms(r.server_ms_per_sample()).c_str(), human_ms(r.predicted_server_seconds * 1e3).c_str(),
                        human_ms(r.encrypt_seconds * 1e3).c_str(), human_bytes(r.upload_bytes_per_sample()).c_str(), pct(r.check.agreement).c_str());
    }
    if (!o.plot.empty()) {
        char title[160];
        std::snprintf(title, sizeof title, "Encrypted inference vs batch size (N=2^%d, %d thread(s))", log_n, threads);
        write_batch_svg(o.plot, rows, title);
        std::printf("wrote %s\n", o.plot.c_str());
    }
    if (!o.json.empty()) {
        nlohmann::json j;
        j["model"] = o.model;
        j["threads"] = threads;
        j["explain"] = compiled.choice.explain;
        auto runs = nlohmann::json::array();
        for (const auto& r : rows) runs.push_back(to_json(r));
        j["runs"] = runs;
        std::ofstream(o.json) << j.dump(2) << "\n";
        std::printf("wrote %s\n", o.json.c_str());
    }
}

}  // namespace

void add_bench_infer(CLI::App& bench) {
    auto o = std::make_shared<InferOptions>();
    auto* cmd = bench.add_subcommand("infer",
                                     "Encrypted batch inference end to end in one process, measured (client keygen + seeded encryption, server "
                                     "with the relinearisation key only, client decryption), checked against the plaintext reference runner");
    cmd->add_option("model", o->model, "ONNX model")->required()->check(CLI::ExistingFile);
    cmd->add_option("--images", o->images,
                    "The batch: fashion-mnist [DIR] | cifar10 DIR (test split) | folder DIR (every image) | image FILES | random")
        ->expected(1, -1)->capture_default_str();
    cmd->add_option("--calib", o->calib,
                    "Calibration data, its training part (default: the --images data set's training split; random for random)")
        ->expected(1, -1);
    add_preprocessing_options(cmd, o->preprocessing, "used for calibration and the batch");
    cmd->add_option("--count,--batch", o->count, "Images in the batch (0: all slots of the chosen ring)");
    cmd->add_option("--batches", o->batches, "Comma-separated batch sizes to run one after the other at the same N (e.g. 1024,2048,4096,8192)");
    cmd->add_option("--repeat", o->repeat, "Run every batch this many times in one process (the first run pays first-touch page faults)")
        ->check(CLI::Range(1, 100))->capture_default_str();
    cmd->add_option("--threads", o->threads, "Threads (exactly; 0: OpenMP's default)");
    cmd->add_option("--scale-bits", o->scale_bits, "log2 of the scale Δ (= bits of each rescaling prime)")->capture_default_str();
    cmd->add_option("--precision-bits", o->precision_bits,
                    "Integer bits the first prime keeps above Δ at the output (q_0 ≥ Δ·2^bits; the calibrated range is always kept)")
        ->capture_default_str();
    cmd->add_option("--log-n", o->log_n, "Ring degree 2^n (0: automatic)");
    cmd->add_option("--calib-samples", o->calib_samples, "Calibration images (training split)")->capture_default_str();
    cmd->add_option("--rates", o->rates, "Kernel rates for the prediction: a file of `hecnn bench rates --out` or `hecnn bench ckks --json` (default: this machine's, measured by `hecnn bench rates`, else built-in)");
    cmd->add_flag("--no-lazy-relin", o->no_lazy, "Never defer relinearisation");
    add_pools_option(cmd, o->pools);
    add_memory_option(cmd, o->memory, "The server's");
    add_spill_dir_option(cmd, o->spill_dir, "the system's temporary directory");
    cmd->add_flag("--lazy-inputs", o->lazy_inputs,
                  "The server deserialises each uploaded ciphertext when first needed (counted in the server time) instead of all before the run");
    cmd->add_option("--json", o->json, "Write the report(s) as JSON");
    cmd->add_option("--plot", o->plot, "Write an SVG of server time against batch size (with --batches)");
    cmd->callback([o] { run_infer(*o); });
}

}  // namespace hecnn::cli
