// CKKS canonical embedding: the O(N log N) special FFT against the O(N^2) direct
// evaluation/inverse (same conventions), measured in the same run.
//   BM_Encode/BM_Decode: N/2 complex slots <-> N real coefficients, arg = log N.
//   BM_NaiveEncode/BM_NaiveDecode: direct sums with a precomputed zeta^e table.
#include <benchmark/benchmark.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/embedding.h"

using namespace hecnn::math;
using cd = std::complex<double>;

namespace {

double unit(Prng& prng) { return std::ldexp(static_cast<double>(prng.next_u64() >> 11), -52) - 1.0; }

std::vector<cd> random_slots(std::size_t n) {
    Prng prng(Seed{42});
    std::vector<cd> z(n);
    for (auto& x : z) {
        const double re = unit(prng);
        x = {re, unit(prng)};
    }
    return z;
}

struct Naive {
    std::size_t big_n;
    std::vector<cd> zeta;  // zeta^e, e < 2N
    std::vector<std::uint64_t> g;
    explicit Naive(int log_n) : big_n(std::size_t{1} << log_n), zeta(2 * big_n), g(big_n / 2) {
        for (std::size_t e = 0; e < 2 * big_n; ++e) zeta[e] = std::polar(1.0, std::numbers::pi * e / big_n);
        std::uint64_t x = 1;
        for (auto& v : g) v = x, x = x * 5 % (2 * big_n);
    }
    void decode(const std::vector<double>& m, std::vector<cd>& z) const {
        const std::size_t mask = 2 * big_n - 1;
        for (std::size_t j = 0; j < g.size(); ++j) {
            double re = 0, im = 0;
            std::size_t e = 0;
            for (std::size_t k = 0; k < big_n; ++k, e = (e + g[j]) & mask) {
                re += m[k] * zeta[e].real();
                im += m[k] * zeta[e].imag();
            }
            z[j] = {re, im};
        }
    }
    void encode(const std::vector<cd>& z, std::vector<double>& m) const {
        const std::size_t mask = 2 * big_n - 1;
        for (std::size_t k = 0; k < big_n; ++k) {
            double acc = 0;
            for (std::size_t j = 0; j < g.size(); ++j) {
                const cd w = zeta[(2 * big_n - ((k * g[j]) & mask)) & mask];
                acc += z[j].real() * w.real() - z[j].imag() * w.imag();
            }
            m[k] = 2.0 * acc / static_cast<double>(big_n);
        }
    }
};

void BM_Encode(benchmark::State& state) {
    const CanonicalEmbedding emb(static_cast<int>(state.range(0)));
    const auto z = random_slots(emb.slot_count());
    std::vector<double> m(emb.degree());
    for (auto _ : state) {
        emb.encode(z, m);
        benchmark::DoNotOptimize(m.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(emb.slot_count()));
}

void BM_Decode(benchmark::State& state) {
    const CanonicalEmbedding emb(static_cast<int>(state.range(0)));
    const auto z = random_slots(emb.slot_count());
    std::vector<double> m(emb.degree());
    emb.encode(z, m);
    std::vector<cd> out(emb.slot_count());
    for (auto _ : state) {
        emb.decode(m, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(emb.slot_count()));
}

void BM_NaiveEncode(benchmark::State& state) {
    const Naive naive(static_cast<int>(state.range(0)));
    const auto z = random_slots(naive.big_n / 2);
    std::vector<double> m(naive.big_n);
    for (auto _ : state) {
        naive.encode(z, m);
        benchmark::DoNotOptimize(m.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(naive.big_n / 2));
}

void BM_NaiveDecode(benchmark::State& state) {
    const Naive naive(static_cast<int>(state.range(0)));
    const CanonicalEmbedding emb(static_cast<int>(state.range(0)));
    const auto z = random_slots(naive.big_n / 2);
    std::vector<double> m(naive.big_n);
    emb.encode(z, m);
    std::vector<cd> out(naive.big_n / 2);
    for (auto _ : state) {
        naive.decode(m, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(naive.big_n / 2));
}

void BM_Construct(benchmark::State& state) {
    for (auto _ : state) {
        CanonicalEmbedding emb(static_cast<int>(state.range(0)));
        benchmark::DoNotOptimize(&emb);
    }
}

}  // namespace

BENCHMARK(BM_Encode)->Arg(10)->DenseRange(13, 16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Decode)->Arg(10)->DenseRange(13, 16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NaiveEncode)->Arg(10)->Arg(12)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NaiveDecode)->Arg(10)->Arg(12)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Construct)->Arg(15)->Arg(17)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
