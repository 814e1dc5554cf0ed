// ONNX → nn::Model. The file is hostile until proven otherwise: every count and size is
// bounded before anything is allocated, and every error names the node and operator.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "hecnn/io/onnx.h"

namespace hecnn::io {
namespace {

using nn::Model;
using nn::Node;
using nn::Op;
using nn::Shape;
using nn::Tensor;

// A name in the graph: either an activation (value id) or a constant.
struct Entry {
    int value = -1;
    Tensor constant;
    bool is_const() const { return value < 0; }
};

class Importer {
public:
    explicit Importer(const nn::Limits& lim) : lim_(lim) {}

    Model run(const onnx::ModelProto& mp) {
        check_opset(mp);
        const auto& g = mp.graph();
        if (g.node_size() > lim_.max_nodes) throw OnnxError("graph has " + std::to_string(g.node_size()) + " nodes, more than the limit");
        if (g.initializer_size() > lim_.max_nodes) throw OnnxError("graph has too many initialisers");
        if (g.sparse_initializer_size() > 0) throw OnnxError("sparse initialisers are not supported");
        for (const auto& t : g.initializer()) define(t.name(), constant_entry(tensor(t, "initialiser '" + t.name() + "'")), "initialiser");
        for (const auto& in : g.input()) {
            if (env_.count(in.name())) continue;  // an initialiser also listed as an input
            if (m_.input >= 0) throw OnnxError("graph has more than one data input ('" + m_.values[m_.input].name + "', '" + in.name() + "')");
            m_.input = m_.add_value(in.name(), input_shape(in));
            batch_rank_ = m_.values[m_.input].shape.size() + 1;
            env_[in.name()] = Entry{m_.input, {}};
        }
        if (m_.input < 0) throw OnnxError("graph has no data input");
        for (const auto& n : g.node()) node(n);
        if (g.output_size() != 1) throw OnnxError("graph must have exactly one output, has " + std::to_string(g.output_size()));
        auto it = env_.find(g.output(0).name());
        if (it == env_.end() || it->second.is_const()) throw OnnxError("graph output '" + g.output(0).name() + "' is not computed from the input");
        m_.output = it->second.value;
        for (const auto& p : mp.metadata_props()) m_.metadata[p.key()] = p.value();
        read_preprocessing();
        try {
            m_.infer_shapes(lim_);
        } catch (const nn::ModelError& e) {
            throw OnnxError(e.what());
        }
        return std::move(m_);
    }

private:
    const nn::Limits& lim_;
    Model m_;
    std::map<std::string, Entry> env_;
    size_t batch_rank_ = 0;
    int64_t const_elements_ = 0;

    static Entry constant_entry(Tensor t) { return Entry{-1, std::move(t)}; }

    void define(const std::string& name, Entry e, const std::string& what) {
        if (name.empty()) throw OnnxError(what + " has an empty name");
        if (name.size() > 4096) throw OnnxError(what + " has a name longer than 4096 bytes");
        if (!env_.emplace(name, std::move(e)).second) throw OnnxError(what + " redefines '" + name + "'");
    }

    void check_opset(const onnx::ModelProto& mp) {
        if (!mp.has_graph()) throw OnnxError("file holds no graph (is it an ONNX model?)");
        int64_t v = -1;
        for (const auto& o : mp.opset_import())
            if (o.domain().empty() || o.domain() == "ai.onnx") v = o.version();
        if (v < 7 || v > 21) throw OnnxError("unsupported ONNX opset " + std::to_string(v) + " for the default domain (7 to 21 are read)");
    }

