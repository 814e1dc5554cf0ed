// `hecnn bench rates`: the simulator's kernel rates measured on this machine the way the
// runtime uses the kernels (see rates.h): through the backend seam (he::CpuBackend), its
// parallel_for spreading a wave's operations over the threads.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <stdexcept>

#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/cpu_backend.h"
#include "hecnn/he/memory.h"
#include "hecnn/he/rates.h"
#include "hecnn/math/aligned_vector.h"
#include "hecnn/math/csprng.h"
#include "spill.h"

namespace hecnn::he {
namespace {

using Clock = std::chrono::steady_clock;
using ckks::Ciphertext;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Wall time per item of run(i) for i < items, spread by the backend as a runtime wave is
// (every thread on its own items, the engine's calls inside single-threaded); prepare()
// untimed before each repetition; median over the repetitions.
template <class Prepare, class Run>
double wave_ms(const Backend& backend, int reps, std::size_t items, Prepare prepare, Run run) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        prepare();
        const auto t0 = Clock::now();
        backend.parallel_for(items, run);
        t.push_back(ms_since(t0) / static_cast<double>(items));
    }
    return median(t);
}

// ms per GiB of memory the process never held: blocks from the engine's allocation
// (advised for huge pages), every page touched by the threads, as a cold run's outputs are.
double first_touch_ms_per_gib(const Backend& backend, int reps) {
    constexpr std::size_t kBlock = std::size_t{4} << 20, kBlocks = 64;  // 256 MiB a repetition
    std::vector<void*> held;  // kept until the end: each repetition takes fresh memory
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        std::vector<void*> blocks(kBlocks);
        for (auto& b : blocks) held.push_back(b = math::aligned_acquire(kBlock));
        const auto t0 = Clock::now();
        backend.parallel_for(kBlocks, [&](std::size_t b) {
            for (std::size_t off = 0; off < kBlock; off += 4096) static_cast<volatile unsigned char*>(blocks[b])[off] = 1;
        });
        t.push_back(ms_since(t0) * static_cast<double>(std::size_t{1} << 30) / static_cast<double>(kBlock * kBlocks));
    }
    for (void* b : held) math::aligned_release(b, kBlock);
    return median(t);
}

