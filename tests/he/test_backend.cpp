// The backend seam (backend.h), cross-checked as ggml's test-backend-ops does: every
// operation a backend offers, run through the seam, against the direct ckks::Evaluator
// result — bit for bit, since the CPU backend must compute exactly what the engine does.
// A new backend adds itself to backends() below. Then the runtime through a backend that
// counts what it is asked (a decorator around the CPU backend): the same output
// ciphertexts as the default runtime, and every operation, spill and load of the run seen
// at the seam. Small insecure parameters (N = 2^11, test only).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "he/he_engine.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/backend.h"
#include "hecnn/he/cpu_backend.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

struct Keys {
    Keys()
        : ctx([] {
              ckks::ParametersLiteral lit;
              lit.log_n = 11;
              lit.data_prime_bits = {50, 40, 40, 40};
              lit.special_prime_bits = {50};
              lit.log_scale = 40;
              lit.insecure_test_only_allow_below_128_bits = true;
              return ckks::Context::create(lit);
          }()),
          keygen(ckks::KeyGenerator::insecure_test_only_from_seed(ctx, math::Seed{11})),
          rk(keygen.create_relin_key()),
          encoder(ctx),
          enc(ctx, keygen.secret_key()) {}
    ckks::Ciphertext encrypt(unsigned seed) const {
        const auto v = random_inputs(ctx->slots(), seed);
        auto c = enc.encrypt(encoder.encode(v));
        return c;
    }
    ckks::ContextPtr ctx;
    ckks::KeyGenerator keygen;
    ckks::RelinKey rk;
    ckks::Encoder encoder;
    ckks::Encryptor enc;
};


ckks::Ciphertext dropped_copy_of(const ckks::Ciphertext& c, int level, const ckks::Evaluator& ev) {
    auto r = c;
    ev.drop_to_level_inplace(r, level);
    return r;
}

std::vector<std::unique_ptr<he::Backend>> backends(const ckks::ContextPtr& ctx) {
    std::vector<std::unique_ptr<he::Backend>> v;
    v.push_back(std::make_unique<he::CpuBackend>(ctx));
    return v;
}

}  // namespace