    Shape input_shape(const onnx::ValueInfoProto& in) {
        const std::string where = "input '" + in.name() + "'";
        if (!in.type().has_tensor_type()) throw OnnxError(where + " is not a tensor");
        const auto& tt = in.type().tensor_type();
        if (tt.elem_type() != onnx::TensorProto::FLOAT && tt.elem_type() != onnx::TensorProto::DOUBLE)
            throw OnnxError(where + " must be float or double");
        if (!tt.has_shape()) throw OnnxError(where + " has no shape");
        const auto& sh = tt.shape();
        if (sh.dim_size() != 2 && sh.dim_size() != 4) throw OnnxError(where + " must be [N,C,H,W] or [N,F], has rank " + std::to_string(sh.dim_size()));
        Shape s;
        for (int i = 1; i < sh.dim_size(); ++i) {
            if (!sh.dim(i).has_dim_value() || sh.dim(i).dim_value() < 1 || sh.dim(i).dim_value() > (int64_t{1} << 24))
                throw OnnxError(where + ": dimension " + std::to_string(i) + " must be a fixed positive size");
            s.push_back(sh.dim(i).dim_value());
        }
        try {
            nn::element_count(s, lim_.max_value_elements);
        } catch (const std::invalid_argument& e) {
            throw OnnxError(where + ": " + e.what());
        }
        return s;
    }

    Tensor tensor(const onnx::TensorProto& t, const std::string& where) {
        if (t.data_location() == onnx::TensorProto::EXTERNAL) throw OnnxError(where + ": external data is not supported");
        if (t.has_segment()) throw OnnxError(where + ": segmented tensors are not supported");
        if (t.dims_size() > 8) throw OnnxError(where + ": more than 8 dimensions");
        Shape s(t.dims().begin(), t.dims().end());
        int64_t count = 0;
        try {
            count = nn::element_count(s, lim_.max_weight_elements);
        } catch (const std::invalid_argument& e) {
            throw OnnxError(where + ": " + e.what());
        }
        const_elements_ += count;
        if (const_elements_ > lim_.max_weight_elements) throw OnnxError(where + ": the model's constants exceed the limit of " + std::to_string(lim_.max_weight_elements) + " values");
        std::vector<double> d(static_cast<size_t>(count));
        const bool raw = t.has_raw_data();
        auto check = [&](int64_t have, size_t unit) {
            if (raw ? t.raw_data().size() != static_cast<size_t>(count) * unit : have != count)
                throw OnnxError(where + ": holds " + std::to_string(raw ? int64_t(t.raw_data().size()) : have) + (raw ? " bytes" : " values") +
                                " for shape " + nn::to_string(s));
        };
        // raw_data is little-endian (ONNX spec), as is this machine.
        switch (t.data_type()) {
            case onnx::TensorProto::FLOAT:
                check(t.float_data_size(), 4);
                for (int64_t i = 0; i < count; ++i) {
                    float f;
                    if (raw) std::memcpy(&f, t.raw_data().data() + 4 * i, 4);
                    else f = t.float_data(static_cast<int>(i));
                    d[i] = f;
                }
                break;
            case onnx::TensorProto::DOUBLE:
                check(t.double_data_size(), 8);
                for (int64_t i = 0; i < count; ++i) {
                    if (raw) std::memcpy(&d[i], t.raw_data().data() + 8 * i, 8);
                    else d[i] = t.double_data(static_cast<int>(i));
                }
                break;
            case onnx::TensorProto::INT64:
                check(t.int64_data_size(), 8);
                for (int64_t i = 0; i < count; ++i) {
                    int64_t v;
                    if (raw) std::memcpy(&v, t.raw_data().data() + 8 * i, 8);
                    else v = t.int64_data(static_cast<int>(i));
                    d[i] = static_cast<double>(v);
                }
                break;
            case onnx::TensorProto::INT32:
                check(t.int32_data_size(), 4);
                for (int64_t i = 0; i < count; ++i) {
                    int32_t v;
                    if (raw) std::memcpy(&v, t.raw_data().data() + 4 * i, 4);
                    else v = t.int32_data(static_cast<int>(i));
                    d[i] = v;
                }
                break;
            default: throw OnnxError(where + ": unsupported element type " + std::to_string(t.data_type()) + " (float, double, int32, int64 are read)");
        }
        for (double v : d)
            if (!std::isfinite(v)) throw OnnxError(where + ": holds a non-finite value");
        return Tensor(std::move(s), std::move(d));
    }

