// Small HE-friendly models built in code (random weights from fixed seeds) for the
// tests of the compiler, simulator and runtime.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "hecnn/he/plan.h"
#include "hecnn/nn/model.h"

namespace hecnn::test {

class Builder {
public:
    explicit Builder(nn::Shape input, unsigned seed = 1) : rng_(seed) { cur_ = m.input = m.add_value("input", std::move(input)); }

    nn::Tensor random(nn::Shape s, double scale) {
        nn::Tensor t(s);
        std::uniform_real_distribution<double> u(-scale, scale);
        for (auto& v : t.data) v = u(rng_);
        return t;
    }
    int node(nn::Node n) {
        n.name = nn::op_name(n.op) + std::string("_") + std::to_string(m.nodes.size());
        n.output = m.add_value(n.name);
        const int out = n.output;
        m.nodes.push_back(std::move(n));
        m.output = out;
        m.infer_shapes();
        return out;
    }
    nn::Node make(nn::Op op, std::vector<int> in) {
        nn::Node n;
        n.op = op;
        n.inputs = std::move(in);
        return n;
    }
    const nn::Shape& shape(int v) const { return m.values[v].shape; }

    int conv(int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0, int64_t group = 1, bool bias = true) {
        auto n = make(nn::Op::Conv, {cur_});
        const int64_t C = shape(cur_)[0];
        const double fan = static_cast<double>(C / group * k * k);
        n.weight = random({out, C / group, k, k}, 1.5 / std::sqrt(fan));
        if (bias) n.bias = random({out}, 0.2);
        n.kernel = {k, k};
        n.stride = {stride, stride};
        n.pads = {pad, pad, pad, pad};
        n.group = group;
        return cur_ = node(std::move(n));
    }
    int dense(int64_t out) {
        if (shape(cur_).size() != 1) flatten();
        auto n = make(nn::Op::Gemm, {cur_});
        const int64_t K = shape(cur_)[0];
        n.weight = random({out, K}, 1.5 / std::sqrt(static_cast<double>(K)));
        n.bias = random({out}, 0.2);
        return cur_ = node(std::move(n));
    }
    int flatten() {
        auto n = make(nn::Op::Reshape, {cur_});
        n.target = {nn::element_count(shape(cur_))};
        return cur_ = node(std::move(n));
    }
    // a·x² + b·x + c as ONNX nodes (Mul x·x, Mul by A, Mul by B, Add, Add C), with
    // coefficient shape [1], [C,1,1] (or [F]) or the full feature shape.
    int act(const std::string& gran = "element", bool linear_term = true) {
        const nn::Shape& s = shape(cur_);
        nn::Shape cs = gran == "layer" ? nn::Shape{1} : gran == "channel" ? (s.size() == 3 ? nn::Shape{s[0], 1, 1} : s) : s;
        const int x = cur_;
        const int sq = node(make(nn::Op::Mul, {x, x}));
        auto ma = make(nn::Op::Mul, {sq});
        ma.weight = random(cs, 0.3);
        const int t1 = node(std::move(ma));
        int y = t1;
        if (linear_term) {
            auto mb = make(nn::Op::Mul, {x});
            mb.weight = random(cs, 1.0);
            const int t2 = node(std::move(mb));
            y = node(make(nn::Op::Add, {t1, t2}));
        }
        auto ac = make(nn::Op::Add, {y});
        ac.weight = random(cs, 0.2);
        return cur_ = node(std::move(ac));
    }
    int avgpool(int64_t k, int64_t stride, int64_t pad = 0, bool include_pad = false) {
        auto n = make(nn::Op::AveragePool, {cur_});
        n.kernel = {k, k};
        n.stride = {stride, stride};
        n.pads = {pad, pad, pad, pad};
        n.count_include_pad = include_pad;
        return cur_ = node(std::move(n));
    }
    int gap() { return cur_ = node(make(nn::Op::GlobalAveragePool, {cur_})); }
    int batchnorm() {
        auto n = make(nn::Op::BatchNorm, {cur_});
        const int64_t C = shape(cur_)[0];
        n.weight = random({C}, 0.5);
        for (auto& v : n.weight.data) v += 1.0;
        n.bias = random({C}, 0.3);
        n.mean = random({C}, 0.3);
        n.var = random({C}, 0.4);
        for (auto& v : n.var.data) v += 0.8;
        n.epsilon = 1e-5;
        return cur_ = node(std::move(n));
    }
    int pad(int64_t p) {
        auto n = make(nn::Op::Pad, {cur_});
        n.pads = {p, p, p, p};
        return cur_ = node(std::move(n));
    }
    // Fire: squeeze 1×1 → act → (expand 1×1 ‖ expand 3×3 pad 1) → concat.
    int fire(int64_t squeeze, int64_t e1, int64_t e3) {
        conv(squeeze, 1);
        act("channel");
        const int s = cur_;
        const int a = conv(e1, 1);
        cur_ = s;
        const int b = conv(e3, 3, 1, 1);
        auto n = make(nn::Op::Concat, {a, b});
        n.axis = 0;
        return cur_ = node(std::move(n));
    }
    nn::Model finish() {
        m.output = cur_;
        m.infer_shapes();
        return m;
    }
    int cur() const { return cur_; }
    void set_cur(int v) { cur_ = v; }