TEST(Backend, EveryOperationEqualsTheEvaluators) {
    const Keys k;
    const ckks::Evaluator ev(k.ctx);
    const auto x = k.encrypt(1), y = k.encrypt(2);
    const int top = k.ctx->max_level();
    for (const auto& be : backends(k.ctx)) {
        SCOPED_TRACE(be->name());
        EXPECT_EQ(be->context()->id(), k.ctx->id());
        // Buffers.
        const auto z = be->allocate(top - 1, 3.0, 3, true, true);
        EXPECT_EQ(z.level(), top - 1);
        EXPECT_EQ(z.size(), 3u);
        EXPECT_TRUE(z.is_ntt());
        EXPECT_EQ(z.scale(), 3.0);
        EXPECT_TRUE(std::all_of(z.words().begin(), z.words().end(), [](std::uint64_t w) { return w == 0; }));
        auto dropped = x;
        ev.drop_to_level_inplace(dropped, top - 2);
        const auto copy = be->dropped_copy(x, top - 2);
        EXPECT_TRUE(same_ciphertext(copy, dropped));
        EXPECT_EQ(copy.byte_size(), be->allocate(top - 2, x.scale(), 2, x.is_ntt(), false).byte_size());  // a block of the new size
        // Operations.
        const ckks::LinearMap map{.outputs = 3, .inputs = 2, .weights = {0.5, -1, 0.25, 2, -0.75, 1.5}, .bias = {0.1, 0, -0.2}, .rescale = true,
                                  .target_scale = k.ctx->scale()};
        const std::vector<const ckks::Ciphertext*> in{&x, &y};
        const auto want = ev.linear(std::span<const ckks::Ciphertext* const>(in), map);
        const auto got = be->linear(std::span<const ckks::Ciphertext* const>(in), map);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t o = 0; o < got.size(); ++o) EXPECT_TRUE(same_ciphertext(got[o], want[o])) << "linear output " << o;
        EXPECT_TRUE(same_ciphertext(be->square(x), ev.square(x)));
        EXPECT_TRUE(same_ciphertext(be->square_relin_rescale(x, k.rk), ev.square_relin_rescale(x, k.rk)));
        const auto xy = ev.multiply(x, y);
        EXPECT_TRUE(same_ciphertext(be->multiply(x, y), xy));
        auto a = xy, b = xy;
        ev.relinearize_inplace(a, k.rk);
        be->relinearize_inplace(b, k.rk);
        EXPECT_TRUE(same_ciphertext(b, a));
        ev.rescale_inplace(a);
        be->rescale_inplace(b);
        EXPECT_TRUE(same_ciphertext(b, a));
        auto c = x, d = x;
        ev.drop_to_level_inplace(c, top - 1);
        be->drop_to_level_inplace(d, top - 1);
        EXPECT_TRUE(same_ciphertext(d, c));
        ev.add_inplace(c, dropped_copy_of(y, top - 1, ev));
        be->add_inplace(d, dropped_copy_of(y, top - 1, ev));
        EXPECT_TRUE(same_ciphertext(d, c));
        auto s = ev.square(x), t = s;  // NTT form
        ev.to_coeff_inplace(s);
        be->to_coeff_inplace(t);
        EXPECT_TRUE(same_ciphertext(t, s));
        // Spilling: the engine's format, and back to the same ciphertext.
        const auto bytes = be->serialize(xy);
        EXPECT_EQ(bytes, ckks::serialize(xy));
        EXPECT_TRUE(same_ciphertext(be->deserialize(bytes), xy));
        EXPECT_THROW(be->deserialize(std::span<const std::uint8_t>(bytes).first(bytes.size() / 2)), std::exception);
        // Parallelism: every index once (also when there are many), the first error rethrown.
        for (std::size_t n : {std::size_t{3}, std::size_t{1000}}) {
            std::vector<std::atomic<int>> hits(n);
            be->parallel_for(n, [&](std::size_t i) { ++hits[i]; });
            EXPECT_TRUE(std::all_of(hits.begin(), hits.end(), [](const std::atomic<int>& h) { return h == 1; })) << n;
            EXPECT_THROW(be->parallel_for(n, [&](std::size_t i) { if (i == n / 2) throw std::runtime_error("unit failed"); }), std::runtime_error);
        }
        const int before = be->set_threads(1);
        EXPECT_EQ(be->set_threads(before), 1);
    }
}

namespace {

// Forwards to the CPU backend and counts what it is asked (thread-safe: called from a
// wave's threads).
class CountingBackend final : public he::Backend {
public:
    explicit CountingBackend(ckks::ContextPtr ctx) : cpu_(std::move(ctx)) {}
    const char* name() const override { return "counting"; }
    const ckks::ContextPtr& context() const override { return cpu_.context(); }
    ckks::Ciphertext allocate(int level, double scale, std::size_t size, bool ntt, bool zero) const override {
        ++allocations;
        return cpu_.allocate(level, scale, size, ntt, zero);
    }
    ckks::Ciphertext dropped_copy(const ckks::Ciphertext& c, int level) const override { return ++copies, cpu_.dropped_copy(c, level); }
    std::vector<ckks::Ciphertext> linear(std::span<const ckks::Ciphertext* const> in, const ckks::LinearMap& map) const override {
        macs += static_cast<std::int64_t>(map.inputs * map.outputs);
        if (map.rescale) rescales += static_cast<std::int64_t>(map.outputs);
        return cpu_.linear(in, map);
    }
    ckks::Ciphertext square(const ckks::Ciphertext& x) const override { return ++products, cpu_.square(x); }
    ckks::Ciphertext square_relin_rescale(const ckks::Ciphertext& x, const ckks::RelinKey& rk) const override {
        ++products, ++relins, ++rescales;
        return cpu_.square_relin_rescale(x, rk);
    }
    ckks::Ciphertext multiply(const ckks::Ciphertext& x, const ckks::Ciphertext& y) const override { return ++products, cpu_.multiply(x, y); }
    void relinearize_inplace(ckks::Ciphertext& c, const ckks::RelinKey& rk) const override { ++relins, cpu_.relinearize_inplace(c, rk); }
    void rescale_inplace(ckks::Ciphertext& c) const override { ++rescales, cpu_.rescale_inplace(c); }
    void drop_to_level_inplace(ckks::Ciphertext& c, int level) const override { cpu_.drop_to_level_inplace(c, level); }
    void add_inplace(ckks::Ciphertext& a, const ckks::Ciphertext& b) const override { cpu_.add_inplace(a, b); }
    void to_coeff_inplace(ckks::Ciphertext& c) const override { ++to_coeff, cpu_.to_coeff_inplace(c); }
    std::vector<std::uint8_t> serialize(const ckks::Ciphertext& c) const override { return ++serialized, cpu_.serialize(c); }
    ckks::Ciphertext deserialize(std::span<const std::uint8_t> bytes) const override { return ++deserialized, cpu_.deserialize(bytes); }
    void parallel_for(std::size_t n, const std::function<void(std::size_t)>& body) const override { ++parallel, cpu_.parallel_for(n, body); }
    int set_threads(int threads) const override { return cpu_.set_threads(threads); }