    // ---- attributes ----
    static const onnx::AttributeProto* attr(const onnx::NodeProto& n, const char* name) {
        for (const auto& a : n.attribute())
            if (a.name() == name) return &a;
        return nullptr;
    }
    std::string where(const onnx::NodeProto& n) const { return "node '" + n.name() + "' (" + n.op_type() + ")"; }
    int64_t attr_int(const onnx::NodeProto& n, const char* name, int64_t def) const {
        auto* a = attr(n, name);
        if (!a) return def;
        if (a->type() != onnx::AttributeProto::INT) throw OnnxError(where(n) + ": attribute " + name + " must be an integer");
        return a->i();
    }
    double attr_float(const onnx::NodeProto& n, const char* name, double def) const {
        auto* a = attr(n, name);
        if (!a) return def;
        if (a->type() != onnx::AttributeProto::FLOAT) throw OnnxError(where(n) + ": attribute " + name + " must be a float");
        return a->f();
    }
    std::string attr_string(const onnx::NodeProto& n, const char* name, const std::string& def) const {
        auto* a = attr(n, name);
        if (!a) return def;
        if (a->type() != onnx::AttributeProto::STRING) throw OnnxError(where(n) + ": attribute " + name + " must be a string");
        return a->s();
    }
    std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const char* name, size_t want, std::vector<int64_t> def) const {
        auto* a = attr(n, name);
        if (!a) return def;
        if (a->type() != onnx::AttributeProto::INTS || static_cast<size_t>(a->ints_size()) != want)
            throw OnnxError(where(n) + ": attribute " + name + " must hold " + std::to_string(want) + " integers");
        return {a->ints().begin(), a->ints().end()};
    }

    // ---- inputs ----
    const Entry& get(const onnx::NodeProto& n, int i) {
        if (i >= n.input_size() || n.input(i).empty()) throw OnnxError(where(n) + ": missing input " + std::to_string(i));
        auto it = env_.find(n.input(i));
        if (it == env_.end()) throw OnnxError(where(n) + ": input '" + n.input(i) + "' is not defined before the node");
        return it->second;
    }
    int value(const onnx::NodeProto& n, int i) {
        const Entry& e = get(n, i);
        if (e.is_const()) throw OnnxError(where(n) + ": input " + std::to_string(i) + " must be computed from the model input, not a constant");
        return e.value;
    }
    const Tensor& constant(const onnx::NodeProto& n, int i, const char* what) {
        const Entry& e = get(n, i);
        if (!e.is_const()) throw OnnxError(where(n) + ": the " + what + " must be a constant (initialiser or Constant node)");
        return e.constant;
    }
    bool has_input(const onnx::NodeProto& n, int i) const { return i < n.input_size() && !n.input(i).empty(); }

    // A model node for ONNX node n with the graph output n.output(0) — or, for an inner
    // node of a lowering (`suffix`), a model value named output + suffix that the graph
    // does not see.
    Node& emit(const onnx::NodeProto& n, Op op, std::vector<int> inputs, const char* suffix = nullptr) {
        if (n.output_size() < 1 || n.output(0).empty()) throw OnnxError(where(n) + ": has no output");
        const int id = m_.add_value(suffix ? n.output(0) + suffix : n.output(0));
        if (!suffix) define(n.output(0), Entry{id, {}}, where(n));
        Node node;
        node.op = op;
        node.name = (n.name().empty() ? n.output(0) : n.name()) + (suffix ? suffix : "");
        node.inputs = std::move(inputs);
        node.output = id;
        m_.nodes.push_back(std::move(node));
        return m_.nodes.back();
    }

