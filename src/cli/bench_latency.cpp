#include "bench_latency.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "format.h"
#include "preprocessing_options.h"
#include "hecnn/he/latency.h"
#include "hecnn/he/process.h"
#include "hecnn/io/calibration.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/planner.h"

namespace hecnn::cli {
namespace {

struct LatencyCliOptions {
    std::string model, json;
    std::vector<std::string> images{"fashion-mnist"}, calib;
    std::size_t count = 1, calib_samples = 1024;
    int threads = 0, log_n = 0;
    double scale_bits = 40, precision_bits = 20;
    nn::PreprocessingOverride preprocessing;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void run(const LatencyCliOptions& o) {
    he::ExecutionOptions start;
    start.threads = o.threads;
    const int threads = he::start_inference_process(start).exec.threads;
    const auto m = io::load_onnx(o.model);
    const auto pre = io::resolve_preprocessing(m, o.preprocessing);
    const auto calib = io::calibration_inputs(!o.calib.empty() ? o.calib : o.images, o.calib_samples, m.input_shape(), pre);
    const auto test = io::batch_inputs(o.images, o.count, m.input_shape(), pre);
    he::LatencyOptions lo;
    lo.params.scale_bits = o.scale_bits;
    lo.params.precision_bits = o.precision_bits;
    lo.params.log_n = o.log_n;
    std::printf("calibrated on %s; running %zu image(s) one at a time, %d thread(s)\n", calib.source.c_str(), test.samples, threads);
    std::fflush(stdout);
    const auto r = he::run_latency(m, calib.inputs, calib.samples, test.inputs, test.samples, test.labels, lo);

    std::printf("\n=== latency mode (channel-wise packing): N=2^%d, depth %d, %s, %d thread(s) ===\n", r.log_n, r.depth,
                r.secure_128 ? "128-bit secure" : "INSECURE test parameters", threads);
    std::printf("parameters        %s\n", r.parameters.c_str());
    std::printf("                  key-switching digits of %d prime(s) (dnum %d): every digit modulus ≤ P, as rotations need\n", r.digit_size, r.dnum);
    std::printf("layout            %zu input ciphertext(s), %zu output ciphertext(s); %zu masks (%s encoded on the server)\n%s", r.input_cts,
                r.output_cts, r.masks, human_bytes(static_cast<double>(r.mask_bytes)).c_str(), r.layout.c_str());
    std::printf("rotations         %zu distinct steps (= Galois keys); per image %zu hoisted + %zu single\n", r.rotation_steps, r.hoisted_rotations,
                r.single_rotations);
    std::printf("keys uploaded     Galois keys %s seeded (%s full); relinearisation key %s seeded\n",
                human_bytes(static_cast<double>(r.galois_key_bytes_seeded)).c_str(), human_bytes(static_cast<double>(r.galois_key_bytes_full)).c_str(),
                human_bytes(static_cast<double>(r.relin_key_bytes_seeded)).c_str());
    std::printf("client keygen     %s\n", human_ms(r.keygen_seconds * 1e3).c_str());
    std::printf("server setup      %s (deserialise the keys, encode the masks: once per model)\n", human_ms(r.setup_seconds * 1e3).c_str());
    for (std::size_t i = 0; i < r.images; ++i)
        std::printf("image %-4zu        encrypt %s, server %s (CPU %s over all threads), decrypt %s\n", i, human_ms(r.encrypt_seconds[i] * 1e3).c_str(),
                    human_ms(r.server_seconds[i] * 1e3).c_str(), human_ms(r.server_cpu_seconds[i] * 1e3).c_str(),
                    human_ms(r.decrypt_seconds[i] * 1e3).c_str());
    std::printf("latency           server median %s per image (min %s, max %s); upload %s, result %s per image\n",
                human_ms(median(r.server_seconds) * 1e3).c_str(), human_ms(*std::min_element(r.server_seconds.begin(), r.server_seconds.end()) * 1e3).c_str(),
                human_ms(*std::max_element(r.server_seconds.begin(), r.server_seconds.end()) * 1e3).c_str(),
                human_bytes(static_cast<double>(r.upload_bytes_per_image)).c_str(), human_bytes(static_cast<double>(r.result_bytes_per_image)).c_str());
    std::printf("agreement         %zu of %zu images classified as the plaintext reference\n", r.check.agreements, r.images);
    std::printf("logit error       max |HE − reference| = %.3g (max |logit| %.3g)\n", r.check.max_abs_error, r.check.max_abs_logit);
    if (r.check.accuracy_he >= 0)
        std::printf("accuracy          encrypted %.2f %%, plaintext %.2f %%\n", 100 * r.check.accuracy_he, 100 * r.check.accuracy_ref);
    if (!o.json.empty()) {
        nlohmann::json j;
        j["model"] = o.model;
        j["threads"] = threads;
        j["parameters"] = r.parameters;
        j["log_n"] = r.log_n;
        j["depth"] = r.depth;
        j["secure_128"] = r.secure_128;
        j["dnum"] = r.dnum;
        j["rotation_steps"] = r.rotation_steps;
        j["rotations"] = {{"hoisted", r.hoisted_rotations}, {"single", r.single_rotations}};
        j["masks"] = r.masks;
        j["galois_key_bytes"] = {{"seeded", r.galois_key_bytes_seeded}, {"full", r.galois_key_bytes_full}};
        j["relin_key_bytes_seeded"] = r.relin_key_bytes_seeded;
        j["upload_bytes_per_image"] = r.upload_bytes_per_image;
        j["setup_seconds"] = r.setup_seconds;
        j["server_seconds"] = r.server_seconds;
        j["server_cpu_seconds"] = r.server_cpu_seconds;
        j["encrypt_seconds"] = r.encrypt_seconds;
        j["decrypt_seconds"] = r.decrypt_seconds;
        j["agreements"] = r.check.agreements;
        j["max_abs_logit_error"] = r.check.max_abs_error;
        std::ofstream(o.json) << j.dump(2) << "\n";
        std::printf("wrote %s\n", o.json.c_str());
    }
}

}  // namespace

void add_bench_latency(CLI::App& bench) {
    auto o = std::make_shared<LatencyCliOptions>();
    auto* cmd = bench.add_subcommand("latency",
                                     "The latency mode: each image alone, channel-wise packed (rotations, Galois keys of the plan's steps only), "
                                     "end to end in one process, checked against the plaintext reference runner");
    cmd->add_option("model", o->model, "ONNX model")->required()->check(CLI::ExistingFile);
    cmd->add_option("--images", o->images, "The images: fashion-mnist [DIR] | cifar10 DIR | folder DIR | image FILES | random")
        ->expected(1, -1)->capture_default_str();
    cmd->add_option("--calib", o->calib, "Calibration data, its training part (default: the --images data set's)")->expected(1, -1);
    add_preprocessing_options(cmd, o->preprocessing, "used for calibration and the images");
    cmd->add_option("--count", o->count, "Images, each run alone")->check(CLI::Range(1, 10000))->capture_default_str();
    cmd->add_option("--threads", o->threads, "Threads (exactly; 0: OpenMP's default)");
    cmd->add_option("--scale-bits", o->scale_bits, "log2 of the scale Δ (= bits of each rescaling prime)")->capture_default_str();
    cmd->add_option("--precision-bits", o->precision_bits, "Integer bits the first prime keeps above Δ at the output")->capture_default_str();
    cmd->add_option("--log-n", o->log_n, "Ring degree 2^n (0: the smallest 128-bit ring for the depth)");
    cmd->add_option("--calib-samples", o->calib_samples, "Calibration images (training split)")->capture_default_str();
    cmd->add_option("--json", o->json, "Write the report as JSON");
    cmd->callback([o] { run(*o); });
}

}  // namespace hecnn::cli