    nn::Model m;

private:
    std::mt19937 rng_;
    int cur_ = -1;
};

// x · conv1×1(x) on an input x of [2, S, S], then dense(3). The conv's channel 0 is
// 2·x₀ + 0.5 (proportional to x₀: a square of an input wire), channel 1 is x₀ + x₁ (not:
// a product of an input wire, depth 0, and the conv's output, depth 1), so the product
// node makes ONE step of arity 2 holding both squares (x, x) and products at two depths.
inline nn::Model square_and_product(int64_t S = 3, unsigned seed = 9) {
    Builder b({2, S, S}, seed);
    const int x = b.cur();
    b.conv(2, 1);
    nn::Node& c = b.m.nodes.back();
    c.weight.data = {2.0, 0.0, 1.0, 1.0};  // [out][in]
    c.bias.data = {0.5, -0.25};
    b.set_cur(b.node(b.make(nn::Op::Mul, {x, b.cur()})));
    b.dense(3);
    return b.finish();
}

// The CryptoNets-scale model of the SEAL baseline (docs/BASELINES.md), for an input of [1, S, S].
inline nn::Model cryptonets(int64_t S = 28, unsigned seed = 7) {
    Builder b({1, S, S}, seed);
    b.conv(6, 5, 2);
    b.act("element");
    b.avgpool(2, 2);
    b.dense(48);
    b.act("element");
    b.dense(10);
    return b.finish();
}

// A wide first layer (600 ciphertexts, squared) and narrow later ones: the peak is far
// above what any one unit needs, so a budget in between forces spilling. (In CryptoNets
// the dense layer reads every square and x: that one unit is the whole peak.)
inline nn::Model wide_then_narrow() {
    Builder b({2, 10, 10}, 77);
    b.conv(6, 3, 1, 1);
    b.act("element");
    b.conv(3, 3, 2, 1);
    b.act("channel");
    b.dense(10);
    return b.finish();
}

// A plan written by hand, small enough to follow on paper: inputs w0, w1;
//   step 0 linear  w2 = 0.5·w0 − 0.25·w1 + 0.125
//   step 1 square  w3 = w2²          (eager, or lazy: size 3, finished by step 2)
//   step 2 linear  w4 = 0.75·w2 + 0.5·w3 − 0.0625
// output w4. Depths 0, 0, 1, 2, 3: step 2 reads w2 one level below where the square read
// it, so w2 is dropped after the square.
inline he::Plan tiny_plan(bool lazy = false) {
    he::Plan p;
    p.input_shape = {2};
    p.output_shape = {1};
    p.input_count = 2;
    p.wire_depth = {0, 0, 1, 2, 3};
    p.wire_size = {2, 2, 2, lazy ? 3 : 2, 2};
    p.wire_step = {-1, -1, 0, 1, 2};
    he::Step a;
    a.kind = he::Step::Kind::Linear;
    a.name = "a";
    a.groups = {{.inputs = {0, 1}, .outputs = {2}, .weights = {0.5, -0.25}, .bias = {0.125}}};
    he::Step sq;
    sq.kind = he::Step::Kind::Square;
    sq.name = "sq";
    sq.inputs = {2};
    sq.outputs = {3};
    sq.lazy_relin = lazy;
    he::Step b;
    b.kind = he::Step::Kind::Linear;
    b.name = "b";
    b.groups = {{.inputs = {2, 3}, .outputs = {4}, .weights = {0.75, 0.5}, .bias = {-0.0625}}};
    b.relin_outputs = lazy;
    p.steps = {a, sq, b};
    p.outputs = {4};
    p.depth = 3;
    return p;
}

inline std::vector<double> random_inputs(std::size_t n, unsigned seed, double lo = -1, double hi = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

}  // namespace hecnn::test
