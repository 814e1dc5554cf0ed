// The compiler's folding rules, checked in plaintext: the plan executed in double
// precision (he::run_plaintext) must equal nn's reference runner on the unfolded model
// (relative error ≤ 1e-9: only floating-point reassociation differs), and the plan's
// structure (steps, depth, ciphertext counts) must be what the rules say.
#include <gtest/gtest.h>

#include <cmath>

#include "he/he_models.h"
#include "hecnn/he/compiler.h"
#include "hecnn/nn/reference.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

// max |plan − reference| / max(1, max |reference|) over `samples` random inputs.
double folding_error(const nn::Model& m, const he::Plan& plan, std::size_t samples = 8, unsigned seed = 3) {
    const std::size_t F = static_cast<std::size_t>(nn::element_count(m.input_shape()));
    const auto x = random_inputs(samples * F, seed);
    const auto got = he::run_plaintext(plan, x, samples);
    nn::ReferenceRunner ref(m);
    double err = 0, mag = 1;
    const std::size_t K = plan.outputs.size();
    for (std::size_t s = 0; s < samples; ++s) {
        const auto want = ref.run(std::span<const double>(x).subspan(s * F, F));
        EXPECT_EQ(want.size(), K);
        for (std::size_t k = 0; k < K; ++k) err = std::max(err, std::fabs(got[s * K + k] - want[k])), mag = std::max(mag, std::fabs(want[k]));
    }
    return err / mag;
}

int count(const he::Plan& p, he::Step::Kind k) {
    int n = 0;
    for (const auto& s : p.steps) n += s.kind == k;
    return n;
}

}  // namespace

TEST(Compiler, CryptoNetsFoldsToFiveLevels) {
    const auto m = cryptonets(28);
    const auto plan = he::compile(m, {.complete_squares = false});
    EXPECT_LE(folding_error(m, plan), 1e-9);
    // conv | square | pool+poly+dense | square | poly+dense: every conv/dense one level,
    // every activation one level, pooling and the coefficients none.
    EXPECT_EQ(plan.depth, 5);
    ASSERT_EQ(plan.steps.size(), 5u);
    EXPECT_EQ(plan.input_count, 784);
    const std::size_t counts[] = {864, 864, 48, 48, 10};
    for (int i = 0; i < 5; ++i) EXPECT_EQ(plan.steps[i].output_count(), counts[i]) << i;
    // The conv: one group per output position, 25 inputs → 6 outputs.
    EXPECT_EQ(plan.steps[0].groups.size(), 144u);
    EXPECT_EQ(plan.steps[0].macs(), 864 * 25);
    // pool + dense: each output reads the 864 squares and the 864 conv outputs (b·x term).
    ASSERT_EQ(plan.steps[2].groups.size(), 1u);
    EXPECT_EQ(plan.steps[2].groups[0].inputs.size(), 2u * 864);
    EXPECT_EQ(plan.outputs.size(), 10u);
}

// The activation's coefficients (a, b of a·x² + b·x) of element e of the Builder's act()
// nodes that follow `conv_or_dense`: the Mul-by-A and Mul-by-B nodes after it.
std::pair<std::vector<double>, std::vector<double>> act_coefficients(const nn::Model& m, std::size_t after) {
    std::vector<const nn::Node*> muls;
    for (std::size_t i = after + 1; i < m.nodes.size() && muls.size() < 3; ++i)
        if (m.nodes[i].op == nn::Op::Mul) muls.push_back(&m.nodes[i]);
    return {muls.at(1)->weight.data, muls.at(2)->weight.data};  // (x·x, then ·A, then x·B)
}

TEST(Compiler, CompletesTheSquareOfQuadraticActivations) {
    // α·x² + β·x = α·(x + β/2α)² − β²/4α: the layer after an activation reads the squares
    // only, except for the elements whose shift |β/2α| exceeds the bound — counted here
    // from the model's own coefficients.
    const auto m = cryptonets(28);
    std::size_t conv = 0;
    while (m.nodes[conv].op != nn::Op::Conv) ++conv;
    const auto [a, b] = act_coefficients(m, conv);
    ASSERT_EQ(a.size(), 864u);
    for (const double bound : {8.0, 1e9}) {
        std::size_t kept = 0;
        for (std::size_t e = 0; e < a.size(); ++e) kept += std::fabs(b[e] / (2 * a[e])) > bound;
        const auto plan = he::compile(m, {.max_square_shift = bound});
        EXPECT_LE(folding_error(m, plan), 1e-9) << bound;
        EXPECT_EQ(plan.depth, 5);
        ASSERT_EQ(plan.steps.size(), 5u);
        ASSERT_EQ(plan.steps[2].groups.size(), 1u);
        EXPECT_EQ(plan.steps[2].groups[0].inputs.size(), 864u + kept) << bound;
        EXPECT_EQ(plan.steps[2].macs(), static_cast<std::int64_t>(48 * (864 + kept)));
        // The second activation (48 elements) is completed too: the output layer reads ≤ 48 + kept.
        EXPECT_LT(plan.steps[4].groups[0].inputs.size(), 96u);
        if (bound > 1e6) EXPECT_EQ(kept, 0u);
    }
    EXPECT_GT(he::compile(m).steps[2].macs(), 0);
}