    // A constant operand of an elementwise op: drop a leading batch dimension of 1.
    Tensor elementwise_constant(const onnx::NodeProto& n, Tensor c) {
        if (c.shape.size() == batch_rank_) {
            if (c.shape[0] != 1) throw OnnxError(where(n) + ": constant of shape " + nn::to_string(c.shape) + " varies along the batch dimension");
            c.shape.erase(c.shape.begin());
        }
        return c;
    }

    void spatial(const onnx::NodeProto& n, Node& node, bool conv) {
        const std::string ap = attr_string(n, "auto_pad", "NOTSET");
        if (ap != "NOTSET" && ap != "VALID") throw OnnxError(where(n) + ": auto_pad " + ap + " is not supported (give explicit pads)");
        auto k = attr_ints(n, "kernel_shape", 2, {node.kernel[0], node.kernel[1]});
        auto s = attr_ints(n, "strides", 2, {1, 1});
        auto p = attr_ints(n, "pads", 4, {0, 0, 0, 0});
        node.kernel = {k[0], k[1]};
        node.stride = {s[0], s[1]};
        node.pads = {p[0], p[1], p[2], p[3]};
        if (conv) {
            auto d = attr_ints(n, "dilations", 2, {1, 1});
            node.dilation = {d[0], d[1]};
        }
    }

    // What to use instead of an operator that is not a polynomial; null for the others.
    static const char* non_polynomial(const std::string& op) {
        static const std::set<std::string> activations = {"Relu",     "LeakyRelu", "PRelu",       "Elu",  "Selu",           "Celu",
                                                          "Sigmoid",  "HardSigmoid", "HardSwish", "Tanh", "Softplus",       "Softsign",
                                                          "Gelu",     "Erf",       "Mish",        "Clip", "ThresholdedRelu"};
        static const std::set<std::string> pools = {"MaxPool", "GlobalMaxPool", "LpPool", "GlobalLpPool", "MaxRoiPool", "MaxUnpool"};
        static const std::set<std::string> heads = {"Softmax", "LogSoftmax", "ArgMax", "ArgMin", "TopK", "Hardmax"};
        static const std::set<std::string> others = {"Exp", "Log", "Sqrt", "Abs", "Max", "Min", "Sign", "Floor", "Ceil", "Round", "Reciprocal"};
        if (activations.count(op))
            return "replace it by a trainable quadratic a·x² + b·x + c (hecnn train --activation poly; in PyTorch "
                   "`self.a * x * x + self.b * x + self.c`; see docs/TRAINING.md)";
        if (pools.count(op)) return "replace it by average pooling (nn.AvgPool2d / AdaptiveAvgPool2d, ONNX AveragePool / GlobalAveragePool)";
        if (heads.count(op)) return "export the model without it: the logits come back decrypted and the client applies it";
        if (others.count(op)) return "write the model with Add, Sub, Mul, Div by a constant and Pow 2 only (a polynomial of degree ≤ 2 per activation)";
        return nullptr;
    }

