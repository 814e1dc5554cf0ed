// Kernel rates: the cache file written and read back, `hecnn bench ckks --json` files, the
// choice of entry, every malformed file refused with its name, this machine's rates
// falling back to the built-in figures with a reason, the measurement itself, and the
// simulator using the measured linear-pass cost.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "he/he_models.h"
#include "hecnn/ckks/context.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/rates.h"
#include "hecnn/he/simulator.h"

using namespace hecnn;
using namespace hecnn::test;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("hecnn-test-rates-" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
    fs::path write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return path / name;
    }
};

he::Rates sample(int log_n, int threads, double mac) {
    he::Rates r;
    r.log_n = log_n, r.limbs = log_n - 5, r.threads = threads;
    r.mac_ms = mac, r.linear_pass_macs = 3.5, r.square_relin_rescale_ms = 7, r.square_ms = 2, r.relin_ms = 4.5;
    r.rescale_ms = 0.2, r.copy_ms = 0.1, r.spill_ms = 9, r.input_ms = 1.25, r.first_touch_ms_per_gib = 300;
    return r;
}

void expect_refused(const fs::path& file, const std::string& needle) {
    try {
        (void)he::Rates::from_file(file);
        ADD_FAILURE() << file << " accepted";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
        EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
}

// Sets an environment variable for the scope of one test, and puts back what was there
// (tests/test_environment.cpp's HECNN_RATES).
struct Env {
    std::string name;
    std::optional<std::string> before;
    Env(const char* n, const std::string& v) : name(n) {
        if (const char* b = std::getenv(n)) before = b;
        setenv(n, v.c_str(), 1);
    }
    ~Env() { before ? setenv(name.c_str(), before->c_str(), 1) : unsetenv(name.c_str()); }
};

// Test-only parameters at N=2^11 with a prime for every level of the plan.
ckks::ContextPtr small_context(const he::Plan& plan) {
    ckks::ParametersLiteral lit;
    lit.log_n = 11;
    lit.data_prime_bits.assign(static_cast<std::size_t>(plan.depth) + 1, 40);
    lit.data_prime_bits[0] = 60;
    lit.special_prime_bits = {60};
    lit.insecure_test_only_allow_below_128_bits = true;
    return ckks::Context::create(lit);
}

}  // namespace

TEST(Rates, CacheFileRoundTripsEveryField) {
    TempDir d;
    const auto file = d.path / "sub" / "rates.json";  // the directory is made
    he::save_rates({sample(13, 2, 0.01), sample(14, 2, 0.02), sample(15, 2, 0.05)}, file);
    const auto r = he::Rates::from_file(file, 14, 2);
    const auto want = sample(14, 2, 0.02);
    EXPECT_EQ(r.log_n, 14);
    EXPECT_EQ(r.limbs, want.limbs);
    EXPECT_EQ(r.threads, 2);
    EXPECT_DOUBLE_EQ(r.mac_ms, want.mac_ms);
    EXPECT_DOUBLE_EQ(r.linear_pass_macs, want.linear_pass_macs);
    EXPECT_DOUBLE_EQ(r.square_relin_rescale_ms, want.square_relin_rescale_ms);
    EXPECT_DOUBLE_EQ(r.square_ms, want.square_ms);
    EXPECT_DOUBLE_EQ(r.relin_ms, want.relin_ms);
    EXPECT_DOUBLE_EQ(r.rescale_ms, want.rescale_ms);
    EXPECT_DOUBLE_EQ(r.copy_ms, want.copy_ms);
    EXPECT_DOUBLE_EQ(r.spill_ms, want.spill_ms);
    EXPECT_DOUBLE_EQ(r.input_ms, want.input_ms);
    EXPECT_DOUBLE_EQ(r.first_touch_ms_per_gib, want.first_touch_ms_per_gib);
    EXPECT_NE(r.source.find("hecnn bench rates"), std::string::npos) << r.source;
    EXPECT_NE(r.source.find(file.string()), std::string::npos) << r.source;
    EXPECT_EQ(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()), 1);  // no temporary left beside it
}

TEST(Rates, PicksTheClosestRingDegreeThenTheThreadCount) {
    TempDir d;
    const auto file = d.path / "rates.json";
    he::save_rates({sample(13, 1, 0.011), sample(15, 1, 0.051), sample(15, 4, 0.054)}, file);
    EXPECT_EQ(he::Rates::from_file(file, 12).log_n, 13);
    EXPECT_EQ(he::Rates::from_file(file, 16).log_n, 15);
    EXPECT_DOUBLE_EQ(he::Rates::from_file(file, 15, 4).mac_ms, 0.054);
    EXPECT_DOUBLE_EQ(he::Rates::from_file(file, 15, 1).mac_ms, 0.051);
    EXPECT_EQ(he::Rates::from_file(file, 15, 3).log_n, 15);  // no 3-thread entry: one of the 2^15 ones
}