    mutable std::atomic<std::int64_t> allocations{0}, copies{0}, macs{0}, products{0}, relins{0}, rescales{0}, to_coeff{0}, serialized{0},
        deserialized{0}, parallel{0};

private:
    he::CpuBackend cpu_;
};

}  // namespace

// A budgeted run (spills, level drops) through the counting backend computes the default
// runtime's ciphertexts, and the seam saw every operation the run's records count: the
// runtime reaches the engine only through it.
TEST(Backend, TheRuntimeReachesTheEngineOnlyThroughTheSeam) {
    const auto model = square_and_product(8);
    const auto plan = he::compile(model);
    const std::size_t samples = 64, F = static_cast<std::size_t>(plan.input_count);
    const auto x = random_inputs(samples * F, 5);
    const HeSetup he(plan, x, samples, insecure_small());
    const auto in = he::encrypt_batch(he.encoder, he.enc, x, samples, F);
    std::vector<he::StepRecord> free_trace, trace;
    const auto want = he::Runtime(plan, he.ctx, he.rk).run(in, he::RunOptions{.exec = {.memory = he::MemoryBudget::unlimited()}}, &free_trace);
    std::size_t free_peak = 0;
    for (const auto& t : free_trace) free_peak = std::max(free_peak, t.peak_bytes);

    const auto be = std::make_shared<CountingBackend>(he.ctx);
    const auto dir = std::filesystem::temp_directory_path() / ("hecnn-test-backend-" + std::to_string(::getpid()));
    he::RunOptions opt{.exec = {.memory = he::MemoryBudget::of(free_peak / 2), .spill_dir = dir, .wave_units = 8, .order = he::Order::Steps}};
    const auto got = he::Runtime(plan, be, he.rk).run(in, opt, &trace);
    std::filesystem::remove_all(dir);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(same_ciphertext(got[k], want[k])) << "output " << k;
    he::StepRecord total;
    for (const auto& t : trace)
        total.macs += t.macs, total.squares += t.squares, total.relins += t.relins, total.rescales += t.rescales, total.spills += t.spills,
            total.loads += t.loads, total.drops += t.drops;
    EXPECT_GT(total.spills, 0);
    EXPECT_EQ(be->macs, total.macs);
    EXPECT_EQ(be->products, total.squares);
    EXPECT_EQ(be->relins, total.relins);
    EXPECT_EQ(be->rescales, total.rescales);
    EXPECT_EQ(be->serialized, total.spills);
    EXPECT_EQ(be->deserialized, total.loads);
    EXPECT_GE(be->copies, total.drops);  // drops, and products' lower-level operand copies
    EXPECT_EQ(be->to_coeff, static_cast<std::int64_t>(F));  // each input handed over, once
    EXPECT_GT(be->parallel, 0);
}