    void node(const onnx::NodeProto& n) {
        const std::string& op = n.op_type();
        if (!n.domain().empty() && n.domain() != "ai.onnx") throw OnnxError(where(n) + ": operator domain '" + n.domain() + "' is not supported");
        if (const char* use = non_polynomial(op))
            throw OnnxError(where(n) + ": non-polynomial operator, it cannot be evaluated on encrypted data: " + use);
        if (op == "Identity" || op == "Dropout") {
            if (n.output_size() < 1) throw OnnxError(where(n) + ": has no output");
            define(n.output(0), get(n, 0), where(n));
        } else if (op == "Constant") {
            if (n.output_size() != 1) throw OnnxError(where(n) + ": must have one output");
            Tensor t;
            if (auto* a = attr(n, "value")) {
                if (a->type() != onnx::AttributeProto::TENSOR) throw OnnxError(where(n) + ": value must be a tensor");
                t = tensor(a->t(), where(n));
            } else if (auto* a = attr(n, "value_float")) {
                t = Tensor({}, {a->f()});
            } else if (auto* a = attr(n, "value_int")) {
                t = Tensor({}, {static_cast<double>(a->i())});
            } else if (auto* a = attr(n, "value_ints")) {
                if (a->ints_size() > 64) throw OnnxError(where(n) + ": value_ints too long");
                t = Tensor({a->ints_size()}, std::vector<double>(a->ints().begin(), a->ints().end()));
            } else if (auto* a = attr(n, "value_floats")) {
                if (a->floats_size() > lim_.max_weight_elements) throw OnnxError(where(n) + ": value_floats too long");
                t = Tensor({a->floats_size()}, std::vector<double>(a->floats().begin(), a->floats().end()));
            } else {
                throw OnnxError(where(n) + ": only value, value_float(s) and value_int(s) constants are supported");
            }
            define(n.output(0), constant_entry(std::move(t)), where(n));
        } else if (op == "Conv") {
            const int x = value(n, 0);
            Tensor w = constant(n, 1, "weight");
            if (w.shape.size() != 4) throw OnnxError(where(n) + ": weight must be 4-D [M,C/group,kh,kw], got " + nn::to_string(w.shape));
            Tensor b = has_input(n, 2) ? constant(n, 2, "bias") : Tensor();
            Node& node = emit(n, Op::Conv, {x});
            node.kernel = {w.shape[2], w.shape[3]};
            node.weight = std::move(w);
            node.bias = std::move(b);
            node.group = attr_int(n, "group", 1);
            spatial(n, node, true);
        } else if (op == "Gemm") {
            const int x = value(n, 0);
            if (attr_int(n, "transA", 0) != 0) throw OnnxError(where(n) + ": transA=1 is not supported");
            const double alpha = attr_float(n, "alpha", 1.0), beta = attr_float(n, "beta", 1.0);
            Tensor b = constant(n, 1, "weight (B)");
            if (b.shape.size() != 2) throw OnnxError(where(n) + ": B must be 2-D, got " + nn::to_string(b.shape));
            Tensor w = attr_int(n, "transB", 0) ? b : transpose(b);
            for (double& v : w.data) v *= alpha;
            Tensor c;
            if (has_input(n, 2)) {
                const Tensor& cc = constant(n, 2, "bias (C)");
                const int64_t M = w.shape[0];
                if (cc.size() != M && cc.size() != 1) throw OnnxError(where(n) + ": C of shape " + nn::to_string(cc.shape) + " must have 1 or " + std::to_string(M) + " values");
                c = Tensor({M});
                for (int64_t i = 0; i < M; ++i) c.data[i] = beta * cc.data[cc.size() == 1 ? 0 : i];
            }
            Node& node = emit(n, Op::Gemm, {x});
            node.weight = std::move(w);
            node.bias = std::move(c);
        } else if (op == "MatMul") {
            const int x = value(n, 0);
            const Tensor& b = constant(n, 1, "second operand");
            if (b.shape.size() != 2) throw OnnxError(where(n) + ": second operand must be a 2-D constant");
            emit(n, Op::Gemm, {x}).weight = transpose(b);
        } else if (op == "Add" || op == "Mul" || op == "Sub" || op == "Div") {
            arithmetic(n, op);
        } else if (op == "Neg") {
            scaled(n, value(n, 0), -1.0);
        } else if (op == "Pow") {
            const int x = value(n, 0);
            const Tensor& e = constant(n, 1, "exponent");
            if (e.size() != 1 || (e.data[0] != 2.0 && e.data[0] != 1.0))
                throw OnnxError(where(n) + ": exponent " + (e.size() == 1 ? number(e.data[0]) : "of shape " + nn::to_string(e.shape)) +
                                " is not supported: only x^2 and x^1 (a polynomial of degree ≤ 2 per activation, a·x² + b·x + c)");
            if (e.data[0] == 2.0) emit(n, Op::Mul, {x, x});
            else define(n.output(0), Entry{x, {}}, where(n));
        } else if (op == "AveragePool") {
            const int x = value(n, 0);
            if (attr_int(n, "ceil_mode", 0) != 0) throw OnnxError(where(n) + ": ceil_mode=1 is not supported");
            Node& node = emit(n, Op::AveragePool, {x});
            if (!attr(n, "kernel_shape")) throw OnnxError(where(n) + ": kernel_shape is required");
            spatial(n, node, false);
            node.count_include_pad = attr_int(n, "count_include_pad", 0) != 0;
        } else if (op == "GlobalAveragePool") {
            emit(n, Op::GlobalAveragePool, {value(n, 0)});
        } else if (op == "Concat") {
            if (n.input_size() < 1 || n.input_size() > 1024) throw OnnxError(where(n) + ": needs 1 to 1024 inputs");
            std::vector<int> ins;
            for (int i = 0; i < n.input_size(); ++i) ins.push_back(value(n, i));
            int64_t axis = attr_int(n, "axis", 1);
            if (axis < 0) axis += static_cast<int64_t>(batch_rank_);
            if (axis < 1 || axis >= static_cast<int64_t>(batch_rank_)) throw OnnxError(where(n) + ": concatenation along the batch axis or out of range");
            emit(n, Op::Concat, ins).axis = axis - 1;
        } else if (op == "BatchNormalization") {
            const int x = value(n, 0);
            if (attr_int(n, "training_mode", 0) != 0) throw OnnxError(where(n) + ": training_mode=1 is not supported (export in eval mode)");
            if (n.output_size() > 1)
                for (int i = 1; i < n.output_size(); ++i)
                    if (!n.output(i).empty()) throw OnnxError(where(n) + ": running-statistics outputs are not supported (export in eval mode)");
            Node& node = emit(n, Op::BatchNorm, {x});
            node.weight = constant(n, 1, "scale");
            node.bias = constant(n, 2, "bias");
            node.mean = constant(n, 3, "mean");
            node.var = constant(n, 4, "variance");
            node.epsilon = attr_float(n, "epsilon", 1e-5);
        } else if (op == "Flatten") {
            const int x = value(n, 0);
            int64_t axis = attr_int(n, "axis", 1);
            if (axis < 0) axis += static_cast<int64_t>(batch_rank_);
            if (axis != 1) throw OnnxError(where(n) + ": only Flatten with axis 1 (keep the batch dimension) is supported");
            emit(n, Op::Reshape, {x}).target = {};  // flatten: resolved by shape inference
        } else if (op == "Reshape") {
            const int x = value(n, 0);
            const Tensor& t = constant(n, 1, "shape");
            if (attr_int(n, "allowzero", 0) != 0) throw OnnxError(where(n) + ": allowzero=1 is not supported");
            emit(n, Op::Reshape, {x}).target = reshape_target(n, t);
        } else if (op == "Pad") {
            const int x = value(n, 0);
            if (attr_string(n, "mode", "constant") != "constant") throw OnnxError(where(n) + ": only constant padding is supported");
            std::vector<int64_t> p;
            if (has_input(n, 1)) {
                const Tensor& t = constant(n, 1, "pads");
                for (double v : t.data) {  // range first: casting 1e300 to int64 is undefined (UBSan, fuzz/fuzz_onnx)
                    if (!(std::abs(v) <= (int64_t{1} << 24)) || v != std::trunc(v)) {
                        char buf[32];
                        std::snprintf(buf, sizeof buf, "%g", v);
                        throw OnnxError(where(n) + ": pads must be integers up to 2^24, got " + buf);
                    }
                    p.push_back(static_cast<int64_t>(v));
                }
            } else {
                p = attr_ints(n, "pads", 2 * batch_rank_, {});
            }
            if (has_input(n, 2)) {
                const Tensor& v = constant(n, 2, "constant_value");
                if (v.size() != 1 || v.data[0] != 0.0) throw OnnxError(where(n) + ": only zero padding is supported");
            }
            if (attr_float(n, "value", 0.0) != 0.0) throw OnnxError(where(n) + ": only zero padding is supported");
            if (has_input(n, 3)) throw OnnxError(where(n) + ": the axes input is not supported");
            if (batch_rank_ != 4 || p.size() != 8 || p[0] || p[1] || p[4] || p[5])
                throw OnnxError(where(n) + ": only padding of the two spatial dimensions of [N,C,H,W] is supported");
            Node& node = emit(n, Op::Pad, {x});
            node.pads = {p[2], p[3], p[6], p[7]};
        } else if (op == "Shape" || op == "Gather" || op == "Unsqueeze" || op == "Squeeze" || op == "ConstantOfShape") {
            throw OnnxError(where(n) + ": dynamic shape computations are not supported; export with torch.flatten(x, 1) or a fixed "
                                       "reshape, and with constant folding on");
        } else {
            throw OnnxError(where(n) + ": unsupported operator; hecnn reads Conv, Gemm, MatMul, Add, Sub, Mul, Div (by a constant), "
                                       "Neg, Pow (exponent 2 or 1), AveragePool, GlobalAveragePool, Concat, BatchNormalization, "
                                       "Flatten, Reshape, Pad, Identity, Dropout, Constant");
        }
    }

