// `hecnn bench ckks`: median timings of every engine operation, single-threaded by
// default, with two baselines measured in the same run:
//  - key switching in SEAL's layout (one special prime, one digit per prime: O(L²)),
//    on the same data primes, with the same engine;
//  - the linear layer computed the way a general-purpose library does it: one scalar
//    multiplication and one addition per multiply-accumulate, each fully reduced.
// The baseline figures of Microsoft SEAL 4.4.3 on this kind of machine are printed next to
// ours for reference (docs/BASELINES.md), as ratios.
#include "bench_ckks.h"

#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "format.h"
#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/galois.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/rates.h"
#include "hecnn/math/csprng.h"

namespace hecnn::cli {
namespace {

using Clock = std::chrono::steady_clock;
using ckks::Ciphertext;

struct Options {
    std::vector<int> log_n{13, 14, 15};
    std::string json;
    int threads = 1;
    int reps = 0;  // 0: per-operation defaults
    bool baselines = true;
};

// Data primes of the SEAL baseline's parameter sets (P3, P2, P1) and our special primes,
// chosen within the 128-bit budget: log2(QP) <= 218 / 438 / 881.
ckks::ParametersLiteral bench_literal(int log_n, bool seal_layout) {
    ckks::ParametersLiteral lit = he::reference_literal(log_n);
    if (seal_layout) {  // one special prime, one digit per data prime
        lit.special_prime_bits = {60};
        lit.dnum = static_cast<int>(lit.data_prime_bits.size());
    }
    return lit;
}

// SEAL 4.4.3 medians (ms) of docs/BASELINES.md, indexed by log N (P3, P2, P1 there; encode
// at log N 15: 19, the middle of the measured 15–23).
const std::map<std::string, std::map<int, double>>& seal_baseline() {
    static const std::map<std::string, std::map<int, double>> t = {
        {"relin_keygen", {{15, 743}, {14, 83}, {13, 7.2}}},
        {"encode", {{15, 19}, {14, 3.6}, {13, 0.80}}},
        {"encrypt_pk", {{15, 84.6}, {14, 20.7}, {13, 4.6}}},
        {"encrypt_sk", {{15, 41.0}, {14, 9.0}, {13, 1.9}}},
        {"add", {{15, 1.55}, {14, 0.45}, {13, 0.063}}},
        {"mul_scalar", {{15, 4.86}, {14, 1.40}, {13, 0.21}}},
        {"mul", {{15, 13.1}, {14, 4.85}, {13, 0.49}}},
        {"relin", {{15, 253}, {14, 38.6}, {13, 3.3}}},
        {"rescale", {{15, 26.6}, {14, 6.65}, {13, 0.82}}},
        {"square_relin_rescale", {{15, 289}, {14, 41.7}, {13, 4.6}}},
        {"decrypt_decode", {{15, 72.7}, {14, 11.2}, {13, 1.4}}},
        {"linear_per_mac", {{15, 9.31}, {14, 2.01}, {13, 0.354}}},
    };
    return t;
}

template <class Setup, class Run>
double median_ms(int reps, Setup setup, Run run) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        auto state = setup();
        auto t0 = Clock::now();
        run(state);
        t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

template <class Run>
double median_ms(int reps, Run run) {
    return median_ms(reps, [] { return 0; }, [&](int&) { run(); });
}

std::vector<double> uniform(std::size_t n, math::Prng& prng) {
    std::vector<double> v(n);
    for (auto& x : v) x = std::ldexp(static_cast<double>(prng.next_u64() >> 11), -52) - 1.0;
    return v;
}

double min_bits(const std::vector<double>& got, const std::vector<double>& want) {
    double m = 0;
    for (std::size_t i = 0; i < want.size(); ++i) m = std::max(m, std::fabs(got[i] - want[i]));
    return -std::log2(std::max(m, 1e-300));
}

nlohmann::json run_one(int log_n, const Options& opt) {
    const auto ctx = ckks::Context::create(bench_literal(log_n, false));
    const int reps = opt.reps > 0 ? opt.reps : (log_n >= 15 ? 5 : 11);
    const int slow_reps = opt.reps > 0 ? opt.reps : 3;
    std::cout << "\n== N = 2^" << log_n << ": " << ctx->describe() << "\n" << std::flush;
    math::Prng prng;
    ckks::KeyGenerator keygen(ctx);
    ckks::Encoder encoder(ctx);
    ckks::Evaluator eval(ctx);
    const auto pk = keygen.create_public_key();
    std::map<std::string, double> ms;

    ms["relin_keygen"] = median_ms(slow_reps, [&] { (void)keygen.create_relin_key(); });
    const auto rk = keygen.create_relin_key();
    ckks::Encryptor enc_pk(ctx, pk), enc_sk(ctx, keygen.secret_key());
    ckks::Decryptor dec(ctx, keygen.secret_key());
    const auto values = uniform(ctx->slots(), prng);
    ms["encode"] = median_ms(reps, [&] { (void)encoder.encode(values); });
    const auto pt = encoder.encode(values);
    ms["encrypt_pk"] = median_ms(reps, [&] { (void)enc_pk.encrypt(pt); });
    ms["encrypt_sk"] = median_ms(reps, [&] { (void)enc_sk.encrypt_seeded(pt); });
    const Ciphertext a = enc_pk.encrypt(pt), b = enc_pk.encrypt(encoder.encode(uniform(ctx->slots(), prng)));
    ms["add"] = median_ms(reps, [&] { return a; }, [&](Ciphertext& x) { eval.add_inplace(x, b); });
    const double qtop = static_cast<double>(ctx->data_moduli().back().value());
    ms["mul_scalar"] = median_ms(reps, [&] { return a; }, [&](Ciphertext& x) { eval.multiply_scalar_inplace(x, 0.73, qtop); });
    ms["mul"] = median_ms(reps, [&] { (void)eval.multiply(a, b); });
    const Ciphertext prod = eval.multiply(a, b);
    ms["relin"] = median_ms(reps, [&] { return prod; }, [&](Ciphertext& x) { eval.relinearize_inplace(x, rk); });
    ms["rescale"] = median_ms(reps, [&] { return a; }, [&](Ciphertext& x) { eval.rescale_inplace(x); });
    ms["square_relin_rescale"] = median_ms(reps, [&] { (void)eval.square_relin_rescale(a, rk); });
    ms["decrypt_decode"] = median_ms(reps, [&] { (void)encoder.decode(dec.decrypt(a)); });
    // Rotations: one, and 8 steps of the same ciphertext hoisted (one decomposition).
    const std::vector<int> steps8 = {1, 2, 3, 4, 5, 6, 7, 8};
    const auto gk = keygen.create_rotation_keys(steps8);
    ms["rotate"] = median_ms(reps, [&] { (void)eval.rotate(a, 1, gk); });
    ms["rotate_many_8"] = median_ms(reps, [&] { (void)eval.rotate_many(a, steps8, gk); });
    // The memory side of the encrypted-inference schedule (he::Rates): a level drop copies
    // a ciphertext into a fresh block; a spill serialises it, writes it to a file, reads
    // it back and loads it (through the page cache: beyond free RAM, at disk speed); a
    // cold run touches fresh pages (ms per GiB: page faults and zeroing).
    ms["copy"] = median_ms(reps, [&] {
        Ciphertext c = a;
        (void)c;
    });
    {
        std::string name = "hecnn-bench-spill-";
        name.append(std::to_string(::getpid()));
        const auto path = std::filesystem::temp_directory_path() / name;
        ms["spill"] = median_ms(reps, [&] {
            const auto bytes = ckks::serialize(a);
            std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
            (void)ckks::load_ciphertext(ctx, ckks::read_file(path, bytes.size()));
            std::filesystem::remove(path);
        });
    }
    ms["first_touch_gib"] = 4 * median_ms(3, [&] {
        const std::size_t bytes = std::size_t{256} << 20;
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
#pragma omp parallel for
        for (std::size_t off = 0; off < bytes; off += 4096) static_cast<volatile char*>(p)[off] = 1;
        munmap(p, bytes);
    });

    // The first conv of the CIFAR SqueezeNet: 27 inputs → 64 outputs, one rescale each.
    const std::size_t kin = 27, kout = 64;
    std::vector<Ciphertext> inputs;
    std::vector<std::vector<double>> in_values;
    for (std::size_t j = 0; j < kin; ++j) {
        in_values.push_back(uniform(ctx->slots(), prng));
        inputs.push_back(enc_sk.encrypt(encoder.encode(in_values.back())));
    }
    ckks::LinearMap map;
    map.inputs = kin;
    map.outputs = kout;
    map.weights = uniform(kin * kout, prng);
    map.bias = uniform(kout, prng);
    ms["linear_27x64"] = median_ms(slow_reps, [&] { (void)eval.linear(inputs, map); });
    ms["linear_per_mac"] = ms["linear_27x64"] / static_cast<double>(kin * kout);

    // Precision: fresh, after square+relinearise+rescale, and after the linear layer.
    nlohmann::json prec;
    prec["fresh"] = min_bits(encoder.decode(dec.decrypt(a)), values);
    std::vector<double> sq(values.size());
    for (std::size_t i = 0; i < sq.size(); ++i) sq[i] = values[i] * values[i];
    prec["square_relin_rescale"] = min_bits(encoder.decode(dec.decrypt(eval.square_relin_rescale(a, rk))), sq);
    // The same from a secret-key (seeded) encryption: what hecnn's clients upload.
    const Ciphertext a_sk = enc_sk.encrypt(pt);
    prec["fresh_sk"] = min_bits(encoder.decode(dec.decrypt(a_sk)), values);
    prec["square_relin_rescale_sk"] = min_bits(encoder.decode(dec.decrypt(eval.square_relin_rescale(a_sk, rk))), sq);
    {
        // At scale Δ a key switch keeps about log2(Δ·P/digit modulus) - log2(√N·σ) bits: low
        // with these relinearisation-sized digits (docs/ENGINE.md, rotations).
        std::vector<double> rot(values.size());
        for (std::size_t i = 0; i < rot.size(); ++i) rot[i] = values[(i + 1) % rot.size()];
        prec["rotate"] = min_bits(encoder.decode(dec.decrypt(eval.rotate(a, 1, gk))), rot);
    }
    {
        auto outs = eval.linear(inputs, map);
        std::vector<double> want(ctx->slots());
        double worst = 1e9;
        for (std::size_t o = 0; o < 4; ++o) {
            for (std::size_t s = 0; s < want.size(); ++s) {
                double acc = map.bias[o];
                for (std::size_t j = 0; j < kin; ++j) acc += map.weights[o * kin + j] * in_values[j][s];
                want[s] = acc;
            }
            worst = std::min(worst, min_bits(encoder.decode(dec.decrypt(outs[o])), want));
        }
        prec["linear_27x64"] = worst;
    }

    nlohmann::json base;
    if (opt.baselines) {
        // Same engine, SEAL's key-switching layout.
        const auto sctx = ckks::Context::create(bench_literal(log_n, true));
        auto skg = ckks::KeyGenerator(sctx);
        const auto srk = skg.create_relin_key();
        ckks::Encoder senc(sctx);
        ckks::Encryptor sencr(sctx, skg.secret_key());
        ckks::Evaluator sev(sctx);
        const Ciphertext sa = sencr.encrypt(senc.encode(values));
        base["seal_layout"] = {{"special_primes", 1}, {"dnum", sctx->dnum()}};
        const Ciphertext sprod = sev.square(sa);
        base["ms"]["relin"] = median_ms(reps, [&] { return sprod; }, [&](Ciphertext& x) { sev.relinearize_inplace(x, srk); });
        base["ms"]["square_relin_rescale"] = median_ms(reps, [&] { (void)sev.square_relin_rescale(sa, srk); });
        // One scalar multiply + one add per MAC, every product reduced (4 outputs suffice).
        const std::size_t bout = 4;
        const double t = median_ms(slow_reps, [&] {
            for (std::size_t o = 0; o < bout; ++o) {
                Ciphertext acc;
                for (std::size_t j = 0; j < kin; ++j) {
                    Ciphertext term = inputs[j];
                    eval.multiply_scalar_inplace(term, map.weights[o * kin + j], qtop);
                    if (j == 0) acc = std::move(term);
                    else eval.add_inplace(acc, term);
                }
                eval.add_scalar_inplace(acc, map.bias[o]);
                eval.rescale_inplace(acc);
            }
        });
        base["ms"]["linear_per_mac"] = t / static_cast<double>(kin * bout);
    }

    // Report.
    std::printf("%-22s %12s %14s %10s %14s %10s\n", "operation", "hecnn", "SEAL baseline", "SEAL/us", "in-run base", "base/us");
    for (auto& [name, v] : ms) {
        const auto& seal = seal_baseline();
        std::string a = "-", ar = "-", bl = "-", br = "-";
        if (auto it = seal.find(name); it != seal.end() && it->second.count(log_n)) {
            a = human_ms(it->second.at(log_n));
            char buf[32];
            std::snprintf(buf, sizeof(buf), "%.1fx", it->second.at(log_n) / v);
            ar = buf;
        }
        if (base.contains("ms") && base["ms"].contains(name)) {
            const double bv = base["ms"][name].get<double>();
            bl = human_ms(bv);
            char buf[32];
            std::snprintf(buf, sizeof(buf), "%.1fx", bv / v);
            br = buf;
        }
        std::printf("%-22s %12s %14s %10s %14s %10s\n", name.c_str(), human_ms(v).c_str(), a.c_str(), ar.c_str(), bl.c_str(), br.c_str());
    }
    std::printf("precision (min bits, inputs in [-1,1]): public-key encryption: fresh %.1f, square+relin+rescale %.1f; "
                "secret-key: fresh %.1f, square+relin+rescale %.1f; linear 27x64 %.1f; rotate %.1f\n",
                prec["fresh"].get<double>(), prec["square_relin_rescale"].get<double>(), prec["fresh_sk"].get<double>(),
                prec["square_relin_rescale_sk"].get<double>(), prec["linear_27x64"].get<double>(), prec["rotate"].get<double>());
    const std::size_t key_seeded = ckks::serialized_bytes(gk, true) / steps8.size(), key_full = ckks::serialized_bytes(gk, false) / steps8.size();
    std::printf("rotations: hoisted 8 steps %.2fx the time of 8 single rotations; Galois key per step %.1f MiB seeded, %.1f MiB expanded\n",
                ms["rotate_many_8"] / (8 * ms["rotate"]), static_cast<double>(key_seeded) / (1 << 20), static_cast<double>(key_full) / (1 << 20));

    nlohmann::json j;
    j["log_n"] = log_n;
    for (auto& m : ctx->data_moduli()) j["data_primes"].push_back(m.value());
    for (auto& m : ctx->special_moduli()) j["special_primes"].push_back(m.value());
    j["dnum"] = ctx->dnum();
    j["threads"] = opt.threads;
    j["ms"] = ms;
    j["precision_bits"] = prec;
    j["galois_key_bytes_per_step"] = {{"seeded", key_seeded}, {"full", key_full}};
    if (!base.is_null()) j["baseline"] = base;
    return j;
}

}  // namespace

void add_bench_ckks(CLI::App& bench) {
    auto opt = std::make_shared<Options>();
    auto* cmd = bench.add_subcommand("ckks", "Time every CKKS operation (medians) against in-run baselines and the SEAL baseline's figures (docs/BASELINES.md)");
    cmd->add_option("--log-n", opt->log_n, "Ring degrees to measure, as log2 N (13, 14, 15: SEAL's P3, P2, P1 chains)")
        ->check(CLI::IsMember({13, 14, 15}))
        ->capture_default_str();
    cmd->add_option("--json", opt->json, "Write the results to this JSON file (an array, one object per log N)");
    cmd->add_option("--threads", opt->threads, "Threads (1 = the single-threaded figures)")->check(CLI::Range(1, 1024))->capture_default_str();
    cmd->add_option("--reps", opt->reps, "Repetitions per operation (0: 11, or 5 at N=2^15; 3 for key generation and the linear layer)")
        ->check(CLI::Range(0, 1000));
    cmd->add_flag("!--no-baselines", opt->baselines, "Skip the in-run baselines");
    cmd->callback([opt] {
        // Exactly the threads asked for; a busy machine is reported, not worked around.
        omp_set_dynamic(0);
        omp_set_num_threads(opt->threads);
        double load[1] = {0};
        if (getloadavg(load, 1) == 1 && load[0] > 0.5)
            std::cout << "warning: load average " << load[0] << " on " << omp_get_num_procs()
                      << " cores: other work is running, figures will be noisy (threads > 1 especially)\n";
        std::cout << "hecnn bench ckks: " << opt->threads << " thread(s); times are medians.\n"
                  << "SEAL baseline = Microsoft SEAL 4.4.3 on this kind of machine (docs/BASELINES.md), single thread.\n"
                  << "in-run base = the same engine in SEAL's layout (relin) or one reduced multiply+add per MAC (linear).\n";
        nlohmann::json all = nlohmann::json::array();
        for (int log_n : opt->log_n) all.push_back(run_one(log_n, *opt));
        if (!opt->json.empty()) {
            std::ofstream f(opt->json);
            if (!f) throw std::runtime_error("cannot write " + opt->json);
            f << all.dump(2) << "\n";
            std::cout << "\nwrote " << opt->json << "\n";
        }
    });
}

}  // namespace hecnn::cli
