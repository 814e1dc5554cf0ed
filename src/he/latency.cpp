#include "hecnn/he/latency.h"

#include <chrono>
#include <ctime>
#include <cstdint>
#include <tuple>
#include <stdexcept>

#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/channel_packing.h"
#include "hecnn/he/channel_plan.h"
#include "hecnn/he/channel_runtime.h"

namespace hecnn::he {
namespace {

double cpu_now() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }  // every thread of the process

double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

LatencyReport run_latency(const nn::Model& model, std::span<const double> calib, std::size_t calib_samples, std::span<const double> images,
                          std::size_t count, std::span<const int> labels, const LatencyOptions& opt) {
    using clock = std::chrono::steady_clock;
    CompileOptions co;
    co.lazy_relin = false;  // channel packing squares whole ciphertexts, eagerly
    const Plan plan = compile(model, co);
    const auto F = static_cast<std::size_t>(plan.input_count);
    if (images.size() != count * F || calib.size() != calib_samples * F)
        throw std::invalid_argument("run_latency: images or calibration data do not match the model's input size");
    std::vector<double> ranges;
    if (calib_samples > 0) run_plaintext(plan, calib, calib_samples, &ranges);
    ParamOptions po = opt.params;
    po.batch = 1;
    ParamChoice choice = choose_parameters(plan, ranges, po);
    choice.literal.dnum = 0;
    choice.literal.digit_size = rotation_digit_size(choice.literal);
    const auto ctx = ckks::Context::create(choice.literal);
    const ChannelPlan cp = make_channel_plan(plan, ctx->slots());

    LatencyReport r;
    r.parameters = ctx->describe();
    r.literal = choice.literal;
    r.parameter_explain = choice.explain;
    r.layout = cp.summary();
    r.log_n = ctx->log_n();
    r.depth = cp.depth;
    r.dnum = ctx->dnum();
    r.digit_size = ctx->digit_size();
    r.secure_128 = ctx->secure_128();
    r.images = count;
    r.input_cts = static_cast<std::size_t>(cp.input_cts);
    r.output_cts = cp.output_cts.size();
    const auto steps = cp.rotation_steps();
    r.rotation_steps = steps.size();
    std::tie(r.hoisted_rotations, r.single_rotations) = cp.rotation_counts();
    r.masks = cp.masks();

    // Client: keys, serialised as they would be uploaded.
    auto t0 = clock::now();
    auto keygen = opt.insecure_test_only_key_seed ? ckks::KeyGenerator::insecure_test_only_from_seed(ctx, *opt.insecure_test_only_key_seed)
                                                  : ckks::KeyGenerator(ctx);
    const auto rk_bytes = ckks::serialize(keygen.create_relin_key(), {.seeded = true});
    const auto gk_client = keygen.create_rotation_keys(steps);
    const auto gk_bytes = ckks::serialize(gk_client, {.seeded = true});
    r.keygen_seconds = since(t0);
    r.relin_key_bytes_seeded = rk_bytes.size();
    r.galois_key_bytes_seeded = gk_bytes.size();
    r.galois_key_bytes_full = ckks::serialized_bytes(gk_client, false);
    ckks::Encoder encoder(ctx);
    ckks::Encryptor encryptor(ctx, keygen.secret_key());
    ckks::Decryptor decryptor(ctx, keygen.secret_key());

    // Server: the keys from their bytes, the masks encoded once.
    t0 = clock::now();
    const auto rk = ckks::load_relin_key(ctx, rk_bytes);
    const auto gk = ckks::load_galois_keys(ctx, gk_bytes);
    ChannelRuntime rt(cp, ctx, rk, gk);
    r.setup_seconds = since(t0);
    r.mask_bytes = rt.mask_bytes();

    std::vector<double> logits;
    for (std::size_t i = 0; i < count; ++i) {
        const std::span<const double> x = images.subspan(i * F, F);
        t0 = clock::now();
        std::vector<std::vector<std::uint8_t>> upload;
        for (const auto& s : encrypt_image_seeded(encoder, encryptor, cp, x)) upload.push_back(ckks::serialize(s));
        r.encrypt_seconds.push_back(since(t0));
        std::size_t bytes = 0;
        for (const auto& u : upload) bytes += u.size();
        r.upload_bytes_per_image = bytes;

        t0 = clock::now();
        const double cpu0 = cpu_now();
        std::vector<ckks::Ciphertext> in;
        for (const auto& u : upload) in.push_back(ckks::load_ciphertext(ctx, u));
        auto out = rt.run(std::move(in));
        std::vector<std::vector<std::uint8_t>> result;
        for (const auto& c : out) result.push_back(ckks::serialize(c));
        r.server_seconds.push_back(since(t0));
        r.server_cpu_seconds.push_back(cpu_now() - cpu0);
        bytes = 0;
        for (const auto& u : result) bytes += u.size();
        r.result_bytes_per_image = bytes;

        t0 = clock::now();
        std::vector<ckks::Ciphertext> back;
        for (const auto& u : result) back.push_back(ckks::load_ciphertext(ctx, u));
        const auto y = decrypt_image(encoder, decryptor, cp, back);
        r.decrypt_seconds.push_back(since(t0));
        logits.insert(logits.end(), y.begin(), y.end());
    }
    if (rt.steps_used() != steps) throw std::logic_error("run_latency: the run used other rotation steps than the plan asked keys for");
    r.check = check_against_reference(model, images, count, logits, labels);
    return r;
}

}  // namespace hecnn::he