    static std::string number(double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return buf;
    }

    // Add, Sub, Mul, Div with an operand that is a constant (broadcast), or Add, Sub, Mul of
    // two computed values. Sub and constant − x are lowered to Add and a Mul by −1, Div to
    // a Mul by the reciprocal: the model keeps the few operators the compiler folds.
    void arithmetic(const onnx::NodeProto& n, const std::string& op) {
        const Entry& a = get(n, 0);
        const Entry& b = get(n, 1);
        if (a.is_const() && b.is_const()) throw OnnxError(where(n) + ": both operands are constants (fold constants when exporting)");
        if (!a.is_const() && !b.is_const()) {
            if (op == "Div") throw OnnxError(where(n) + ": division by a computed value is not a polynomial: divide by constants only");
            if (op == "Sub") {
                const int ia = a.value, negb = scaled(n, b.value, -1.0, "/neg");
                emit(n, Op::Add, {ia, negb});
            } else {
                emit(n, op == "Add" ? Op::Add : Op::Mul, {a.value, b.value});
            }
            return;
        }
        if (a.is_const() && op == "Div") throw OnnxError(where(n) + ": constant / computed value (1/x) is not a polynomial: divide by constants only");
        int x = a.is_const() ? b.value : a.value;
        Tensor c = elementwise_constant(n, a.is_const() ? a.constant : b.constant);
        if (op == "Sub" && a.is_const()) {
            x = scaled(n, x, -1.0, "/neg");  // c − x = (−1)·x + c
        } else if (op == "Sub") {
            for (double& v : c.data) v = -v;
        } else if (op == "Div") {
            for (double& v : c.data) {
                if (v == 0) throw OnnxError(where(n) + ": division by zero");
                if (!std::isfinite(1.0 / v)) throw OnnxError(where(n) + ": division by " + number(v) + " overflows");
                v = 1.0 / v;
            }
        }
        emit(n, op == "Add" || op == "Sub" ? Op::Add : Op::Mul, {x}).weight = std::move(c);
    }

