#include "net.h"

#include <sstream>
#include <stdexcept>

namespace hecnn::train {

using K = nn::LayerSpec::Kind;

Activation parse_activation(const std::string& s) {
    if (s == "relu") return Activation::Relu;
    if (s == "poly") return Activation::Poly;
    throw std::invalid_argument("unknown activation '" + s + "' (relu or poly)");
}
const char* activation_name(Activation a) { return a == Activation::Relu ? "relu" : "poly"; }

// ---------------------------------------------------------------- PolyAct

PolyActImpl::PolyActImpl(nn::Shape f, Activation ac, nn::Granularity g) : feature(std::move(f)), act(ac), granularity(g) {
    if (act == Activation::Poly) {
        const auto s = nn::coefficient_shape(feature, g);
        std::vector<int64_t> shape(s.begin(), s.end());
        a = register_parameter("a", torch::full(shape, 0.1));
        b = register_parameter("b", torch::full(shape, 0.5));
        c = register_parameter("c", torch::zeros(shape));
    }
}

torch::Tensor PolyActImpl::forward(const torch::Tensor& x) {
    if (observer) observer(x);
    if (act == Activation::Relu || ratio <= 0.0) return torch::relu(x);
    auto p = x * (a * x + b) + c;
    if (ratio >= 1.0) return p;
    return ratio * p + (1.0 - ratio) * torch::relu(x);
}

// ---------------------------------------------------------------- Net

NetImpl::NetImpl(nn::Arch ar, Activation ac, nn::Granularity g) : arch(std::move(ar)), act(ac), granularity(g) {
    nn::Shape s = arch.input;
    auto window = [](int64_t in, int64_t k, int64_t st, int64_t p) { return (in + 2 * p - k) / st + 1; };
    auto conv = [&](const std::string& name, int64_t in, int64_t out, int64_t k, int64_t st, int64_t p) {
        return register_module(name, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(st).padding(p)));
    };
    for (const auto& spec : arch.layers) {
        Layer l{spec};
        switch (spec.kind) {
            case K::Conv:
                l.conv = conv(spec.name, s[0], spec.out, spec.kernel, spec.stride, spec.pad);
                s = {spec.out, window(s[1], spec.kernel, spec.stride, spec.pad), window(s[2], spec.kernel, spec.stride, spec.pad)};
                break;
            case K::Act: l.act = register_module(spec.name, PolyAct(s, act, g)); break;
            case K::BatchNorm: l.bn = register_module(spec.name, torch::nn::BatchNorm2d(s[0])); break;
            case K::AvgPool: s = {s[0], window(s[1], spec.kernel, spec.stride, spec.pad), window(s[2], spec.kernel, spec.stride, spec.pad)}; break;
            case K::GlobalAvgPool: s = {s[0], 1, 1}; break;
            case K::Flatten: s = {nn::element_count(s)}; break;
            case K::Dense:
                l.dense = register_module(spec.name, torch::nn::Linear(s[0], spec.out));
                s = {spec.out};
                break;
            case K::Fire: {
                l.conv = conv(spec.name + "_squeeze", s[0], spec.squeeze, 1, 1, 0);
                nn::Shape sq{spec.squeeze, s[1], s[2]};
                l.act = register_module(spec.name + "_act_s", PolyAct(sq, act, g));
                l.expand1 = conv(spec.name + "_expand1", spec.squeeze, spec.expand1, 1, 1, 0);
                l.expand3 = conv(spec.name + "_expand3", spec.squeeze, spec.expand3, 3, 1, 1);
                s = {spec.expand1 + spec.expand3, s[1], s[2]};
                l.act2 = register_module(spec.name + "_act_e", PolyAct(s, act, g));
                break;
            }
        }
        layers_.push_back(std::move(l));
    }
}