TEST(Compiler, PoolsGetTheirOwnStepWithinTheLevelBudget) {
    // A 3×3/2 pool folded into the 3×3 conv after it makes a 7×7 conv; given one level
    // more, the pool gets its own step and the MACs drop. The result is the model's.
    Builder b({2, 12, 12}, 21);
    b.conv(4, 3, 1, 1);
    b.act("element");
    b.avgpool(3, 2, 1, true);
    b.conv(4, 3, 1, 1);
    b.act("channel");
    b.avgpool(2, 2);
    b.dense(3);
    const auto m = b.finish();
    const auto folded = he::compile(m);
    const auto total = [](const he::Plan& p) {
        std::int64_t n = 0;
        for (const auto& s : p.steps) n += s.macs();
        return n;
    };
    EXPECT_EQ(he::compile(m, {.level_budget = folded.depth}).steps.size(), folded.steps.size());  // no level to spare
    const auto one = he::compile(m, {.level_budget = folded.depth + 1});
    const auto all = he::compile(m, {.level_budget = 1000});
    EXPECT_EQ(one.depth, folded.depth + 1);
    EXPECT_EQ(all.depth, folded.depth + 2);
    EXPECT_LT(total(one), total(folded));
    EXPECT_LT(total(all), total(one));
    for (const auto* p : {&folded, &one, &all}) EXPECT_LE(folding_error(m, *p), 1e-9);
    // The first pool saves the most (it shrinks the 3×3 conv's window from 7×7 to 3×3).
    std::size_t pool = 0;
    while (m.nodes[pool].op != nn::Op::AveragePool) ++pool;
    bool first_pool_separate = false;
    for (const auto& s : one.steps) first_pool_separate |= s.kind == he::Step::Kind::Linear && s.name == m.nodes[pool].name;
    EXPECT_TRUE(first_pool_separate);
}

TEST(Compiler, ActivationGranularitiesAndNoLinearTerm) {
    for (const char* g : {"layer", "channel", "element"}) {
        Builder b({2, 6, 6}, 11);
        b.conv(3, 3, 1, 1);
        b.act(g);
        b.dense(5);
        const auto m = b.finish();
        const auto plan = he::compile(m);
        EXPECT_LE(folding_error(m, plan), 1e-9) << g;
        EXPECT_EQ(plan.depth, 3) << g;
    }
    // a·x² + c (no b·x): the next linear step reads only the squares.
    Builder b({2, 6, 6}, 12);
    b.conv(3, 3, 1, 1);
    b.act("element", false);
    b.dense(5);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    ASSERT_EQ(plan.steps.size(), 3u);
    EXPECT_EQ(plan.steps[2].groups[0].inputs.size(), 108u);
}

TEST(Compiler, BatchNormFoldsIntoNeighbours) {
    // conv → BN → act → BN → conv(groups 2, stride 2, pad) → BN → GAP → dense
    Builder b({4, 8, 8}, 21);
    b.batchnorm();  // BN on the input folds into the first conv
    b.conv(4, 3, 1, 1);
    b.batchnorm();
    b.act("channel");
    b.batchnorm();
    b.conv(6, 3, 2, 1, 2);
    b.batchnorm();
    b.gap();
    b.dense(3);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    // conv | square | conv+BN+GAP+dense: the BNs, the pool and the dense cost nothing.
    EXPECT_EQ(plan.depth, 3);
    EXPECT_EQ(count(plan, he::Step::Kind::Linear), 2);
    EXPECT_EQ(count(plan, he::Step::Kind::Square), 1);
}