TEST(Rates, ReadsBenchCkksJson) {
    TempDir d;
    // The shape `hecnn bench ckks --json` writes: an array, data primes listed, no pass cost.
    const auto file = d.write("bench.json", R"([{"log_n": 14, "data_primes": [1, 2, 3, 4, 5, 6], "threads": 1,
        "ms": {"linear_per_mac": 0.04, "square_relin_rescale": 6.0, "mul": 2.0, "relin": 5.0, "rescale": 0.08, "copy": 0.05}}])");
    const auto r = he::Rates::from_file(file, 14);
    EXPECT_EQ(r.limbs, 6);
    EXPECT_DOUBLE_EQ(r.mac_ms, 0.04);
    EXPECT_DOUBLE_EQ(r.copy_ms, 0.05);
    // Missing from older files: the built-in figures.
    EXPECT_DOUBLE_EQ(r.spill_ms, he::Rates::defaults().spill_ms);
    EXPECT_DOUBLE_EQ(r.linear_pass_macs, he::Rates::defaults().linear_pass_macs);
}

TEST(Rates, RefusesMalformedFilesNamingThem) {
    TempDir d;
    expect_refused(d.write("a.json", "{ not json"), "not JSON");
    expect_refused(d.write("b.json", R"({"format": "other", "version": 1, "entries": []})"), "format");
    expect_refused(d.write("c.json", R"({"format": "hecnn-rates", "version": 99, "entries": []})"), "version");
    expect_refused(d.write("d.json", R"({"format": "hecnn-rates", "version": 1, "entries": []})"), "no entry");
    expect_refused(d.write("e.json", R"({"format": "hecnn-rates", "version": 1, "entries": [{"log_n": 14, "limbs": 8, "ms": {}}]})"),
                   "linear_per_mac");
    const std::string ms = R"("ms": {"linear_per_mac": -1, "square_relin_rescale": 6, "mul": 2, "relin": 5, "rescale": 0.1})";
    expect_refused(d.write("f.json", R"({"format": "hecnn-rates", "version": 1, "entries": [{"log_n": 14, "limbs": 8, )" + ms + "}]}"),
                   "positive");
    expect_refused(d.write("g.json", R"([{"log_n": 40, "limbs": 8, "ms": {}}])"), "log_n");
    expect_refused(d.write("h.json", R"([{"log_n": 14, "ms": {}}])"), "data_primes");
    expect_refused(d.write("i.json", "[7]"), "not a JSON object");
    EXPECT_THROW((void)he::Rates::from_file(d.path / "missing.json"), std::runtime_error);
}

TEST(Rates, MachineRatesFallBackToBuiltInWithAReason) {
    TempDir d;
    {
        const Env env("HECNN_RATES", (d.path / "none.json").string());
        EXPECT_EQ(he::Rates::cache_path(), d.path / "none.json");
        const auto r = he::Rates::for_machine(14);
        EXPECT_DOUBLE_EQ(r.mac_ms, he::Rates::defaults().mac_ms);
        EXPECT_NE(r.source.find("hecnn bench rates"), std::string::npos) << r.source;
    }
    {
        const auto bad = d.write("bad.json", "garbage");
        const Env env("HECNN_RATES", bad.string());
        const auto r = he::Rates::for_machine(14);
        EXPECT_DOUBLE_EQ(r.mac_ms, he::Rates::defaults().mac_ms);
        EXPECT_NE(r.source.find("not JSON"), std::string::npos) << r.source;  // says why
        EXPECT_THROW((void)he::Rates::resolve(bad.string()), std::runtime_error);  // named by the user: an error
    }
    {
        const auto good = d.path / "good.json";
        he::save_rates({sample(14, 2, 0.123)}, good);
        const Env env("HECNN_RATES", good.string());
        EXPECT_DOUBLE_EQ(he::Rates::for_machine(14).mac_ms, 0.123);
        EXPECT_DOUBLE_EQ(he::Rates::resolve("").mac_ms, 0.123);
    }
}