    // k·x as a Mul by a constant (the node's output, or with `suffix` an inner value).
    int scaled(const onnx::NodeProto& n, int x, double k, const char* suffix = nullptr) {
        Node& node = emit(n, Op::Mul, {x}, suffix);
        node.weight = Tensor({1}, {k});
        return node.output;
    }

    static Tensor transpose(const Tensor& b) {
        const int64_t R = b.shape[0], C = b.shape[1];
        Tensor t({C, R});
        for (int64_t r = 0; r < R; ++r)
            for (int64_t c = 0; c < C; ++c) t.data[c * R + r] = b.data[r * C + c];
        return t;
    }

    // ONNX Reshape's shape (batch dimension first) → the per-sample target (0 and −1 are
    // resolved by shape inference). The batch entry must be 0, −1 or, as torch writes it
    // for a static batch, a positive size (then no −1 may follow).
    Shape reshape_target(const onnx::NodeProto& n, const Tensor& t) {
        if (t.shape.size() != 1 || t.size() < 2 || t.size() > 4) throw OnnxError(where(n) + ": shape must list 2 to 4 dimensions including the batch");
        Shape s;
        bool minus = false;
        for (int64_t i = 1; i < t.size(); ++i) {
            const double v = t.data[i];
            if (v != 0 && v != -1 && !(v >= 1 && v <= (int64_t{1} << 24))) throw OnnxError(where(n) + ": bad dimension " + std::to_string(v));
            minus |= v == -1;
            s.push_back(static_cast<int64_t>(v));
        }
        if (t.data[0] != 0 && t.data[0] != -1 && !(t.data[0] >= 1 && t.data[0] <= (int64_t{1} << 24) && !minus))
            throw OnnxError(where(n) + ": cannot tell the batch dimension from shape entry " + std::to_string(t.data[0]));
        return s;
    }

