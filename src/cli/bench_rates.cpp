// `hecnn bench rates`: measures the simulator's kernel rates on this machine (he::measure_rates)
// and stores them where plan, serve, infer, bench infer and demo find them (he::Rates::cache_path).
#include "bench_rates.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "format.h"
#include "hecnn/he/rates.h"

namespace hecnn::cli {
namespace {

struct Options {
    std::vector<int> log_n{13, 14, 15};
    int threads = 0, reps = 5;
    std::string out, spill_dir;
};

void run(const Options& o) {
    if (o.threads > 0) {
        omp_set_dynamic(0);  // exactly the threads asked for
        omp_set_num_threads(o.threads);
    }
    const int threads = omp_get_max_threads();
    const std::string out = o.out.empty() ? he::Rates::cache_path().string() : o.out;
    if (out.empty()) throw std::runtime_error("no cache directory ($HOME and $XDG_CACHE_HOME unset): give --out FILE");
    double load[1] = {0};
    if (getloadavg(load, 1) == 1 && load[0] > 0.5)
        std::printf("warning: load average %.1f on %d cores: other work is running; rates measured now will be slow\n", load[0],
                    omp_get_num_procs());
    std::printf("hecnn bench rates: %d thread(s), each on its own operations (as a run's waves), median of %d\n", threads, o.reps);
    he::RateBenchOptions bo;
    bo.log_n = o.log_n;
    bo.threads = threads;
    bo.reps = o.reps;
    bo.spill_dir = o.spill_dir;
    const auto t0 = std::chrono::steady_clock::now();
    bo.progress = [&](const std::string& what) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("  [%6.1f s] %s\n", s, what.c_str());
        std::fflush(stdout);
    };
    const auto rates = he::measure_rates(bo);
    he::save_rates(rates, out);

    // Against the built-in figures (one thread at N=2^14, 8 limbs), as the simulator scales
    // them: work ∝ N·limbs (·log N for the NTT kernels), divided over the threads.
    const he::Rates ref = he::Rates::defaults();
    std::printf("\n%-30s", "wall time per operation");
    for (const auto& r : rates) std::printf(" %12s", ("N=2^" + std::to_string(r.log_n) + "/" + std::to_string(r.limbs)).c_str());
    std::printf(" %14s\n", "built-in 2^14/8");
    // The comparison is made at the measured ring closest to the built-in one's.
    const auto& mid = *std::min_element(rates.begin(), rates.end(), [&](const auto& a, const auto& b) {
        return std::abs(a.log_n - ref.log_n) < std::abs(b.log_n - ref.log_n);
    });
    auto row = [&](const char* name, auto field, bool ntt) {
        std::printf("%-30s", name);
        for (const auto& r : rates) std::printf(" %12s", human_ms(r.*field).c_str());
        std::printf(" %14s", human_ms(ref.*field / threads).c_str());
        const double scale = std::ldexp(1.0, mid.log_n - ref.log_n) * mid.limbs / ref.limbs * (ntt ? static_cast<double>(mid.log_n) / ref.log_n : 1.0);
        std::printf("   (×%.2f the built-in at 2^%d)\n", (mid.*field) / (ref.*field / threads * scale), mid.log_n);
    };
    row("multiply-accumulate", &he::Rates::mac_ms, false);
    row("square (no relinearisation)", &he::Rates::square_ms, true);
    row("square + relin + rescale", &he::Rates::square_relin_rescale_ms, true);
    row("relinearise", &he::Rates::relin_ms, true);
    row("rescale", &he::Rates::rescale_ms, false);
    row("copy", &he::Rates::copy_ms, false);
    row("spill (write + read back)", &he::Rates::spill_ms, false);
    row("input (seeded upload loaded)", &he::Rates::input_ms, false);
    std::printf("%-30s", "linear pass, in MACs");
    for (const auto& r : rates) std::printf(" %12.1f", r.linear_pass_macs);
    std::printf(" %14.1f\n", ref.linear_pass_macs);
    std::printf("%-30s %12s (built-in %s)\n", "first touch, per GiB", human_ms(rates.front().first_touch_ms_per_gib).c_str(),
                human_ms(ref.first_touch_ms_per_gib).c_str());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\nwrote %s in %s: plan, serve, infer, bench infer and demo predict with it from now on (--rates FILE chooses another)\n",
                out.c_str(), human_ms(s * 1e3).c_str());
}

}  // namespace

void add_bench_rates(CLI::App& bench) {
    auto o = std::make_shared<Options>();
    auto* cmd = bench.add_subcommand("rates",
                                     "Measure this machine's kernel rates for the simulator (about a minute) and store them in the user's cache");
    cmd->add_option("--log-n", o->log_n, "Ring degrees to measure, as log2 N")->check(CLI::Range(13, 15))->capture_default_str();
    cmd->add_option("--threads", o->threads, "Threads (exactly; 0: OpenMP's default, what infer and serve use)")->check(CLI::Range(0, 1024));
    cmd->add_option("--reps", o->reps, "Repetitions per kernel (the median is kept)")->check(CLI::Range(1, 100))->capture_default_str();
    cmd->add_option("--out", o->out, "Where to write the rates (default: $HECNN_RATES, else ~/.cache/hecnn/rates.json)");
    cmd->add_option("--spill-dir", o->spill_dir, "Where the spill kernel writes (default: the system's temporary directory)");
    cmd->callback([o] { run(*o); });
}

}  // namespace hecnn::cli
