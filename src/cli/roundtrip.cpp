// `hecnn roundtrip`: keygen → encode → encrypt → one activation (square, relinearise,
// rescale) and one linear layer → decrypt → decode, at 128-bit security, with the time
// and size of every step and the precision against the same computation in plaintext.
#include "roundtrip.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <iostream>

#include "format.h"
#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/math/csprng.h"

namespace hecnn::cli {
namespace {

struct Options {
    int log_n = 15;
    int threads = 0;
};

class Stopwatch {
public:
    double lap_ms() {
        auto now = std::chrono::steady_clock::now();
        double ms = std::chrono::duration<double, std::milli>(now - t_).count();
        t_ = now;
        return ms;
    }

private:
    std::chrono::steady_clock::time_point t_ = std::chrono::steady_clock::now();
};

void run(const Options& opt) {
    if (opt.threads > 0) omp_set_num_threads(opt.threads);
    ckks::ParametersLiteral lit;
    lit.log_n = opt.log_n;
    lit.data_prime_bits = {60, 40, 40, 40};
    lit.special_prime_bits = {60};
    lit.log_scale = 40;
    Stopwatch sw;
    auto ctx = ckks::Context::create(lit);
    std::cout << "parameters  " << ctx->describe() << "\n";
    ckks::KeyGenerator keygen(ctx);
    auto pk = keygen.create_public_key();
    auto rk = keygen.create_relin_key();
    const double t_keys = sw.lap_ms();
    const std::size_t ct_bytes = 2 * ctx->data_count() * ctx->n() * 8;
    std::cout << "keygen      " << human_ms(t_keys) << "  (relinearisation key: " << human_bytes(double(rk.b_words().size() * 16)) << " in memory)\n";

    const std::size_t slots = ctx->slots(), inputs = 4, outputs = 2;
    math::Prng prng;
    std::vector<std::vector<double>> x(inputs, std::vector<double>(slots));
    for (auto& v : x)
        for (auto& e : v) e = std::ldexp(static_cast<double>(prng.next_u64() >> 11), -52) - 1.0;
    ckks::Encoder encoder(ctx);
    ckks::Encryptor encryptor(ctx, keygen.secret_key());
    std::vector<ckks::Ciphertext> cts;
    for (auto& v : x) cts.push_back(encryptor.encrypt(encoder.encode(v)));
    const double t_enc = sw.lap_ms();
    std::cout << "encrypt     " << human_ms(t_enc) << "  (" << inputs << " ciphertexts × " << slots << " slots, "
              << human_bytes(double(ct_bytes)) << " each, half that seeded)\n";

    ckks::Evaluator eval(ctx);
    std::vector<ckks::Ciphertext> act;
    for (auto& c : cts) act.push_back(eval.square_relin_rescale(c, rk));
    const double t_act = sw.lap_ms();
    ckks::LinearMap map;
    map.inputs = inputs;
    map.outputs = outputs;
    map.weights = {0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.3, -0.6};
    map.bias = {0.1, -0.2};
    auto out = eval.linear(act, map);
    const double t_lin = sw.lap_ms();
    std::cout << "evaluate    " << human_ms(t_act + t_lin) << "  (x² on " << inputs << " ciphertexts: " << human_ms(t_act)
              << "; linear " << inputs << "→" << outputs << " with bias: " << human_ms(t_lin) << ")\n";

    ckks::Decryptor dec(ctx, keygen.secret_key());
    double max_err = 0;
    for (std::size_t o = 0; o < outputs; ++o) {
        auto got = encoder.decode(dec.decrypt(out[o]));
        for (std::size_t s = 0; s < slots; ++s) {
            double want = map.bias[o];
            for (std::size_t j = 0; j < inputs; ++j) want += map.weights[o * inputs + j] * x[j][s] * x[j][s];
            max_err = std::max(max_err, std::fabs(got[s] - want));
        }
    }
    const double t_dec = sw.lap_ms();
    std::cout << "decrypt     " << human_ms(t_dec) << "\n";
    std::printf("result      %zu slots × %zu outputs, max error %.3g (%.1f bits) against plaintext double precision\n", slots,
                outputs, max_err, -std::log2(max_err));
    if (!(max_err < 1e-4)) throw std::runtime_error("round trip lost precision: max error " + std::to_string(max_err));
}

}  // namespace

void add_roundtrip(CLI::App& app) {
    auto opt = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("roundtrip", "Encrypt, compute x² and a linear layer, decrypt: a timed CKKS round trip at 128-bit security");
    cmd->add_option("--log-n", opt->log_n, "Ring degree as log2 N")->check(CLI::Range(13, 16))->capture_default_str();
    cmd->add_option("--threads", opt->threads, "Threads (0: all cores)")->check(CLI::Range(0, 1024));
    cmd->callback([opt] { run(*opt); });
}

}  // namespace hecnn::cli
