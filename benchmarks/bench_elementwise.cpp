// Element-wise RNS kernels: the scalar reference vs the Highway kernels on every vector
// target this CPU runs (AVX3, AVX2; hecnn::math::ew dispatches to the best), one limb of
// n = 32768 residues, 40- and 60-bit primes. After the usual Google Benchmark output a table
// gives µs per call and the speed-up over scalar (best repetition of each, which filters out
// interference from other processes on a shared machine).
//
//   bench_elementwise --benchmark_repetitions=5 --benchmark_min_time=0.05
//                     --benchmark_enable_random_interleaving=true [--benchmark_filter=mul]
//
// inner_product: 6 digits, two keys and the extra terms (relinearisation at N = 2^15);
// convert_sum: 3 source primes (one ModUp digit) to one target; convert_count: 2 sources
// (the centred ModDown). Operands are 64-byte aligned like the engine's residue storage.
#include <benchmark/benchmark.h>
#include <hwy/aligned_allocator.h>
#include <hwy/targets.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "best_time_reporter.h"
#include "hecnn/math/csprng.h"
#include "hecnn/math/elementwise.h"
#include "hecnn/math/primes.h"
#include "math/hwy_targets.h"

using namespace hecnn::math;

namespace {

constexpr std::size_t kN = 32768;

using hecnn::test::PinTarget;  // pinning to 0 is "no pin"

using Buf = hwy::AlignedFreeUniquePtr<u64[]>;

Buf residues(Prng& prng, u64 q, std::size_t n = kN) {
    Buf b = hwy::AllocateAligned<u64>(n);
    prng.uniform_mod(Modulus(q), {b.get(), n});
    return b;
}

// The operands of every kernel for one prime size; built once, shared by all variants.
struct Data {
    u64 q, ql, w, ws;
    ew::RescaleConstants rc;
    static constexpr std::size_t kDigits = 6, kSources = 3;
    Buf a, b, out, last;
    std::vector<Buf> up, k0, k1;
    std::vector<const u64*> pup, pk0, pk1;
    Buf e0, e1, out1;
    Buf y;                  // kSources rows of kN
    std::vector<u64> pm, pms;
    std::vector<double> inv_q;
    Buf count;

