// nn::Model shape inference/validation and the reference runner against hand computations.
#include <gtest/gtest.h>

#include "hecnn/nn/arch.h"
#include "hecnn/nn/model.h"
#include "hecnn/nn/reference.h"

using namespace hecnn::nn;

namespace {

Node make(Op op, std::string name, std::vector<int> in, int out) {
    Node n;
    n.op = op;
    n.name = std::move(name);
    n.inputs = std::move(in);
    n.output = out;
    return n;
}

}  // namespace

TEST(Model, ConvStridePadByHand) {
    Model m;
    m.input = m.add_value("x", {1, 3, 3});
    m.output = m.add_value("y");
    Node c = make(Op::Conv, "conv", {m.input}, m.output);
    c.weight = Tensor({2, 1, 2, 2}, {1, 2, 3, 4, 0, 0, 0, 1});
    c.bias = Tensor({2}, {0.5, -1});
    c.kernel = {2, 2};
    c.stride = {2, 2};
    c.pads = {1, 1, 0, 0};
    m.nodes.push_back(c);
    m.infer_shapes();
    ASSERT_EQ(m.output_shape(), (Shape{2, 2, 2}));
    // x = 1..9; padded by one row/column at top/left; stride 2.
    std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
    auto y = ReferenceRunner(m).run(x);
    // out[0][0][0]: window rows -1..0, cols -1..0 → only x[0][0]=1 under weight 4.
    EXPECT_DOUBLE_EQ(y[0], 0.5 + 4 * 1);
    // out[0][0][1]: rows -1..0, cols 1..2 → x[0][1]=2 (w 3), x[0][2]=3 (w 4).
    EXPECT_DOUBLE_EQ(y[1], 0.5 + 3 * 2 + 4 * 3);
    // out[0][1][1]: rows 1..2, cols 1..2 → 5,6,8,9 with 1,2,3,4.
    EXPECT_DOUBLE_EQ(y[3], 0.5 + 5 + 12 + 24 + 36);
    EXPECT_DOUBLE_EQ(y[7], -1 + 9);
    EXPECT_EQ(m.macs_per_sample(), 2 * 2 * 2 * 4);
}

TEST(Model, AveragePoolPaddingCounts) {
    for (bool include : {true, false}) {
        Model m;
        m.input = m.add_value("x", {1, 2, 2});
        m.output = m.add_value("y");
        Node p = make(Op::AveragePool, "pool", {m.input}, m.output);
        p.kernel = {2, 2};
        p.stride = {2, 2};
        p.pads = {1, 1, 1, 1};
        p.count_include_pad = include;
        m.nodes.push_back(p);
        m.infer_shapes();
        ASSERT_EQ(m.output_shape(), (Shape{1, 2, 2}));
        auto y = ReferenceRunner(m).run(std::vector<double>{4, 8, 12, 16});
        EXPECT_DOUBLE_EQ(y[0], include ? 1.0 : 4.0);
        EXPECT_DOUBLE_EQ(y[3], include ? 4.0 : 16.0);
    }
}

TEST(Model, PolynomialBroadcastGranularities) {
    // y = a·x² + b·x + c with [1], [C,1,1] and [C,H,W] coefficients.
    for (Granularity g : {Granularity::Layer, Granularity::Channel, Granularity::Element}) {
        const Shape f{2, 1, 2};
        Model m;
        m.input = m.add_value("x", f);
        int sq = m.add_value("sq"), ax = m.add_value("ax"), bx = m.add_value("bx"), s = m.add_value("s");
        m.output = m.add_value("y");
        Shape cs = coefficient_shape(f, g);
        const int64_t k = element_count(cs);
        std::vector<double> a(k), b(k), c(k);
        for (int64_t i = 0; i < k; ++i) a[i] = 0.1 * (i + 1), b[i] = 0.5 - 0.1 * i, c[i] = 0.01 * i;
        m.nodes.push_back(make(Op::Mul, "sq", {m.input, m.input}, sq));
        Node na = make(Op::Mul, "a", {sq}, ax);
        na.weight = Tensor(cs, a);
        Node nb = make(Op::Mul, "b", {m.input}, bx);
        nb.weight = Tensor(cs, b);
        Node nc = make(Op::Add, "c", {s}, m.output);
        nc.weight = Tensor(cs, c);
        m.nodes.push_back(na);
        m.nodes.push_back(nb);
        m.nodes.push_back(make(Op::Add, "add", {ax, bx}, s));
        m.nodes.push_back(nc);
        m.infer_shapes();
        std::vector<double> x{1, -2, 3, 0.5};
        auto y = ReferenceRunner(m).run(x);
        for (int64_t i = 0; i < 4; ++i) {
            const int64_t j = g == Granularity::Layer ? 0 : g == Granularity::Channel ? i / 2 : i;
            EXPECT_DOUBLE_EQ(y[i], a[j] * x[i] * x[i] + b[j] * x[i] + c[j]) << granularity_name(g) << " element " << i;
        }
    }
}

