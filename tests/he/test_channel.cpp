// Channel-wise packing of one image: every layer type and a whole small CryptoNets-shape
// model, encrypted, against the plaintext reference runner (nn::ReferenceRunner, which
// knows nothing of plans or slots); the layout and the baby-step giant-step algebra in
// double precision against the element-wise plan; the Galois keys asked for = used.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "he/he_models.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/channel_packing.h"
#include "hecnn/he/channel_plan.h"
#include "hecnn/he/channel_runtime.h"
#include "hecnn/he/compiler.h"
#include "hecnn/nn/reference.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

he::Plan compile_channel(const nn::Model& m) {
    he::CompileOptions o;
    o.lazy_relin = false;  // a channel plan squares whole ciphertexts, eagerly
    return he::compile(m, o);
}

// rot(v, k)[s] = v[(s + k) mod n]: the engine's left rotation.
std::vector<double> rot(const std::vector<double>& v, int k) {
    const std::size_t n = v.size();
    std::vector<double> r(n);
    for (std::size_t s = 0; s < n; ++s) r[s] = v[(s + static_cast<std::size_t>(k)) % n];
    return r;
}

// The channel plan in double precision, slot vectors for ciphertexts, exactly the algebra
// the runtime performs: giant rotations of Σ mask ⊙ baby rotations, folds, bias.
std::vector<double> run_channel_plaintext(const he::ChannelPlan& cp, std::span<const double> image) {
    std::vector<std::vector<double>> ct(static_cast<std::size_t>(cp.ct_count()));
    for (int c = 0; c < cp.input_cts; ++c) ct[c] = he::channel_input_slots(cp, image, c);
    for (const auto& st : cp.steps) {
        for (const auto& L : st.linear) {
            std::vector<double> y(cp.slots, 0.0);
            for (int g : L.giants()) {
                std::vector<double> inner(cp.slots, 0.0);
                for (const auto& b : L.blocks)
                    for (const auto& d : b.diagonals) {
                        if (d.giant != g) continue;
                        const auto x = rot(ct[b.input], d.baby);
                        for (const auto& [s, c] : d.entries) inner[s] += c * x[s];
                    }
                const auto r = rot(inner, g);
                for (std::size_t s = 0; s < cp.slots; ++s) y[s] += r[s];
            }
            for (int f : L.folds) {
                const auto r = rot(y, f);
                for (std::size_t s = 0; s < cp.slots; ++s) y[s] += r[s];
            }
            for (const auto& [s, c] : L.bias) y[s] += c;
            ct[L.output] = std::move(y);
        }
        for (std::size_t i = 0; i < st.outputs.size(); ++i) {
            auto y = ct[st.operands[i].first];
            for (auto& v : y) v *= v;
            ct[st.outputs[i]] = std::move(y);
        }
    }
    std::vector<double> out;
    for (const auto& r : cp.outputs) out.push_back(ct[r.ct][r.slot]);
    return out;
}

double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::fabs(x));
    return m;
}

// Encrypted run at small insecure parameters with rotation-sized digits.
struct ChannelSetup {
    ChannelSetup(const he::Plan& plan, int log_n) {
        he::ParamOptions o;
        o.batch = 1;
        o.log_n = log_n;
        o.insecure_test_only_allow_below_128_bits = true;
        choice = he::choose_parameters(plan, {}, o);
        choice.literal.digit_size = he::rotation_digit_size(choice.literal);
        ctx = ckks::Context::create(choice.literal);
    }
    he::ParamChoice choice;
    ckks::ContextPtr ctx;
};

struct Result {
    std::vector<double> got, want;
    std::vector<int> asked, used;
    std::size_t keys = 0;
};

Result run_encrypted(const nn::Model& m, int log_n, unsigned seed) {
    const he::Plan plan = compile_channel(m);
    ChannelSetup s(plan, log_n);
    const he::ChannelPlan cp = he::make_channel_plan(plan, s.ctx->slots());
    auto keygen = ckks::KeyGenerator::insecure_test_only_from_seed(s.ctx, math::Seed{3});
    const auto rk = keygen.create_relin_key();
    Result r;
    r.asked = cp.rotation_steps();
    const auto gk = keygen.create_rotation_keys(r.asked);
    r.keys = gk.size();
    ckks::Encoder enc(s.ctx);
    ckks::Encryptor encryptor(s.ctx, keygen.secret_key());
    ckks::Decryptor dec(s.ctx, keygen.secret_key());
    const auto x = random_inputs(static_cast<std::size_t>(nn::element_count(m.input_shape())), seed);
    he::ChannelRuntime rt(cp, s.ctx, rk, gk);
    const auto out = rt.run(he::encrypt_image(enc, encryptor, cp, x));
    r.got = he::decrypt_image(enc, dec, cp, out);
    r.used = rt.steps_used();
    r.want = nn::ReferenceRunner(m).run(x);
    return r;
}

// Each operation adds noise of about 2^-(log2 Δ − log2 N) of its values; through a few
// levels of weights of order one the outputs keep well over half of Δ's 40 bits.
double tolerance(const std::vector<double>& want) { return std::ldexp(1.0, -20) * (1 + max_abs(want)); }

void expect_close(const Result& r, const std::string& what) {
    ASSERT_EQ(r.got.size(), r.want.size()) << what;
    const double tol = tolerance(r.want);
    double err = 0;
    for (std::size_t k = 0; k < r.got.size(); ++k) {
        EXPECT_NEAR(r.got[k], r.want[k], tol) << what << " output " << k;
        err = std::max(err, std::fabs(r.got[k] - r.want[k]));
    }
    std::cout << what << ": max error " << err << " (tolerance " << tol << "), " << r.asked.size() << " rotation steps\n";
    EXPECT_EQ(r.used, r.asked) << what << ": rotation steps asked for and used";
    EXPECT_EQ(r.keys, r.asked.size()) << what;
}

}  // namespace