torch::Tensor NetImpl::forward(torch::Tensor x) {
    for (auto& l : layers_) {
        const auto& sp = l.spec;
        switch (sp.kind) {
            case K::Conv: x = l.conv->forward(x); break;
            case K::Act: x = l.act->forward(x); break;
            case K::BatchNorm: x = l.bn->forward(x); break;
            case K::AvgPool: x = torch::avg_pool2d(x, {sp.kernel, sp.kernel}, {sp.stride, sp.stride}, {sp.pad, sp.pad}, false, true); break;
            case K::GlobalAvgPool: x = x.mean({2, 3}, /*keepdim=*/true); break;
            case K::Flatten: x = x.flatten(1); break;
            case K::Dense: x = l.dense->forward(x); break;
            case K::Fire: {
                auto s = l.act->forward(l.conv->forward(x));
                x = l.act2->forward(torch::cat({l.expand1->forward(s), l.expand3->forward(s)}, 1));
                break;
            }
        }
    }
    return x;
}

std::vector<PolyAct> NetImpl::activations() const {
    std::vector<PolyAct> out;
    for (const auto& l : layers_) {
        if (l.act) out.push_back(l.act);
        if (l.act2) out.push_back(l.act2);
    }
    return out;
}

int NetImpl::copy_matching(const NetImpl& other) {
    torch::NoGradGuard ng;
    int copied = 0;
    auto mine = named_parameters(true);
    auto theirs = other.named_parameters(true);
    for (auto& p : theirs)
        if (auto* t = mine.find(p.key()); t && t->sizes() == p.value().sizes()) t->copy_(p.value()), ++copied;
    auto mb = named_buffers(true);
    for (auto& p : other.named_buffers(true))
        if (auto* t = mb.find(p.key()); t && t->sizes() == p.value().sizes()) t->copy_(p.value()), ++copied;
    return copied;
}

namespace {

nn::Tensor to_nn(const torch::Tensor& t) {
    auto d = t.detach().to(torch::kDouble).contiguous();
    nn::Shape s(d.sizes().begin(), d.sizes().end());
    return nn::Tensor(s, std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel()));
}

struct Builder {
    nn::Model& m;
    int x;

    int add(nn::Node n, const std::string& out_name, std::vector<int> inputs) {
        n.inputs = std::move(inputs);
        n.output = m.add_value(out_name);
        m.nodes.push_back(std::move(n));
        return m.nodes.back().output;
    }
    nn::Node node(nn::Op op, const std::string& name) {
        nn::Node n;
        n.op = op;
        n.name = name;
        return n;
    }
    int conv(const torch::nn::Conv2d& c, const std::string& name, int in, int64_t pad) {
        auto n = node(nn::Op::Conv, name);
        n.weight = to_nn(c->weight);
        if (c->bias.defined()) n.bias = to_nn(c->bias);
        const auto& o = c->options;
        n.kernel = {(*o.kernel_size())[0], (*o.kernel_size())[1]};
        n.stride = {(*o.stride())[0], (*o.stride())[1]};
        n.pads = {pad, pad, pad, pad};
        return add(std::move(n), name + ".out", {in});
    }
    // y = a·(x·x) + b·x + c: the five-node pattern of docs/TRAINING.md.
    int act(const PolyAct& p, const std::string& name, int in) {
        if (p->act != Activation::Poly) throw std::runtime_error("layer " + name + " is a ReLU: only polynomial activations can be exported");
        if (p->ratio < 1.0) throw std::runtime_error("layer " + name + " is still blended with ReLU (ratio " + std::to_string(p->ratio) + ")");
        int sq = add(node(nn::Op::Mul, name + ".square"), name + ".x2", {in, in});
        auto na = node(nn::Op::Mul, name + ".mul_a");
        na.weight = to_nn(p->a);
        int ax2 = add(std::move(na), name + ".ax2", {sq});
        auto nb = node(nn::Op::Mul, name + ".mul_b");
        nb.weight = to_nn(p->b);
        int bx = add(std::move(nb), name + ".bx", {in});
        int sum = add(node(nn::Op::Add, name + ".add"), name + ".ax2_bx", {ax2, bx});
        auto nc = node(nn::Op::Add, name + ".add_c");
        nc.weight = to_nn(p->c);
        return add(std::move(nc), name + ".out", {sum});
    }
};

}  // namespace