TEST(Rates, MeasuresEveryKernel) {
    TempDir d;
    he::RateBenchOptions o;
    o.log_n = {13};
    o.threads = 2;
    o.reps = 1;
    o.spill_dir = d.path;
    std::vector<std::string> said;
    o.progress = [&](const std::string& s) { said.push_back(s); };
    const int before = omp_get_max_threads();
    const auto all = he::measure_rates(o);
    EXPECT_EQ(omp_get_max_threads(), before);  // the thread count is restored
    ASSERT_EQ(all.size(), 1u);
    const auto& r = all[0];
    EXPECT_EQ(r.log_n, 13);
    EXPECT_EQ(r.threads, 2);
    EXPECT_GE(r.limbs, 2);
    for (double v : {r.input_ms, r.mac_ms, r.square_ms, r.square_relin_rescale_ms, r.relin_ms, r.rescale_ms, r.copy_ms, r.spill_ms, r.first_touch_ms_per_gib}) {
        EXPECT_TRUE(std::isfinite(v));
        EXPECT_GT(v, 0);
    }
    EXPECT_GE(r.linear_pass_macs, 0);
    EXPECT_LE(r.linear_pass_macs, 64);
    EXPECT_GE(said.size(), 8u);
    EXPECT_TRUE(fs::is_empty(d.path));  // the spill kernel's files are gone
    // What it measured reads back as this machine's rates.
    const auto file = d.path / "r.json";
    he::save_rates(all, file);
    EXPECT_DOUBLE_EQ(he::Rates::from_file(file, 13, 2).square_ms, r.square_ms);
    EXPECT_THROW(he::measure_rates(he::RateBenchOptions{.log_n = {}}), std::invalid_argument);
    EXPECT_THROW(he::measure_rates(he::RateBenchOptions{.log_n = {20}}), std::invalid_argument);
}

TEST(Rates, SimulatorChargesTheLinearPassPerInputAndOutput) {
    const auto plan = he::compile(cryptonets(12));
    const auto ctx = small_context(plan);
    he::Rates no_pass = he::Rates::defaults(), pass = he::Rates::defaults();
    no_pass.linear_pass_macs = 0;
    pass.linear_pass_macs = 16;
    // Same per-MAC cost of a 27×64 map (mac_ms), so the pass moves time from MACs to passes:
    // a linear step's time c·(I·O + p·(I+O)) with c = mac/(1 + p·91/1728).
    const auto a = he::simulate(plan, *ctx, no_pass), b = he::simulate(plan, *ctx, pass);
    ASSERT_EQ(a.steps.size(), b.steps.size());
    bool differs = false;
    for (std::size_t i = 0; i < a.steps.size(); ++i) {
        if (a.steps[i].kind != "linear") {
            EXPECT_DOUBLE_EQ(a.steps[i].seconds, b.steps[i].seconds) << i;
            continue;
        }
        EXPECT_EQ(a.steps[i].macs, b.steps[i].macs);
        differs = differs || a.steps[i].seconds != b.steps[i].seconds;
    }
    EXPECT_TRUE(differs);
}

TEST(Rates, SimulatorChargesEachLazyInputsFetchOnce) {
    const auto plan = he::compile(cryptonets(12));
    const auto ctx = small_context(plan);
    he::Rates free = he::Rates::defaults(), costly = he::Rates::defaults();
    free.input_ms = 0;
    costly.input_ms = 3.0;
    he::SimulateOptions so;
    so.exec.threads = 2;
    so.exec.memory = he::MemoryBudget::unlimited();
    so.exec.lazy_inputs = true;
    // The difference is one fetch per input: 3 ms at the reference ring and limbs, scaled by
    // N, the inputs' limbs (the top level) and the threads sharing the work.
    const double per = 3.0e-3 * std::ldexp(1.0, 11 - free.log_n) * (ctx->max_level() + 1.0) / free.limbs * free.threads / 2.0;
    const double extra = he::simulate(plan, *ctx, costly, so).seconds - he::simulate(plan, *ctx, free, so).seconds;
    // Inputs no step reads (pixels a strided conv skips) are never fetched.
    std::set<int> read;
    for (const auto& st : plan.steps) {
        for (const auto& g : st.groups)
            for (int w : g.inputs) read.insert(w);
        if (st.kind == he::Step::Kind::Square)
            for (std::size_t i = 0; i < st.outputs.size(); ++i)
                for (int w : st.operands(i)) read.insert(w);
    }
    const auto fetched = static_cast<double>(std::count_if(read.begin(), read.end(), [&](int w) { return w < plan.input_count; }));
    ASSERT_GT(fetched, 0);
    EXPECT_NEAR(extra, per * fetched, 1e-9 * fetched);
    // Inputs handed over whole (not lazy) cost nothing in the run.
    so.exec.lazy_inputs = false;
    EXPECT_DOUBLE_EQ(he::simulate(plan, *ctx, costly, so).seconds, he::simulate(plan, *ctx, free, so).seconds);
}