Rates measure_one(int log_n, int threads, const RateBenchOptions& opt, double first_touch) {
    auto say = [&](const std::string& what) {
        if (opt.progress) opt.progress("N=2^" + std::to_string(log_n) + " " + what);
    };
    const auto ctx = ckks::Context::create(reference_literal(log_n));
    const int reps = std::max(1, opt.reps);
    // Enough operations per wave that a repetition is long against a thread wake-up: the
    // kernels of a few microseconds per limb (rescale, copy) get eight times as many.
    const std::size_t items = static_cast<std::size_t>(std::max(8, 4 * threads)), many = 8 * items;
    math::Prng prng;
    ckks::KeyGenerator keygen(ctx);
    const auto rk = keygen.create_relin_key();
    const ckks::Encoder encoder(ctx);
    const ckks::Encryptor enc(ctx, keygen.secret_key());
    const CpuBackend backend(ctx);
    const Backend& eval = backend;
    auto uniform = [&] {
        std::vector<double> v(ctx->slots());
        for (auto& x : v) x = std::ldexp(static_cast<double>(prng.next_u64() >> 11), -52) - 1.0;
        return v;
    };
    // A pool of distinct inputs (coefficient form, top level, as the runtime's linear
    // inputs): item i reads pool[(i·7 + j) mod P], so threads do not share hot inputs.
    constexpr std::size_t kPool = 32;
    std::vector<Ciphertext> pool;
    for (std::size_t j = 0; j < kPool; ++j) pool.push_back(enc.encrypt(encoder.encode(uniform())));
    auto input = [&](std::size_t i, std::size_t j) -> const Ciphertext& { return pool[(i * 7 + j) % kPool]; };
    std::vector<Ciphertext> work(many);
    auto none = [] {};

    Rates r;
    r.log_n = log_n;
    r.limbs = static_cast<int>(ctx->data_moduli().size());
    r.threads = threads;
    r.first_touch_ms_per_gib = first_touch;

    say("square (no relinearisation)");
    r.square_ms = wave_ms(backend, reps, items, none, [&](std::size_t i) { work[i] = eval.square(input(i, 0)); });
    say("square + relinearise + rescale");
    r.square_relin_rescale_ms = wave_ms(backend, reps, items, none, [&](std::size_t i) { work[i] = eval.square_relin_rescale(input(i, 0), rk); });
    say("relinearise");
    r.relin_ms = wave_ms(backend, reps, items, [&] { for (std::size_t i = 0; i < items; ++i) work[i] = eval.square(input(i, 0)); },
                         [&](std::size_t i) { eval.relinearize_inplace(work[i], rk); });
    say("rescale");
    r.rescale_ms = wave_ms(backend, reps, many, [&] { for (std::size_t i = 0; i < many; ++i) work[i] = input(i, 0); },
                           [&](std::size_t i) { eval.rescale_inplace(work[i]); });
    say("copy");
    r.copy_ms = wave_ms(backend, reps, many, [&] { for (auto& w : work) w = Ciphertext(); }, [&](std::size_t i) { work[i] = eval.dropped_copy(input(i, 0), input(i, 0).level()); });
    say("input (seeded upload: checksum, unpack, expand)");
    {
        std::vector<std::vector<std::uint8_t>> uploads;
        for (std::size_t j = 0; j < 8; ++j) uploads.push_back(ckks::serialize(enc.encrypt_seeded(encoder.encode(uniform()))));
        r.input_ms = wave_ms(backend, reps, many, [&] { for (auto& w : work) w = Ciphertext(); },
                             [&](std::size_t i) { work[i] = eval.deserialize(uploads[i % uploads.size()]); });
    }
    say("spill");
    {
        detail::SpillStore store(backend, opt.spill_dir);
        r.spill_ms = wave_ms(backend, reps, items, none, [&](std::size_t i) {
            store.write(static_cast<int>(i), input(i, 0));
            work[i] = store.read(static_cast<int>(i));
        });
    }

    // Linear maps: a conv's small groups (25 inputs → 6 outputs) one per thread, and one
    // dense map (128 → 32) that the engine parallelises inside; together they give the
    // per-MAC cost c and the per-pass cost p of the simulator's c·(I·O + p·(I+O)).
    say("linear maps");
    auto map_of = [&](std::size_t in, std::size_t out) {
        ckks::LinearMap m;
        m.inputs = in, m.outputs = out;
        for (std::size_t k = 0; k < in * out; ++k) m.weights.push_back(std::ldexp(static_cast<double>(prng.next_u64() >> 11), -53) - 0.5);
        m.bias.assign(out, 0.25);
        return m;
    };
    const auto small = map_of(25, 6), large = map_of(128, 32);
    std::vector<std::vector<Ciphertext>> outs(items);
    const double t_small = wave_ms(backend, reps, items, none, [&](std::size_t i) {
        std::vector<const Ciphertext*> in;
        for (std::size_t j = 0; j < small.inputs; ++j) in.push_back(&input(i, j));
        outs[i] = eval.linear(std::span<const Ciphertext* const>(in), small);
    });
    std::vector<const Ciphertext*> large_in;
    for (std::size_t j = 0; j < large.inputs; ++j) large_in.push_back(&pool[j % kPool]);
    std::vector<double> tl;
    for (int k = 0; k < reps; ++k) {
        const auto t0 = Clock::now();
        outs[0] = eval.linear(std::span<const Ciphertext* const>(large_in), large);
        tl.push_back(ms_since(t0));
    }
    const double t_large = median(tl);
    const double si = 25.0 * 6.0, sp = 25.0 + 6.0, li = 128.0 * 32.0, lp = 128.0 + 32.0;
    double pass = (si * t_large - li * t_small) / (lp * t_small - sp * t_large);
    if (!std::isfinite(pass) || pass < 0 || pass > 64) pass = Rates::defaults().linear_pass_macs;  // noise: keep the model's figure
    const double core = t_large / (li + pass * lp);
    r.linear_pass_macs = pass;
    r.mac_ms = core * (1.0 + pass * (27.0 + 64.0) / (27.0 * 64.0));
    r.source = "measured";
    return r;
}

}  // namespace

ckks::ParametersLiteral reference_literal(int log_n) {
    if (log_n < 13 || log_n > 15) throw std::invalid_argument("reference_literal: log N " + std::to_string(log_n) + " outside 13…15");
    ckks::ParametersLiteral lit;
    lit.log_n = log_n;
    const int forties = log_n == 13 ? 2 : log_n == 14 ? 7 : 16;
    lit.data_prime_bits.push_back(60);
    lit.data_prime_bits.insert(lit.data_prime_bits.end(), forties, 40);
    lit.special_prime_bits = log_n == 13 ? std::vector<int>{60} : log_n == 14 ? std::vector<int>{49, 49} : std::vector<int>{60, 60};
    lit.log_scale = 40;
    return lit;
}

std::vector<Rates> measure_rates(const RateBenchOptions& opt) {
    if (opt.log_n.empty()) throw std::invalid_argument("measure_rates: no ring degree");
    for (int l : opt.log_n) (void)reference_literal(l);  // every ring refused before anything is measured
    configure_allocator_for_inference();
    // The thread setting is the backend's (process-wide for the CPU one); restored after.
    const CpuBackend first(ckks::Context::create(reference_literal(opt.log_n.front())));
    const int before = first.set_threads(opt.threads);
    const int threads = opt.threads > 0 ? opt.threads : before;
    std::vector<Rates> all;
    try {
        if (opt.progress) opt.progress("first touch of fresh memory");
        const double first_touch = first_touch_ms_per_gib(first, 3);  // before anything grows the heap
        for (int l : opt.log_n) all.push_back(measure_one(l, threads, opt, first_touch));
    } catch (...) {
        first.set_threads(before);
        throw;
    }
    first.set_threads(before);
    return all;
}

}  // namespace hecnn::he