nn::Model NetImpl::to_model() const {
    nn::Model m;
    m.input = m.add_value("input", arch.input);
    Builder b{m, m.input};
    int x = m.input;
    const auto flat_rows = nn::describe(arch, granularity);  // output shapes, for Flatten
    for (const auto& l : layers_) {
        const auto& sp = l.spec;
        switch (sp.kind) {
            case K::Conv: x = b.conv(l.conv, sp.name, x, sp.pad); break;
            case K::Act: x = b.act(l.act, sp.name, x); break;
            case K::BatchNorm: {
                auto n = b.node(nn::Op::BatchNorm, sp.name);
                n.weight = to_nn(l.bn->weight);
                n.bias = to_nn(l.bn->bias);
                n.mean = to_nn(l.bn->running_mean);
                n.var = to_nn(l.bn->running_var);
                n.epsilon = l.bn->options.eps();
                x = b.add(std::move(n), sp.name + ".out", {x});
                break;
            }
            case K::AvgPool: {
                auto n = b.node(nn::Op::AveragePool, sp.name);
                n.kernel = {sp.kernel, sp.kernel};
                n.stride = {sp.stride, sp.stride};
                n.pads = {sp.pad, sp.pad, sp.pad, sp.pad};
                n.count_include_pad = true;  // torch's default
                x = b.add(std::move(n), sp.name + ".out", {x});
                break;
            }
            case K::GlobalAvgPool: x = b.add(b.node(nn::Op::GlobalAveragePool, sp.name), sp.name + ".out", {x}); break;
            case K::Flatten: {
                auto n = b.node(nn::Op::Reshape, sp.name);
                for (const auto& row : flat_rows)
                    if (row.name == sp.name) n.target = row.output;
                x = b.add(std::move(n), sp.name + ".out", {x});
                break;
            }
            case K::Dense: {
                auto n = b.node(nn::Op::Gemm, sp.name);
                n.weight = to_nn(l.dense->weight);
                n.bias = to_nn(l.dense->bias);
                x = b.add(std::move(n), sp.name + ".out", {x});
                break;
            }
            case K::Fire: {
                int s = b.act(l.act, sp.name + ".act_s", b.conv(l.conv, sp.name + ".squeeze", x, 0));
                int e1 = b.conv(l.expand1, sp.name + ".expand1", s, 0);
                int e3 = b.conv(l.expand3, sp.name + ".expand3", s, 1);
                auto cat = b.node(nn::Op::Concat, sp.name + ".concat");
                cat.axis = 0;
                x = b.act(l.act2, sp.name + ".act_e", b.add(std::move(cat), sp.name + ".concat.out", {e1, e3}));
                break;
            }
        }
    }
    m.values[x].name = "logits";
    m.output = x;
    m.infer_shapes();
    return m;
}

// ---------------------------------------------------------------- checkpoints