TEST(Compiler, PoolingPaddingAndPadOperator) {
    for (bool include : {false, true}) {
        Builder b({2, 7, 7}, 31);
        b.conv(3, 3, 1, 0);
        b.act("element");
        b.pad(1);
        b.avgpool(3, 2, 1, include);
        b.conv(2, 2, 1, 0);
        b.act("layer");
        b.avgpool(2, 1);
        b.dense(4);
        const auto m = b.finish();
        const auto plan = he::compile(m);
        EXPECT_LE(folding_error(m, plan), 1e-9) << include;
        EXPECT_EQ(plan.depth, 5);
    }
}

TEST(Compiler, FireConcatIsReindexing) {
    Builder b({3, 6, 6}, 41);
    b.conv(4, 3, 1, 1);
    b.act("channel");
    b.fire(2, 3, 3);  // squeeze → act → expand 1×1 ‖ expand 3×3 → concat
    b.act("element");
    b.gap();
    b.dense(4);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    // conv | sq | squeeze | sq | expand (both branches, one step) | sq | gap+dense
    EXPECT_EQ(plan.depth, 7);
    EXPECT_EQ(count(plan, he::Step::Kind::Linear), 4);
    // the concat's elements are the two expands' outputs, nothing else
    EXPECT_EQ(plan.steps[4].output_count(), 6u * 36);
}

TEST(Compiler, LinearOnlyModelAndConstantsFoldToOneStep) {
    Builder b({2, 5, 5}, 51);
    b.conv(3, 3);
    b.avgpool(3, 1);
    b.batchnorm();
    b.dense(6);
    b.dense(3);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    EXPECT_EQ(plan.depth, 1);
    EXPECT_EQ(plan.steps.size(), 1u);
}