    void read_preprocessing() {
        auto& p = m_.preprocessing;
        try {
            if (auto it = m_.metadata.find(kMetaScale); it != m_.metadata.end()) {
                auto v = parse_doubles(it->second);
                if (v.size() != 1 || !(v[0] > 0)) throw OnnxError("needs one positive number");
                p.scale = v[0];
            }
            if (auto it = m_.metadata.find(kMetaMean); it != m_.metadata.end()) p.mean = parse_doubles(it->second);
            if (auto it = m_.metadata.find(kMetaStd); it != m_.metadata.end()) p.std = parse_doubles(it->second);
            for (double s : p.std)
                if (!(s > 0)) throw OnnxError("std must be positive");
            if (auto it = m_.metadata.find(kMetaClasses); it != m_.metadata.end()) p.classes = split_commas(it->second);
        } catch (const std::exception& e) {
            throw OnnxError(std::string("bad preprocessing metadata: ") + e.what());
        }
    }
};

}  // namespace

std::vector<double> parse_doubles(const std::string& s) {
    std::vector<double> out;
    for (const auto& part : split_commas(s)) {
        size_t used = 0;
        double v = std::stod(part, &used);
        if (used != part.size() || !std::isfinite(v)) throw std::invalid_argument("not a number: '" + part + "'");
        out.push_back(v);
    }
    if (out.size() > 4096) throw std::invalid_argument("too many values");
    return out;
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    if (s.empty()) return out;
    size_t start = 0;
    while (true) {
        size_t c = s.find(',', start);
        std::string part = s.substr(start, c == std::string::npos ? std::string::npos : c - start);
        while (!part.empty() && part.front() == ' ') part.erase(part.begin());
        while (!part.empty() && part.back() == ' ') part.pop_back();
        out.push_back(part);
        if (c == std::string::npos) break;
        start = c + 1;
    }
    return out;
}

nn::Model parse_onnx(std::string_view bytes, const nn::Limits& limits) {
    if (bytes.size() > kMaxOnnxBytes) throw OnnxError("file larger than 1 GiB");
    onnx::ModelProto mp;
    if (!mp.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) throw OnnxError("not a valid ONNX protobuf");
    return Importer(limits).run(mp);
}

nn::Model load_onnx(const std::string& path, const nn::Limits& limits) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw OnnxError("cannot open '" + path + "'");
    const auto size = static_cast<std::streamoff>(f.tellg());
    if (size < 0 || static_cast<std::size_t>(size) > kMaxOnnxBytes) throw OnnxError("'" + path + "' is larger than 1 GiB");
    std::string bytes(static_cast<size_t>(size), '\0');
    f.seekg(0);
    if (!f.read(bytes.data(), size)) throw OnnxError("cannot read '" + path + "'");
    try {
        return parse_onnx(bytes, limits);
    } catch (const OnnxError& e) {
        throw OnnxError(path + ": " + e.what());
    }
}

}  // namespace hecnn::io