void save_checkpoint(const Net& net, const CheckpointInfo& info, const std::string& path) {
    torch::serialize::OutputArchive ar;
    std::ostringstream meta;
    auto list = [](const auto& v) {
        std::ostringstream s;
        s.precision(17);
        for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
        return s.str();
    };
    meta.precision(17);
    meta << "arch=" << info.arch << "\ninput=" << list(info.input) << "\nclasses=" << info.classes << "\nact=" << activation_name(info.act)
         << "\ngranularity=" << nn::granularity_name(info.granularity) << "\nscale=" << info.preprocessing.scale
         << "\nmean=" << list(info.preprocessing.mean) << "\nstd=" << list(info.preprocessing.std) << "\nepoch=" << info.epoch << "\n";
    std::string names;
    for (size_t i = 0; i < info.preprocessing.classes.size(); ++i) names += (i ? "\x1f" : "") + info.preprocessing.classes[i];
    ar.write("hecnn.meta", c10::IValue(meta.str()));
    ar.write("hecnn.classes", c10::IValue(names));
    for (const auto& p : net->named_parameters(true)) ar.write("p." + p.key(), p.value());
    for (const auto& p : net->named_buffers(true)) ar.write("b." + p.key(), p.value(), true);
    const std::string tmp = path + ".tmp";
    ar.save_to(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write checkpoint '" + path + "'");
}

Net load_checkpoint(const std::string& path, CheckpointInfo& info) {
    torch::serialize::InputArchive ar;
    try {
        ar.load_from(path);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot read checkpoint '" + path + "' (a .pt written by hecnn train?)");
    }
    c10::IValue meta, names;
    if (!ar.try_read("hecnn.meta", meta) || !meta.isString()) throw std::runtime_error("'" + path + "' is not an hecnn checkpoint");
    std::istringstream in(meta.toStringRef());
    auto nums = [](const std::string& s) {
        std::vector<double> v;
        std::stringstream ss(s);
        for (std::string x; std::getline(ss, x, ',');)
            if (!x.empty()) v.push_back(std::stod(x));
        return v;
    };
    for (std::string line; std::getline(in, line);) {
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
        if (k == "arch") info.arch = v;
        else if (k == "input") {
            info.input.clear();
            for (double d : nums(v)) info.input.push_back(static_cast<int64_t>(d));
        } else if (k == "classes") info.classes = std::stoll(v);
        else if (k == "act") info.act = parse_activation(v);
        else if (k == "granularity") info.granularity = nn::parse_granularity(v);
        else if (k == "scale") info.preprocessing.scale = std::stod(v);
        else if (k == "mean") info.preprocessing.mean = nums(v);
        else if (k == "std") info.preprocessing.std = nums(v);
        else if (k == "epoch") info.epoch = std::stoi(v);
    }
    info.preprocessing.classes.clear();
    if (ar.try_read("hecnn.classes", names) && names.isString() && !names.toStringRef().empty()) {
        std::stringstream ss(names.toStringRef());
        for (std::string x; std::getline(ss, x, '\x1f');) info.preprocessing.classes.push_back(x);
    }
    Net net(nn::make_arch(info.arch, info.input, info.classes), info.act, info.granularity);
    torch::NoGradGuard ng;
    for (auto& p : net->named_parameters(true)) {
        torch::Tensor t;
        if (!ar.try_read("p." + p.key(), t) || t.sizes() != p.value().sizes()) throw std::runtime_error("'" + path + "': parameter " + p.key() + " missing or of another shape");
        p.value().copy_(t);
    }
    for (auto& p : net->named_buffers(true)) {
        torch::Tensor t;
        if (!ar.try_read("b." + p.key(), t, true) || t.sizes() != p.value().sizes()) throw std::runtime_error("'" + path + "': buffer " + p.key() + " missing or of another shape");
        p.value().copy_(t);
    }
    return net;
}

// ---------------------------------------------------------------- coefficient fit

void fit_relu_coefficients(Net& net, const torch::Tensor& inputs, int64_t batch) {
    auto acts = net->activations();
    // Moments per coefficient group: S_k = Σ x^k (k = 0..4), T_k = Σ x^k·relu(x) (k = 0..2).
    std::vector<std::array<torch::Tensor, 8>> mom(acts.size());
    std::vector<double> saved(acts.size());
    for (size_t i = 0; i < acts.size(); ++i) {
        saved[i] = acts[i]->ratio;
        acts[i]->ratio = 0.0;  // run as ReLU (the teacher's function)
        const auto g = acts[i]->granularity;
        acts[i]->observer = [&, i, g](const torch::Tensor& pre) {
            auto x = pre.detach().to(torch::kDouble);
            std::vector<int64_t> dims;
            if (g == nn::Granularity::Layer) {
                for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
            } else if (g == nn::Granularity::Channel && x.dim() == 4) {
                dims = {0, 2, 3};
            } else {
                dims = {0};
            }
            auto r = torch::relu(x);
            torch::Tensor pw = torch::ones_like(x);
            std::array<torch::Tensor, 8> s;
            for (int k = 0; k <= 4; ++k) {
                s[k] = pw.sum(dims);
                if (k <= 2) s[5 + k] = (pw * r).sum(dims);
                pw = pw * x;
            }
            for (int k = 0; k < 8; ++k) mom[i][k] = mom[i][k].defined() ? mom[i][k] + s[k] : s[k];
        };
    }
    predict(net, inputs, batch);
    torch::NoGradGuard ng;
    for (size_t i = 0; i < acts.size(); ++i) {
        acts[i]->observer = nullptr;
        acts[i]->ratio = saved[i];
        if (acts[i]->act != Activation::Poly) continue;
        auto& s = mom[i];
        auto a = acts[i]->a.flatten(), b = acts[i]->b.flatten(), c = acts[i]->c.flatten();
        std::array<torch::Tensor, 8> flat;
        for (int k = 0; k < 8; ++k) flat[k] = s[k].flatten().contiguous();  // kept alive for the accessors
        const int64_t G = a.numel();
        auto s0 = flat[0].accessor<double, 1>(), s1 = flat[1].accessor<double, 1>(), s2 = flat[2].accessor<double, 1>(),
             s3 = flat[3].accessor<double, 1>(), s4 = flat[4].accessor<double, 1>(), t0 = flat[5].accessor<double, 1>(),
             t1 = flat[6].accessor<double, 1>(), t2 = flat[7].accessor<double, 1>();
        auto fa = torch::empty({G}, torch::kDouble), fb = torch::empty({G}, torch::kDouble), fc = torch::empty({G}, torch::kDouble);
        auto pa = fa.accessor<double, 1>(), pb = fb.accessor<double, 1>(), pc = fc.accessor<double, 1>();
        for (int64_t j = 0; j < G; ++j) {
            // Normal equations of min Σ (a x² + b x + c − relu x)², normalised by the count,
            // with a small ridge so that constant inputs (e.g. zero padding) stay solvable.
            const double n = std::max(s0[j], 1.0);
            double M[3][4] = {{s4[j] / n, s3[j] / n, s2[j] / n, t2[j] / n}, {s3[j] / n, s2[j] / n, s1[j] / n, t1[j] / n}, {s2[j] / n, s1[j] / n, 1.0, t0[j] / n}};
            const double ridge = 1e-6 * (1.0 + M[0][0]);
            M[0][0] += ridge, M[1][1] += ridge;
            for (int col = 0; col < 3; ++col) {  // Gaussian elimination, partial pivoting
                int piv = col;
                for (int r = col + 1; r < 3; ++r)
                    if (std::abs(M[r][col]) > std::abs(M[piv][col])) piv = r;
                std::swap(M[col], M[piv]);
                for (int r = 0; r < 3; ++r)
                    if (r != col) {
                        const double f = M[r][col] / M[col][col];
                        for (int k = col; k < 4; ++k) M[r][k] -= f * M[col][k];
                    }
            }
            pa[j] = M[0][3] / M[0][0], pb[j] = M[1][3] / M[1][1], pc[j] = M[2][3] / M[2][2];
        }
        a.copy_(fa), b.copy_(fb), c.copy_(fc);
    }
}

torch::Tensor predict(Net& net, const torch::Tensor& inputs, int64_t batch) {
    torch::NoGradGuard ng;
    const bool was_training = net->is_training();
    net->eval();
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < inputs.size(0); i += batch) out.push_back(net->forward(inputs.slice(0, i, std::min(i + batch, inputs.size(0)))));
    if (was_training) net->train();
    return torch::cat(out);
}

}  // namespace hecnn::train

namespace hecnn::train {

torch::Tensor kd_loss(const torch::Tensor& s, const torch::Tensor& t, const torch::Tensor& labels, double T, double alpha) {
    auto ce = torch::nn::functional::cross_entropy(s, labels);
    if (alpha <= 0.0) return ce;
    auto log_ps = torch::log_softmax(s / T, 1);
    auto log_pt = torch::log_softmax(t / T, 1);
    auto kl = (log_pt.exp() * (log_pt - log_ps)).sum(1).mean();
    return alpha * T * T * kl + (1.0 - alpha) * ce;
}

}  // namespace hecnn::train
