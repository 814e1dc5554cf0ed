// nn::Model → ONNX (opset 13, float32 weights, batch dimension "N"), checked by libonnx.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "hecnn/io/onnx.h"

namespace hecnn::io {
namespace {

using nn::Op;

class Exporter {
public:
    explicit Exporter(const nn::Model& m) : m_(m) {}

    std::string run() {
        onnx::ModelProto mp;
        mp.set_ir_version(8);
        mp.set_producer_name("hecnn");
        mp.set_producer_version("0.1.0");
        auto* ops = mp.add_opset_import();
        ops->set_domain("");
        ops->set_version(13);
        g_ = mp.mutable_graph();
        g_->set_name("hecnn");
        io(g_->add_input(), m_.values[m_.input]);
        for (const auto& n : m_.nodes) node(n);
        io(g_->add_output(), m_.values[m_.output]);
        auto meta = m_.metadata;
        const auto& p = m_.preprocessing;
        meta[kMetaScale] = num(p.scale);
        if (!p.mean.empty()) meta[kMetaMean] = list(p.mean);
        if (!p.std.empty()) meta[kMetaStd] = list(p.std);
        if (!p.classes.empty()) {
            std::string c;
            for (size_t i = 0; i < p.classes.size(); ++i) c += (i ? "," : "") + p.classes[i];
            meta[kMetaClasses] = c;
        }
        for (const auto& [k, v] : meta) {
            auto* e = mp.add_metadata_props();
            e->set_key(k);
            e->set_value(v);
        }
        try {
            onnx::checker::check_model(mp);
        } catch (const std::exception& e) {
            throw OnnxError(std::string("the ONNX checker rejects the exported model: ") + e.what());
        }
        std::string out;
        if (!mp.SerializeToString(&out)) throw OnnxError("cannot serialise the model");
        return out;
    }

private:
    const nn::Model& m_;
    onnx::GraphProto* g_ = nullptr;
    int unique_ = 0;

    static std::string num(double v) {
        char b[40];
        std::snprintf(b, sizeof b, "%.17g", v);
        return b;
    }
    static std::string list(const std::vector<double>& v) {
        std::string s;
        for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + num(v[i]);
        return s;
    }

    void io(onnx::ValueInfoProto* vi, const nn::Value& v) {
        vi->set_name(v.name);
        auto* tt = vi->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        auto* sh = tt->mutable_shape();
        sh->add_dim()->set_dim_param("N");
        for (int64_t d : v.shape) sh->add_dim()->set_dim_value(d);
    }

    std::string init(const std::string& base, const nn::Shape& shape, const std::vector<double>& data) {
        const std::string name = base + "_" + std::to_string(unique_++);
        auto* t = g_->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : shape) t->add_dims(d);
        std::string raw(data.size() * 4, '\0');
        for (size_t i = 0; i < data.size(); ++i) {
            float f = static_cast<float>(data[i]);
            std::memcpy(raw.data() + 4 * i, &f, 4);
        }
        t->set_raw_data(std::move(raw));
        return name;
    }
    std::string init_ints(const std::string& base, const std::vector<int64_t>& v) {
        const std::string name = base + "_" + std::to_string(unique_++);
        auto* t = g_->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(static_cast<int64_t>(v.size()));
        for (int64_t x : v) t->add_int64_data(x);
        return name;
    }
    std::string init(const std::string& base, const nn::Tensor& t) { return init(base, t.shape, t.data); }

    static void ints(onnx::NodeProto* p, const char* name, std::vector<int64_t> v) {
        auto* a = p->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t x : v) a->add_ints(x);
    }
    static void one_int(onnx::NodeProto* p, const char* name, int64_t v) {
        auto* a = p->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(v);
    }

    void node(const nn::Node& n) {
        auto* p = g_->add_node();
        p->set_name(n.name);
        p->set_op_type(n.op == Op::BatchNorm ? "BatchNormalization" : nn::op_name(n.op));
        for (int id : n.inputs) p->add_input(m_.values[id].name);
        p->add_output(m_.values[n.output].name);
        switch (n.op) {
            case Op::Conv:
                p->add_input(init(n.name + ".weight", n.weight));
                if (!n.bias.empty()) p->add_input(init(n.name + ".bias", n.bias));
                ints(p, "kernel_shape", {n.kernel[0], n.kernel[1]});
                ints(p, "strides", {n.stride[0], n.stride[1]});
                ints(p, "pads", {n.pads[0], n.pads[1], n.pads[2], n.pads[3]});
                ints(p, "dilations", {n.dilation[0], n.dilation[1]});
                one_int(p, "group", n.group);
                break;
            case Op::Gemm:
                p->add_input(init(n.name + ".weight", n.weight));
                if (!n.bias.empty()) p->add_input(init(n.name + ".bias", n.bias));
                one_int(p, "transB", 1);
                break;
            case Op::Add:
            case Op::Mul:
                if (n.inputs.size() == 1) p->add_input(init(n.name + ".coef", n.weight));
                break;
            case Op::AveragePool:
                ints(p, "kernel_shape", {n.kernel[0], n.kernel[1]});
                ints(p, "strides", {n.stride[0], n.stride[1]});
                ints(p, "pads", {n.pads[0], n.pads[1], n.pads[2], n.pads[3]});
                one_int(p, "count_include_pad", n.count_include_pad ? 1 : 0);
                break;
            case Op::GlobalAveragePool: break;
            case Op::Concat: one_int(p, "axis", n.axis + 1); break;
            case Op::BatchNorm: {
                p->add_input(init(n.name + ".scale", n.weight));
                p->add_input(init(n.name + ".bias", n.bias));
                p->add_input(init(n.name + ".mean", n.mean));
                p->add_input(init(n.name + ".var", n.var));
                auto* a = p->add_attribute();
                a->set_name("epsilon");
                a->set_type(onnx::AttributeProto::FLOAT);
                a->set_f(static_cast<float>(n.epsilon));
                break;
            }
            case Op::Reshape:
                if (n.target.size() == 1 && m_.values[n.inputs[0]].shape.size() > 1) {
                    p->set_op_type("Flatten");
                    one_int(p, "axis", 1);
                } else {
                    std::vector<int64_t> s{0};
                    s.insert(s.end(), n.target.begin(), n.target.end());
                    p->add_input(init_ints(n.name + ".shape", s));
                }
                break;
            case Op::Pad:
                p->add_input(init_ints(n.name + ".pads", {0, 0, n.pads[0], n.pads[1], 0, 0, n.pads[2], n.pads[3]}));
                break;
        }
    }
};

}  // namespace

std::string serialize_onnx(const nn::Model& model) { return Exporter(model).run(); }

void save_onnx(const nn::Model& model, const std::string& path) {
    const std::string bytes = serialize_onnx(model);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f || !f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()))) throw OnnxError("cannot write '" + path + "'");
}

}  // namespace hecnn::io
