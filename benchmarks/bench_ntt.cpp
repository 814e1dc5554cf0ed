// NTT throughput: the scalar reference vs the Highway kernel on every vector target this
// CPU runs (AVX3, AVX2; NTTTables::forward/inverse dispatch to the best), forward and
// inverse, N = 2^13 .. 2^16, 40- and 60-bit primes. After the usual Google Benchmark
// output a table gives ns per transform and the speed-up over scalar (best repetition of
// each, which filters out interference from other processes on a shared machine; random
// interleaving spreads the repetitions so that one noisy moment does not spoil them all).
//
//   bench_ntt --benchmark_repetitions=10 --benchmark_min_time=0.1
//             --benchmark_enable_random_interleaving=true [--benchmark_filter='scalar|AVX3']
#include <benchmark/benchmark.h>
#include <hwy/aligned_allocator.h>
#include <hwy/targets.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "best_time_reporter.h"
#include "hecnn/math/csprng.h"
#include "hecnn/math/ntt.h"
#include "hecnn/math/primes.h"
#include "math/hwy_targets.h"
#include "math/ntt_kernels.h"

using namespace hecnn::math;

namespace {

using Kernel = void (*)(const NTTTables&, u64*);

void dispatched_forward(const NTTTables& t, u64* a) { t.forward(a); }
void dispatched_inverse(const NTTTables& t, u64* a) { t.inverse(a); }

using hecnn::test::PinTarget;  // pinning to 0 is "no pin"

// Applies the kernel repeatedly to one buffer: both directions map [0, q) to [0, q), so
// the input stays valid. The buffer is 64-byte aligned like the engine's residue storage.
void run_kernel(benchmark::State& state, Kernel kernel, std::int64_t target, int log_n, int bits) {
    const Modulus q(generate_ntt_primes(bits, log_n, 1)[0]);
    const NTTTables t(log_n, q);
    auto buf = hwy::AllocateAligned<u64>(t.n());
    Prng prng(Seed{7});
    prng.uniform_mod(q, {buf.get(), t.n()});
    const PinTarget pin(target);
    if (target != 0 && detail::ntt_dispatched_target() != target) {
        state.SkipWithError("could not pin the Highway target");
        return;
    }
    for (auto _ : state) {
        kernel(t, buf.get());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());  // items = transforms
}

std::string bench_name(const char* direction, const char* kernel, int bits, int log_n) {
    return std::string(direction) + "/" + kernel + "/bits:" + std::to_string(bits) + "/logN:" + std::to_string(log_n);
}

// Console output as usual, plus a scalar-vs-vector table at the end.
class RatioReporter : public hecnn::bench::BestTimeReporter {
public:
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\nNTT ns per transform (best repetition); NTTTables dispatches to %s\n",
                    hwy::TargetName(detail::ntt_dispatched_target()));
        std::printf("%-8s %-7s %5s %5s %12s %12s %8s\n", "dir", "kernel", "bits", "logN", "scalar_ns", "vector_ns",
                    "speedup");
        for (const auto& [name, ns] : best_ns_) {
            char dir[16] = {}, kernel[16] = {};
            int bits = 0, log_n = 0;
            if (std::sscanf(name.c_str(), "%15[^/]/%15[^/]/bits:%d/logN:%d", dir, kernel, &bits, &log_n) != 4) continue;
            if (std::string(kernel) == "scalar") continue;
            const auto scalar = best_ns_.find(bench_name(dir, "scalar", bits, log_n));
            if (scalar == best_ns_.end()) continue;
            std::printf("%-8s %-7s %5d %5d %12.0f %12.0f %7.2fx\n", dir, kernel, bits, log_n, scalar->second, ns,
                        scalar->second / ns);
        }
    }

};

// Scalar, then each runnable vector target pinned in turn (best first).
void register_benchmarks() {
    struct Variant {
        std::string kernel;
        std::int64_t target;  // 0: not pinned
        Kernel forward, inverse;
    };
    std::vector<Variant> variants = {{"scalar", 0, detail::ntt_forward_scalar, detail::ntt_inverse_scalar}};
    // Targets below AVX2 (larger bit values) run the scalar kernel: nothing to measure.
    for (std::int64_t target : detail::ntt_runnable_targets())
        if (target <= HWY_AVX2)
            variants.push_back({hwy::TargetName(target), target, dispatched_forward, dispatched_inverse});
    for (const char* dir : {"forward", "inverse"})
        for (int bits : {40, 60})
            for (int log_n = 13; log_n <= 16; ++log_n)
                for (const Variant& v : variants) {
                    const Kernel fn = std::string(dir) == "forward" ? v.forward : v.inverse;
                    benchmark::RegisterBenchmark(bench_name(dir, v.kernel.c_str(), bits, log_n).c_str(),
                                                 [fn, target = v.target, log_n, bits](benchmark::State& s) {
                                                     run_kernel(s, fn, target, log_n, bits);
                                                 });
                }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    register_benchmarks();
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