    explicit Data(int bits) {
        Prng prng(Seed{static_cast<std::uint8_t>(bits)});
        const auto primes = generate_ntt_primes(bits, 16, 2);
        q = primes[0];
        ql = primes[1];
        w = prng.next_u64() % q;
        ws = shoup_precompute(w, q);
        const Modulus mq(q);
        const u64 inv = mq.inv(ql % q);
        rc = {q, ql, ql % q, inv, shoup_precompute(inv, q)};
        a = residues(prng, q);
        b = residues(prng, q);
        out = residues(prng, q);
        last = residues(prng, ql);
        for (std::size_t j = 0; j < kDigits; ++j) {
            up.push_back(residues(prng, q));
            k0.push_back(residues(prng, q));
            k1.push_back(residues(prng, q));
            pup.push_back(up.back().get());
            pk0.push_back(k0.back().get());
            pk1.push_back(k1.back().get());
        }
        e0 = residues(prng, q);
        e1 = residues(prng, q);
        out1 = residues(prng, q);
        y = hwy::AllocateAligned<u64>(kSources * kN);
        const auto src = generate_ntt_primes(bits == 60 ? 40 : 60, 16, kSources);
        for (std::size_t i = 0; i < kSources; ++i) {
            prng.uniform_mod(Modulus(src[i]), {y.get() + i * kN, kN});
            pm.push_back(prng.next_u64() % q);
            pms.push_back(shoup_precompute(pm.back(), q));
            inv_q.push_back(1.0 / static_cast<double>(src[i]));
        }
        count = hwy::AllocateAligned<u64>(kN);
        for (std::size_t c = 0; c < kN; ++c) count[c] = prng.next_u64() % 3;
    }
};

Data& data(int bits) {
    static std::map<int, std::unique_ptr<Data>> cache;
    auto& d = cache[bits];
    if (!d) d = std::make_unique<Data>(bits);
    return *d;
}

// One call of a kernel, through the dispatcher or the scalar reference.
using Call = std::function<void(Data&, bool scalar)>;

const std::vector<std::pair<std::string, Call>>& kernels() {
    static const std::vector<std::pair<std::string, Call>> k = {
        {"add", [](Data& d, bool s) { (s ? ew::scalar::add : ew::add)(d.a.get(), d.b.get(), d.out.get(), kN, d.q); }},
        {"sub", [](Data& d, bool s) { (s ? ew::scalar::sub : ew::sub)(d.a.get(), d.b.get(), d.out.get(), kN, d.q); }},
        {"negate", [](Data& d, bool s) { (s ? ew::scalar::negate : ew::negate)(d.a.get(), d.out.get(), kN, d.q); }},
        {"mul_scalar",
         [](Data& d, bool s) { (s ? ew::scalar::mul_scalar : ew::mul_scalar)(d.a.get(), d.w, d.ws, d.out.get(), kN, d.q); }},
        {"mul", [](Data& d, bool s) { (s ? ew::scalar::mul : ew::mul)(d.a.get(), d.b.get(), d.out.get(), kN, d.q); }},
        {"mul_add", [](Data& d, bool s) { (s ? ew::scalar::mul_add : ew::mul_add)(d.a.get(), d.b.get(), d.out.get(), kN, d.q); }},
        {"sub_mul_scalar",
         [](Data& d, bool s) {
             (s ? ew::scalar::sub_mul_scalar : ew::sub_mul_scalar)(d.a.get(), d.b.get(), d.w, d.ws, d.out.get(), kN, d.q);
         }},
        {"rescale", [](Data& d, bool s) { (s ? ew::scalar::rescale : ew::rescale)(d.a.get(), d.last.get(), d.out.get(), kN, d.rc); }},
        {"centred_residue",
         [](Data& d, bool s) {
             (s ? ew::scalar::centred_residue : ew::centred_residue)(d.last.get(), d.out.get(), kN, d.q, d.ql, d.rc.ql_mod_q);
         }},
        {"inner_product",
         [](Data& d, bool s) {
             (s ? ew::scalar::inner_product : ew::inner_product)(d.pup.data(), d.pk0.data(), d.pk1.data(), Data::kDigits,
                                                                 d.e0.get(), d.e1.get(), d.w, d.out.get(), d.out1.get(), kN, d.q);
         }},
        {"convert_sum",
         [](Data& d, bool s) {
             (s ? ew::scalar::convert_sum : ew::convert_sum)(d.y.get(), kN, Data::kSources, d.pm.data(), d.pms.data(), nullptr,
                                                             0, 0, d.out.get(), kN, d.q);
         }},
        {"convert_count",
         [](Data& d, bool s) {
             (s ? ew::scalar::convert_count : ew::convert_count)(d.y.get(), kN, 2, d.inv_q.data(), d.count.get(), kN);
         }},
    };
    return k;
}

std::string bench_name(const std::string& kernel, const std::string& variant, int bits) {
    return kernel + "/" + variant + "/bits:" + std::to_string(bits);
}

// Console output as usual, plus a scalar-vs-vector table at the end.
class RatioReporter : public hecnn::bench::BestTimeReporter {
public:
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\nElement-wise kernels, n = %zu: µs per call (best repetition); ew:: dispatches to %s\n", kN,
                    hwy::TargetName(ew::dispatched_target()));
        std::printf("%-16s %-7s %5s %11s %11s %8s\n", "kernel", "target", "bits", "scalar_us", "vector_us", "speedup");
        for (const auto& [kernel, call] : kernels())
            for (int bits : {40, 60}) {
                const auto scalar = best_ns_.find(bench_name(kernel, "scalar", bits));
                if (scalar == best_ns_.end()) continue;
                for (const auto& [name, ns] : best_ns_) {
                    if (name.rfind(kernel + "/", 0) != 0 || name == scalar->first) continue;
                    char variant[32] = {};
                    int b = 0;
                    if (std::sscanf(name.c_str() + kernel.size() + 1, "%31[^/]/bits:%d", variant, &b) != 2 || b != bits) continue;
                    std::printf("%-16s %-7s %5d %11.2f %11.2f %7.2fx\n", kernel.c_str(), variant, bits, scalar->second / 1e3,
                                ns / 1e3, scalar->second / ns);
                }
            }
    }

};

void run(benchmark::State& state, const Call& call, std::int64_t target, int bits) {
    Data& d = data(bits);
    const PinTarget pin(target);
    if (target != 0 && ew::dispatched_target() != target) {
        state.SkipWithError("could not pin the Highway target");
        return;
    }
    for (auto _ : state) {
        call(d, target == 0);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kN));
}

// Scalar, then each runnable vector target pinned in turn (best first).
void register_benchmarks() {
    std::vector<std::pair<std::string, std::int64_t>> variants = {{"scalar", 0}};
    // Targets below AVX2 (larger bit values) run the scalar kernels: nothing to measure.
    for (std::int64_t target : ew::runnable_targets())
        if (target <= HWY_AVX2) variants.emplace_back(hwy::TargetName(target), target);
    for (const auto& [kernel, call] : kernels())
        for (int bits : {40, 60})
            for (const auto& [variant, target] : variants)
                benchmark::RegisterBenchmark(bench_name(kernel, variant, bits).c_str(),
                                             [call = call, target = target, bits](benchmark::State& s) { run(s, call, target, bits); })
                    ->Unit(benchmark::kMicrosecond);
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