TEST(Model, ConcatBatchNormGemmReshape) {
    Model m;
    m.input = m.add_value("x", {1, 1, 2});
    int cat = m.add_value("cat"), bn = m.add_value("bn"), flat = m.add_value("flat");
    m.output = m.add_value("y");
    m.nodes.push_back(make(Op::Concat, "cat", {m.input, m.input}, cat));
    Node b = make(Op::BatchNorm, "bn", {cat}, bn);
    b.weight = Tensor({2}, {2, 1});
    b.bias = Tensor({2}, {0, 1});
    b.mean = Tensor({2}, {1, 0});
    b.var = Tensor({2}, {4, 1});
    b.epsilon = 0;
    m.nodes.push_back(b);
    m.nodes.push_back(make(Op::Reshape, "flatten", {bn}, flat));
    Node gm = make(Op::Gemm, "fc", {flat}, m.output);
    gm.weight = Tensor({1, 4}, {1, 10, 100, 1000});
    gm.bias = Tensor({1}, {0.25});
    m.nodes.push_back(gm);
    m.infer_shapes();
    EXPECT_EQ(m.values[flat].shape, (Shape{4}));
    auto y = ReferenceRunner(m).run(std::vector<double>{3, 5});
    // cat = [3,5 | 3,5]; bn ch0: (v−1)·2/2 → 2,4; ch1: v+1 → 4,6.
    EXPECT_DOUBLE_EQ(y[0], 0.25 + 2 + 40 + 400 + 6000);
}

TEST(Model, ValidationNamesTheNode) {
    Model m;
    m.input = m.add_value("x", {4});
    m.output = m.add_value("y");
    Node g = make(Op::Gemm, "fc_bad", {m.input}, m.output);
    g.weight = Tensor({2, 5});
    m.nodes.push_back(g);
    try {
        m.infer_shapes();
        FAIL();
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("fc_bad"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("Gemm"), std::string::npos);
    }
    m.nodes[0].weight = Tensor({2, 4});
    m.nodes[0].inputs = {7};
    EXPECT_THROW(m.infer_shapes(), ModelError);
    m.nodes[0].inputs = {m.input};
    Limits lim;
    lim.max_nodes = 0;
    EXPECT_THROW(m.infer_shapes(lim), ModelError);
    EXPECT_NO_THROW(m.infer_shapes());
}

TEST(Arch, SqueezeNetMatchesTheDesignCounts) {
    // docs/BASELINES.md (the BEAA SqueezeNet shape): ~33 M MACs and ~164 k activations per
    // CIFAR image.
    auto a = make_arch("squeezenet", {3, 32, 32}, 10);
    int64_t macs = 0, evals = 0, params_layer = 0;
    for (const auto& r : describe(a, Granularity::Element)) macs += r.macs, evals += r.act_evals_element_packed;
    for (const auto& r : describe(a, Granularity::Layer)) params_layer += r.act_params;
    EXPECT_EQ(evals, 64 * 32 * 32 + 2 * (32 * 16 * 16 + 128 * 16 * 16) + 2 * 128 * 8 * 8 + 10 * 8 * 8);
    EXPECT_GT(macs, 32'000'000);
    EXPECT_LT(macs, 34'000'000);
    EXPECT_EQ(params_layer, 3 * 8);  // eight activation layers
    auto c = describe(make_arch("cnn", {1, 28, 28}, 10), Granularity::Channel);
    int depth = 0;
    for (const auto& r : c) depth += r.depth;
    EXPECT_EQ(depth, 5);
    EXPECT_THROW(make_arch("squeezenet", {1, 30, 30}, 10), std::invalid_argument);
}