TEST(Compiler, ProductOfProportionalFormsIsOneSquare) {
    // x · (w·x + b) with a 1×1 single-channel conv: linear parts proportional, so it is
    // w·x² + b·x — one Square step on the input wires, no Linear step before it.
    Builder b({1, 4, 4}, 61);
    const int x = b.cur();
    const int y = b.conv(1, 1);
    b.set_cur(b.node(b.make(nn::Op::Mul, {x, y})));
    b.dense(3);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    ASSERT_EQ(plan.steps.size(), 2u) << plan.summary();
    EXPECT_EQ(plan.steps[0].kind, he::Step::Kind::Square);
    EXPECT_EQ(plan.steps[0].inputs, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
    EXPECT_EQ(plan.depth, 2);
}

// Every output of a Square/Product step is one level below its deeper operand.
void expect_product_depths(const he::Plan& plan) {
    for (const auto& st : plan.steps) {
        if (st.kind != he::Step::Kind::Square) continue;
        ASSERT_EQ(st.inputs.size(), st.outputs.size() * static_cast<std::size_t>(st.arity));
        for (std::size_t i = 0; i < st.outputs.size(); ++i) {
            int d = 0;
            for (int w : st.operands(i)) d = std::max(d, plan.wire_depth[w]);
            EXPECT_EQ(plan.wire_depth[st.outputs[i]], d + 1) << st.name << " output " << i;
        }
    }
}

int arity2_steps(const he::Plan& plan) {
    int n = 0;
    for (const auto& st : plan.steps) n += st.kind == he::Step::Kind::Square && st.arity == 2;
    return n;
}

TEST(Compiler, ProductOfTwoValuesIsOneProductStep) {
    // x · conv3×3(x): the linear parts are not proportional — a ciphertext × ciphertext
    // product of the input wire (depth 0) and the conv output (depth 1): depth 2.
    Builder b({1, 4, 4}, 61);
    const int x = b.cur();
    b.conv(1, 3, 1, 1);
    const int y = b.cur();
    b.set_cur(b.node(b.make(nn::Op::Mul, {x, y})));
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    // conv | product: the model output is exactly the product wires (no coefficients left)
    ASSERT_EQ(plan.steps.size(), 2u) << plan.summary();
    const auto& st = plan.steps[1];
    EXPECT_EQ(st.kind, he::Step::Kind::Square);
    EXPECT_EQ(st.arity, 2);
    EXPECT_EQ(std::string(st.kind_name()), "product");
    ASSERT_EQ(st.outputs.size(), 16u);
    for (std::size_t i = 0; i < 16; ++i) {
        EXPECT_EQ(st.operands(i)[0], static_cast<int>(i));  // the input wire, then the conv's
        EXPECT_EQ(plan.wire_depth[st.operands(i)[0]], 0);
        EXPECT_EQ(plan.wire_depth[st.operands(i)[1]], 1);
    }
    expect_product_depths(plan);
    EXPECT_EQ(plan.depth, 2);
    EXPECT_NE(plan.summary().find("product"), std::string::npos);
}

TEST(Compiler, OneStepHoldsSquaresAndProducts) {
    const auto m = square_and_product();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    ASSERT_EQ(arity2_steps(plan), 1) << plan.summary();
    int squares = 0, products = 0;
    for (const auto& st : plan.steps)
        if (st.arity == 2)
            for (std::size_t i = 0; i < st.outputs.size(); ++i) (st.operands(i)[0] == st.operands(i)[1] ? squares : products) += 1;
    EXPECT_EQ(squares, 9);
    EXPECT_EQ(products, 9);
    expect_product_depths(plan);
    EXPECT_EQ(plan.depth, 3);  // conv | product | dense
}

TEST(Compiler, DegreeAboveTwoIsAProductOfASquare) {
    {  // x·x·x = (x·x)·x: a square (depth 2), then its product with x (depth 1): depth 3
        Builder b({2, 3, 3}, 62);
        const int x = b.conv(2, 1);
        const int sq = b.node(b.make(nn::Op::Mul, {x, x}));
        b.set_cur(b.node(b.make(nn::Op::Mul, {sq, x})));
        const auto m = b.finish();
        const auto plan = he::compile(m);
        EXPECT_LE(folding_error(m, plan), 1e-9);
        EXPECT_EQ(arity2_steps(plan), 1) << plan.summary();
        expect_product_depths(plan);
        EXPECT_EQ(plan.depth, 3);
    }
    {  // act → batch norm → act: x⁴ as the square of a materialised a·x² + b·x + c
        Builder b({2, 3, 3}, 63);
        b.conv(2, 1);
        b.act("channel");
        b.batchnorm();
        b.act("channel");
        const auto m = b.finish();
        const auto plan = he::compile(m);
        EXPECT_LE(folding_error(m, plan), 1e-9);
        EXPECT_EQ(arity2_steps(plan), 0) << plan.summary();
        expect_product_depths(plan);
        EXPECT_EQ(plan.depth, 5);  // conv | square | linear | square | output's coefficients
    }
    // act → average pool → act: the pool mixes elements, each activation is degree 2.
    Builder b({2, 4, 4}, 64);
    b.conv(2, 1);
    b.act("channel");
    b.avgpool(2, 2);
    b.act("channel");
    b.dense(3);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    EXPECT_EQ(plan.depth, 5);  // conv | square | pool | square | dense
}

TEST(Compiler, SquareOfAnAffineImageOfAWireReusesItsSquare) {
    // x = conv(in); x·x + (g·x + β)² (a batch norm of the materialised x is one term per
    // element): both products square the same wires — one Square step.
    Builder b({2, 3, 3}, 65);
    const int x = b.conv(2, 1);
    const int sq = b.node(b.make(nn::Op::Mul, {x, x}));
    b.set_cur(x);
    const int bn = b.batchnorm();
    const int sq2 = b.node(b.make(nn::Op::Mul, {bn, bn}));
    b.set_cur(b.node(b.make(nn::Op::Add, {sq, sq2})));
    b.dense(3);
    const auto m = b.finish();
    const auto plan = he::compile(m);
    EXPECT_LE(folding_error(m, plan), 1e-9);
    EXPECT_EQ(count(plan, he::Step::Kind::Square), 1);
    EXPECT_EQ(plan.depth, 3);
}

TEST(Compiler, LazyRelinearisationWhenTheNextLayerShrinks) {
    const auto m = cryptonets(28);
    const auto plan = he::compile(m);
    // act1: 864 squares feed a linear step of 48 outputs; act2: 48 feed 10.
    EXPECT_TRUE(plan.steps[1].lazy_relin);
    EXPECT_TRUE(plan.steps[2].relin_outputs);
    EXPECT_TRUE(plan.steps[3].lazy_relin);
    EXPECT_TRUE(plan.steps[4].relin_outputs);
    // A layer that grows keeps eager relinearisation.
    Builder b({1, 3, 3}, 71);
    b.conv(2, 1);
    b.act("element");
    b.conv(8, 1);
    const auto m2 = b.finish();
    const auto p2 = he::compile(m2);
    EXPECT_FALSE(p2.steps[1].lazy_relin);
    EXPECT_FALSE(he::compile(m, {.lazy_relin = false}).steps[1].lazy_relin);
    EXPECT_LE(folding_error(m2, p2), 1e-9);
}
