// Shape inference and validation of the model graph. Every check names the node, since
// models come from files that may be malformed or hostile.
#include "hecnn/nn/model.h"

#include <cmath>

namespace hecnn::nn {

const char* op_name(Op op) {
    switch (op) {
        case Op::Conv: return "Conv";
        case Op::Gemm: return "Gemm";
        case Op::Add: return "Add";
        case Op::Mul: return "Mul";
        case Op::AveragePool: return "AveragePool";
        case Op::GlobalAveragePool: return "GlobalAveragePool";
        case Op::Concat: return "Concat";
        case Op::BatchNorm: return "BatchNormalization";
        case Op::Reshape: return "Reshape";
        case Op::Pad: return "Pad";
    }
    return "?";
}

int Model::add_value(std::string name, Shape shape) {
    values.push_back({std::move(name), std::move(shape)});
    return static_cast<int>(values.size()) - 1;
}

int Model::find_value(const std::string& name) const {
    for (size_t i = 0; i < values.size(); ++i)
        if (values[i].name == name) return static_cast<int>(i);
    return -1;
}

namespace {

[[noreturn]] void fail(const Node& n, const std::string& what) {
    throw ModelError(std::string("node '") + n.name + "' (" + op_name(n.op) + "): " + what);
}

void check_finite(const Node& n, const Tensor& t, const char* what) {
    for (double v : t.data)
        if (!std::isfinite(v)) fail(n, std::string(what) + " holds a non-finite value");
}

// Output size of a sliding window along one axis; fails unless it is at least 1.
int64_t window_out(const Node& n, int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) {
    if (k < 1 || k > 1024 || s < 1 || s > 1024 || d < 1 || d > 1024 || p0 < 0 || p1 < 0 || p0 > 1024 || p1 > 1024)
        fail(n, "kernel, stride, dilation or padding out of range");
    const int64_t span = d * (k - 1) + 1;
    if (in + p0 + p1 < span) fail(n, "kernel larger than the padded input");
    return (in + p0 + p1 - span) / s + 1;
}

// Broadcast check for a constant operand: right-aligned, each dimension 1 or equal, and
// the result must keep the activation's shape (a constant never enlarges a feature map).
void check_broadcast(const Node& n, const Shape& x, const Shape& c) {
    if (c.size() > x.size()) fail(n, "constant of shape " + to_string(c) + " has more dimensions than the input " + to_string(x));
    for (size_t i = 0; i < c.size(); ++i) {
        int64_t cd = c[c.size() - 1 - i], xd = x[x.size() - 1 - i];
        if (cd != 1 && cd != xd) fail(n, "constant of shape " + to_string(c) + " does not broadcast to " + to_string(x));
    }
}

}  // namespace

void Model::infer_shapes(const Limits& lim) {
    if (static_cast<int64_t>(nodes.size()) > lim.max_nodes)
        throw ModelError("model has " + std::to_string(nodes.size()) + " nodes, more than the limit " + std::to_string(lim.max_nodes));
    if (input < 0 || input >= static_cast<int>(values.size())) throw ModelError("model has no input");
    if (output < 0 || output >= static_cast<int>(values.size())) throw ModelError("model has no output");
    const Shape& in = values[input].shape;
    if (in.empty() || in.size() > 3) throw ModelError("model input must be [C,H,W] or [F] per sample, got " + to_string(in));
    for (int64_t d : in)
        if (d < 1) throw ModelError("model input shape " + to_string(in) + " has a dimension below 1");
    if (element_count(in, lim.max_value_elements) < 1) throw ModelError("empty input");

    std::vector<bool> defined(values.size(), false);
    defined[input] = true;
    int64_t weights = 0, macs = 0;
    for (auto& n : nodes) {
        for (int id : n.inputs)
            if (id < 0 || id >= static_cast<int>(values.size()) || !defined[id]) fail(n, "uses a value that is not computed before it");
        if (n.output < 0 || n.output >= static_cast<int>(values.size())) fail(n, "has no output value");
        if (defined[n.output]) fail(n, "output '" + values[n.output].name + "' is computed twice");
        for (const Tensor* t : {&n.weight, &n.bias, &n.mean, &n.var}) {
            if (t->shape.empty() && t->data.empty()) continue;  // parameter not used
            int64_t c = 0;
            try {
                c = element_count(t->shape, lim.max_weight_elements);
            } catch (const std::invalid_argument& e) {
                fail(n, e.what());
            }
            if (c != t->size()) fail(n, "parameter of shape " + to_string(t->shape) + " holds " + std::to_string(t->size()) + " values");
            weights += c;
            check_finite(n, *t, "a parameter");
        }
        if (weights > lim.max_weight_elements) fail(n, "the model's constants exceed the limit of " + std::to_string(lim.max_weight_elements) + " values");
        auto arity = [&](size_t k) {
            if (n.inputs.size() != k) fail(n, "expects " + std::to_string(k) + " input(s), has " + std::to_string(n.inputs.size()));
        };
        auto x = [&](size_t i) -> const Shape& { return values[n.inputs[i]].shape; };
        Shape out;
        switch (n.op) {
            case Op::Conv: {
                arity(1);
                const Shape& s = x(0);
                if (s.size() != 3) fail(n, "input must be [C,H,W], got " + to_string(s));
                const Shape& w = n.weight.shape;
                if (w.size() != 4) fail(n, "weight must be [M,C/group,kh,kw], got " + to_string(w));
                if (n.group < 1 || s[0] % n.group != 0 || w[0] % n.group != 0 || w[1] * n.group != s[0])
                    fail(n, "weight " + to_string(w) + " and group " + std::to_string(n.group) + " do not match input channels " + std::to_string(s[0]));
                if (n.kernel[0] != w[2] || n.kernel[1] != w[3]) fail(n, "kernel_shape does not match the weight");
                if (!n.bias.empty() && n.bias.shape != Shape{w[0]}) fail(n, "bias must be [" + std::to_string(w[0]) + "]");
                int64_t oh = window_out(n, s[1], w[2], n.stride[0], n.dilation[0], n.pads[0], n.pads[2]);
                int64_t ow = window_out(n, s[2], w[3], n.stride[1], n.dilation[1], n.pads[1], n.pads[3]);
                out = {w[0], oh, ow};
                macs += w[0] * oh * ow * w[1] * w[2] * w[3];
                break;
            }
            case Op::Gemm: {
                arity(1);
                const Shape& s = x(0);
                if (s.size() != 1) fail(n, "input must be a flat vector [K], got " + to_string(s) + " (add a Flatten before it)");
                const Shape& w = n.weight.shape;
                if (w.size() != 2 || w[1] != s[0]) fail(n, "weight " + to_string(w) + " does not match input " + to_string(s));
                if (!n.bias.empty() && n.bias.size() != w[0]) fail(n, "bias must have " + std::to_string(w[0]) + " values");
                out = {w[0]};
                macs += w[0] * w[1];
                break;
            }
            case Op::Add:
            case Op::Mul: {
                if (n.inputs.size() == 2) {
                    if (x(0) != x(1)) fail(n, "operands " + to_string(x(0)) + " and " + to_string(x(1)) + " differ in shape");
                    if (!n.weight.empty()) fail(n, "has both two operands and a constant");
                } else {
                    arity(1);
                    if (n.weight.empty()) fail(n, "has one operand and no constant");
                    check_broadcast(n, x(0), n.weight.shape);
                }
                out = x(0);
                break;
            }
            case Op::AveragePool: {
                arity(1);
                const Shape& s = x(0);
                if (s.size() != 3) fail(n, "input must be [C,H,W], got " + to_string(s));
                if (n.pads[0] >= n.kernel[0] || n.pads[2] >= n.kernel[0] || n.pads[1] >= n.kernel[1] || n.pads[3] >= n.kernel[1])
                    fail(n, "padding must be smaller than the kernel");
                int64_t oh = window_out(n, s[1], n.kernel[0], n.stride[0], 1, n.pads[0], n.pads[2]);
                int64_t ow = window_out(n, s[2], n.kernel[1], n.stride[1], 1, n.pads[1], n.pads[3]);
                out = {s[0], oh, ow};
                break;
            }
            case Op::GlobalAveragePool:
                arity(1);
                if (x(0).size() != 3) fail(n, "input must be [C,H,W], got " + to_string(x(0)));
                out = {x(0)[0], 1, 1};
                break;
            case Op::Concat: {
                if (n.inputs.empty()) fail(n, "has no inputs");
                const Shape& s0 = x(0);
                if (n.axis < 0 || n.axis >= static_cast<int64_t>(s0.size())) fail(n, "axis out of range");
                out = s0;
                for (size_t i = 1; i < n.inputs.size(); ++i) {
                    const Shape& s = x(i);
                    if (s.size() != s0.size()) fail(n, "operands differ in rank");
                    for (size_t d = 0; d < s.size(); ++d)
                        if (static_cast<int64_t>(d) != n.axis && s[d] != s0[d]) fail(n, "operands differ outside the concatenation axis");
                    out[n.axis] += s[n.axis];
                }
                break;
            }
            case Op::BatchNorm: {
                arity(1);
                const Shape& s = x(0);
                if (s.empty()) fail(n, "input has no channel dimension");
                for (const Tensor* t : {&n.weight, &n.bias, &n.mean, &n.var})
                    if (t->size() != s[0]) fail(n, "scale, bias, mean and var must have " + std::to_string(s[0]) + " values each");
                for (double v : n.var.data)
                    if (v < 0) fail(n, "negative variance");
                if (!(n.epsilon >= 0) || !std::isfinite(n.epsilon)) fail(n, "bad epsilon");
                out = s;
                break;
            }
            case Op::Reshape: {
                arity(1);
                // Target entries: > 0 literal, 0 copies the input's dimension, one −1 takes
                // the rest; an empty target flattens. Resolved here to a concrete shape.
                const Shape& in = x(0);
                const int64_t have = element_count(in);
                if (n.target.size() > 3) fail(n, "target shape must have at most 3 dimensions");
                Shape t = n.target.empty() ? Shape{have} : n.target;
                int minus = -1;
                int64_t rest = 1;
                for (size_t i = 0; i < t.size(); ++i) {
                    if (t[i] == 0) {
                        if (i >= in.size()) fail(n, "0 copies a dimension the input does not have");
                        t[i] = in[i];
                    }
                    if (t[i] == -1) {
                        if (minus >= 0) fail(n, "more than one -1 in the target shape");
                        minus = static_cast<int>(i);
                        continue;
                    }
                    if (t[i] < 1 || t[i] > lim.max_value_elements) fail(n, "target shape " + to_string(n.target) + " has a bad dimension");
                    rest *= t[i];
                    if (rest > lim.max_value_elements) fail(n, "target shape too large");
                }
                if (minus >= 0) {
                    if (have % rest) fail(n, "cannot reshape " + to_string(in) + " to " + to_string(n.target));
                    t[minus] = have / rest;
                }
                if (element_count(t) != have) fail(n, "cannot reshape " + to_string(in) + " to " + to_string(n.target));
                n.target = t;
                out = t;
                break;
            }
            case Op::Pad: {
                arity(1);
                const Shape& s = x(0);
                if (s.size() != 3) fail(n, "input must be [C,H,W], got " + to_string(s));
                for (int64_t p : n.pads)
                    if (p < 0 || p > 1024) fail(n, "padding out of range");
                out = {s[0], s[1] + n.pads[0] + n.pads[2], s[2] + n.pads[1] + n.pads[3]};
                break;
            }
        }
        try {
            element_count(out, lim.max_value_elements);
        } catch (const std::invalid_argument& e) {
            fail(n, std::string("output too large: ") + e.what());
        }
        if (macs > lim.max_macs_per_sample) fail(n, "the model exceeds the limit of multiply-accumulates per sample");
        values[n.output].shape = std::move(out);
        defined[n.output] = true;
    }
    if (!defined[output]) throw ModelError("the model's output '" + values[output].name + "' is never computed");
}

int64_t Model::macs_per_sample() const {
    int64_t m = 0;
    for (auto& n : nodes) {
        const Shape& o = values[n.output].shape;
        if (n.op == Op::Conv) m += element_count(o) * n.weight.shape[1] * n.weight.shape[2] * n.weight.shape[3];
        if (n.op == Op::Gemm) m += n.weight.size();
    }
    return m;
}

int64_t average_pool_window(const Node& n, const Shape& in, int64_t c, int64_t oh, int64_t ow, std::vector<std::size_t>& members) {
    const int64_t H = in[1], W = in[2];
    members.clear();
    int64_t count = 0;
    for (int64_t kh = 0; kh < n.kernel[0]; ++kh) {
        const int64_t ih = oh * n.stride[0] - n.pads[0] + kh;
        for (int64_t kw = 0; kw < n.kernel[1]; ++kw) {
            const int64_t iw = ow * n.stride[1] - n.pads[1] + kw;
            const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
            const bool in_padded = ih >= -n.pads[0] && ih < H + n.pads[2] && iw >= -n.pads[1] && iw < W + n.pads[3];
            if (inside) members.push_back(static_cast<std::size_t>((c * H + ih) * W + iw)), ++count;
            else if (n.count_include_pad && in_padded) ++count;
        }
    }
    return count;
}

}  // namespace hecnn::nn