// Layout and BSGS in doubles against the plan's own plaintext run, for many shapes and
// slot counts (small ones force consecutive layouts and several ciphertexts).
TEST(ChannelPlan, PlaintextAlgebraMatchesThePlan) {
    std::vector<std::pair<std::string, nn::Model>> models;
    {
        Builder b({2, 9, 9}, 3);
        b.conv(3, 3, 2, 1);
        models.emplace_back("conv stride 2 pad 1", b.finish());
    }
    {
        Builder b({1, 8, 8}, 4);
        b.conv(2, 3, 1, 1);
        b.act("element");
        b.avgpool(2, 2);
        b.dense(5);
        models.emplace_back("conv act pool dense", b.finish());
    }
    models.emplace_back("cryptonets 12", cryptonets(12));
    for (const auto& [name, m] : models) {
        const he::Plan plan = compile_channel(m);
        const auto x = random_inputs(static_cast<std::size_t>(plan.input_count), 11);
        const auto want = he::run_plaintext(plan, x, 1);
        for (std::size_t slots : {64u, 256u, 1024u, 4096u}) {
            const he::ChannelPlan cp = he::make_channel_plan(plan, slots);
            const auto got = run_channel_plaintext(cp, x);
            ASSERT_EQ(got.size(), want.size());
            for (std::size_t k = 0; k < got.size(); ++k)
                EXPECT_NEAR(got[k], want[k], 1e-9 * (1 + max_abs(want))) << name << " at " << slots << " slots, output " << k;
        }
    }
}

TEST(ChannelPlan, BothMethodsAndHoistingAreUsed) {
    const he::ChannelPlan cp = he::make_channel_plan(compile_channel(cryptonets(12)), 4096);
    bool diagonal = false, hybrid = false;
    for (const auto& st : cp.steps)
        for (const auto& L : st.linear) (L.period ? hybrid : diagonal) = true;
    EXPECT_TRUE(diagonal);  // the conv
    EXPECT_TRUE(hybrid);    // the dense layers: few outputs
    const auto [hoisted, single] = cp.rotation_counts();
    EXPECT_GT(hoisted, 0u);
    EXPECT_GT(single, 0u);
    EXPECT_LT(cp.rotation_steps().size(), hoisted + single + 1);
}

TEST(ChannelPlan, RefusesLazySquares) {
    EXPECT_THROW(he::make_channel_plan(he::compile(cryptonets(12)), 4096), std::invalid_argument);
}

TEST(ChannelPlan, RotationDigitsStayBelowP) {
    ckks::ParametersLiteral l;
    l.data_prime_bits = {60, 40, 40, 40, 40, 40};
    l.special_prime_bits = {60, 60};
    EXPECT_EQ(he::rotation_digit_size(l), 2);  // 60+40 and 40+40 ≤ 120; 3 primes would be 140
    l.special_prime_bits = {60};
    EXPECT_EQ(he::rotation_digit_size(l), 1);
    l.special_prime_bits = {50};
    EXPECT_THROW(he::rotation_digit_size(l), std::invalid_argument);
}

TEST(ChannelRuntime, ConvWithStrideAndPadding) {
    Builder b({2, 8, 8}, 5);
    b.conv(3, 3, 2, 1);
    expect_close(run_encrypted(b.finish(), 12, 1), "conv 2→3 3×3/2 pad 1");
}

TEST(ChannelRuntime, ActivationsAtEveryGranularity) {
    for (const char* g : {"layer", "channel", "element"}) {
        Builder b({1, 6, 6}, 6);
        b.conv(2, 3, 1, 1);
        b.act(g);
        expect_close(run_encrypted(b.finish(), 12, 2), std::string("activation, ") + g);
    }
}

TEST(ChannelRuntime, AveragePoolAlone) {
    Builder b({2, 8, 8}, 7);
    b.avgpool(2, 2);
    expect_close(run_encrypted(b.finish(), 12, 3), "avgpool 2×2/2");
}

TEST(ChannelRuntime, FlattenAndDense) {
    Builder b({2, 6, 6}, 8);
    b.conv(2, 3, 1, 0);
    b.flatten();
    b.dense(7);
    expect_close(run_encrypted(b.finish(), 12, 4), "conv → flatten → dense");
}

TEST(ChannelRuntime, WholeSmallCryptoNets) {
    const auto r = run_encrypted(cryptonets(12), 13, 5);
    expect_close(r, "cryptonets 12×12");
    EXPECT_EQ(std::max_element(r.got.begin(), r.got.end()) - r.got.begin(), std::max_element(r.want.begin(), r.want.end()) - r.want.begin());
}

TEST(ChannelRuntime, RefusesMissingKeysAndWrongInputs) {
    const he::Plan plan = compile_channel(cryptonets(12));
    ChannelSetup s(plan, 13);
    const he::ChannelPlan cp = he::make_channel_plan(plan, s.ctx->slots());
    auto keygen = ckks::KeyGenerator::insecure_test_only_from_seed(s.ctx, math::Seed{3});
    const auto rk = keygen.create_relin_key();
    auto steps = cp.rotation_steps();
    ASSERT_FALSE(steps.empty());
    steps.pop_back();
    const auto partial = keygen.create_rotation_keys(steps);
    EXPECT_THROW(he::ChannelRuntime(cp, s.ctx, rk, partial), std::invalid_argument);
    ckks::Encoder enc(s.ctx);
    ckks::Encryptor encryptor(s.ctx, keygen.secret_key());
    EXPECT_THROW(he::encrypt_image(enc, encryptor, cp, std::vector<double>(5, 0.0)), std::invalid_argument);
}
