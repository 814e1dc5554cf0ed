// ModGemm against the 128-bit reference on the layer shapes that dominate inference, per
// RNS limb with n = 2N = 65536 columns, single-threaded.
//
// Counters (per CPU second of the single thread): GMAC_s = G residue multiply-accumulates
// (one w*x term of one column of one limb) per second; fp64_per_mac = FMAs per residue MAC
// of the chosen digit plan (x_digits x w_digits, folded or direct; 3 for a Karatsuba 2 x 2). ModGemm runs also
// report speedup = their rate over the reference rate of the same shape measured just
// before in the same process, and check their first 2048 columns against the reference.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/modgemm.h"
#include "hecnn/math/modulus.h"
#include "hecnn/math/primes.h"

using namespace hecnn::math;

namespace {

constexpr std::size_t kN = 65536;

struct Shape {
    const char* name;
    std::size_t rows, cols;
    int q_bits;
    int w_bits;  // |w| <= 2^w_bits
};

const Shape kShapes[] = {
    {"O64_K27_q40_w41", 64, 27, 40, 41},
    {"O64_K27_q60_w41", 64, 27, 60, 41},
    {"O48_K216_q40_w20", 48, 216, 40, 20},
    {"O128_K1152_q40_w16", 128, 1152, 40, 16},
};

struct Problem {
    Modulus q;
    std::vector<std::int64_t> w;
    std::vector<std::vector<u64>> in, out;
    std::vector<const u64*> in_ptr;
    std::vector<u64*> out_ptr;
};

Problem make_problem(const Shape& s) {
    Problem p;
    p.q = Modulus(generate_ntt_primes(s.q_bits, 16, 1)[0]);
    Prng prng(Seed{42});
    const std::int64_t w_max = std::int64_t{1} << s.w_bits;
    p.w.resize(s.rows * s.cols);
    for (auto& x : p.w) x = static_cast<std::int64_t>(prng.next_u64() % static_cast<u64>(2 * w_max + 1)) - w_max;
    p.in.assign(s.cols, std::vector<u64>(kN));
    for (auto& row : p.in) prng.uniform_mod(p.q, row);
    p.out.assign(s.rows, std::vector<u64>(kN));
    for (auto& row : p.in) p.in_ptr.push_back(row.data());
    for (auto& row : p.out) p.out_ptr.push_back(row.data());
    return p;
}

std::map<std::string, double>& reference_rates() {
    static std::map<std::string, double> rates;
    return rates;
}

double macs(const Shape& s) { return static_cast<double>(s.rows) * static_cast<double>(s.cols) * kN; }

// Thread CPU seconds, for the speedup (rate counters are only final after the run); CPU time
// like the counters, as other processes share the machine.
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void BM_Reference(benchmark::State& state, const Shape& s) {
    Problem p = make_problem(s);
    const double t0 = cpu_seconds();
    for (auto _ : state) {
        modgemm_reference(p.q, p.w, s.rows, s.cols, p.in_ptr.data(), p.out_ptr.data(), kN);
        benchmark::ClobberMemory();
    }
    const double rate = macs(s) * static_cast<double>(state.iterations()) / (cpu_seconds() - t0) * 1e-9;
    reference_rates()[s.name] = rate;
    state.counters["GMAC_s"] =
        benchmark::Counter(macs(s) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ModGemm(benchmark::State& state, const Shape& s) {
    Problem p = make_problem(s);
    const ModGemm gemm(p.w, s.rows, s.cols);
    const ModGemmPlan plan = gemm.plan(p.q);
    const double t0 = cpu_seconds();
    for (auto _ : state) {
        gemm.apply(p.q, p.in_ptr.data(), p.out_ptr.data(), kN);
        benchmark::ClobberMemory();
    }
    const double rate = macs(s) * static_cast<double>(state.iterations()) / (cpu_seconds() - t0) * 1e-9;
    if (auto it = reference_rates().find(s.name); it != reference_rates().end() && it->second > 0)
        state.counters["speedup"] = rate / it->second;
    // Check the first kCheck columns against the reference (all of them would double the run).
    constexpr std::size_t kCheck = 2048;
    std::vector<std::vector<u64>> want(s.rows, std::vector<u64>(kCheck));
    std::vector<u64*> want_ptr;
    for (auto& row : want) want_ptr.push_back(row.data());
    modgemm_reference(p.q, p.w, s.rows, s.cols, p.in_ptr.data(), want_ptr.data(), kCheck);
    bool same = true;
    for (std::size_t o = 0; o < s.rows; ++o)
        same = same && std::equal(want[o].begin(), want[o].end(), p.out[o].begin());
    if (!same) state.SkipWithError("ModGemm result differs from the reference");
    state.counters["GMAC_s"] =
        benchmark::Counter(macs(s) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["fp64_per_mac"] = static_cast<double>(plan.fp64_macs_per_mac);
    state.counters["x_digits"] = plan.x_digits;
    state.counters["w_digits"] = plan.w_digits;
    state.counters["folded"] = plan.folded;
    state.counters["karatsuba"] = plan.karatsuba;
}

}  // namespace

int main(int argc, char** argv) {
    for (const Shape& s : kShapes) {
        benchmark::RegisterBenchmark((std::string("Reference/") + s.name).c_str(), BM_Reference, s)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark((std::string("ModGemm/") + s.name).c_str(), BM_ModGemm, s)
            ->Unit(benchmark::kMillisecond);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
