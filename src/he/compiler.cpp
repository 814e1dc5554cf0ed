// nn::Model → he::Plan by symbolic execution: every element of every value is an affine
// form Σ coef·wire + const over the ciphertext wires made so far. Affine operators only
// transform forms (that is the folding); a square materialises its operand's forms as
// one Linear step (one rescale per output) and squares the resulting wires.
#include "hecnn/he/compiler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace hecnn::he {
namespace {

using nn::Model;
using nn::ModelError;
using nn::Node;
using nn::Op;
using nn::Shape;

struct Expr {
    std::vector<std::pair<int, double>> t;  // (wire, coefficient), sorted by wire
    double c = 0;
};
using Forms = std::vector<Expr>;

// Sparse accumulator over wires.
class Acc {
public:
    void add(const Expr& e, double k) {
        if (k == 0) return;
        c_ += k * e.c;
        for (auto [w, v] : e.t) {
            if (static_cast<std::size_t>(w) >= val_.size()) val_.resize(static_cast<std::size_t>(w) + 1, 0.0), used_.resize(val_.size(), 0);
            if (!used_[w]) used_[w] = 1, touched_.push_back(w);
            val_[w] += k * v;
        }
    }
    void add_const(double k) { c_ += k; }
    Expr take() {
        Expr e;
        e.c = c_;
        std::sort(touched_.begin(), touched_.end());
        for (int w : touched_) {
            if (val_[w] != 0) e.t.emplace_back(w, val_[w]);
            val_[w] = 0, used_[w] = 0;
        }
        touched_.clear();
        c_ = 0;
        return e;
    }

private:
    std::vector<double> val_;
    std::vector<char> used_;
    std::vector<int> touched_;
    double c_ = 0;
};

[[noreturn]] void fail(const Node& n, const std::string& msg) {
    throw ModelError("node '" + n.name + "' (" + nn::op_name(n.op) + "): " + msg);
}

// Index of the broadcast constant for every element of shape s (right-aligned).
std::vector<std::size_t> broadcast_index(const Shape& s, const nn::Tensor& k) { return nn::broadcast_index(s, k.shape); }

class Compiler {
public:
    Compiler(const Model& m, const CompileOptions& opt) : m_(m), opt_(opt) {}

    Plan run() {
        const Shape& in = m_.input_shape();
        const int F = static_cast<int>(nn::element_count(in));
        plan_.input_shape = in;
        plan_.output_shape = m_.output_shape();
        plan_.input_count = F;
        forms_.assign(m_.values.size(), {});
        Forms x(static_cast<std::size_t>(F));
        for (int i = 0; i < F; ++i) {
            new_wire(0, 2, -1);
            x[i].t.emplace_back(i, 1.0);
        }
        forms_[m_.input] = std::move(x);
        for (const Node& n : m_.nodes) forms_[n.output] = eval(n);
        plan_.outputs = materialise(m_.output, "output");
        for (std::size_t k = 0; k < plan_.outputs.size(); ++k)
            if (plan_.outputs[k] < 0) throw ModelError("model output element " + std::to_string(k) + " is a constant, not a function of the input");
        plan_.depth = 0;
        for (int d : plan_.wire_depth) plan_.depth = std::max(plan_.depth, d);
        if (opt_.lazy_relin) decide_lazy();
        return std::move(plan_);
    }

private:
    int new_wire(int depth, int size, int step) {
        plan_.wire_depth.push_back(depth);
        plan_.wire_size.push_back(size);
        plan_.wire_step.push_back(step);
        return static_cast<int>(plan_.wire_depth.size()) - 1;
    }

    const Forms& in(const Node& n, std::size_t k) {
        const Forms& f = forms_[n.inputs.at(k)];
        return f;
    }
    const Shape& shape(int v) const { return m_.values[v].shape; }

    Forms eval(const Node& n) {
        const Shape& s = shape(n.inputs[0]);
        const Shape& o = shape(n.output);
        const Forms& x = in(n, 0);
        Forms y;
        Acc acc;
        switch (n.op) {
            case Op::Conv: {
                const int64_t H = s[1], W = s[2], M = o[0], OH = o[1], OW = o[2];
                const auto& w = n.weight;
                const int64_t Cg = w.shape[1], KH = w.shape[2], KW = w.shape[3], Mg = M / n.group;
                y.resize(static_cast<std::size_t>(M * OH * OW));
                for (int64_t m = 0; m < M; ++m) {
                    const int64_t c0 = (m / Mg) * Cg;
                    for (int64_t oh = 0; oh < OH; ++oh)
                        for (int64_t ow = 0; ow < OW; ++ow) {
                            acc.add_const(n.bias.empty() ? 0.0 : n.bias.data[m]);
                            for (int64_t c = 0; c < Cg; ++c)
                                for (int64_t kh = 0; kh < KH; ++kh) {
                                    const int64_t ih = oh * n.stride[0] - n.pads[0] + kh * n.dilation[0];
                                    if (ih < 0 || ih >= H) continue;  // zero padding: absent input
                                    for (int64_t kw = 0; kw < KW; ++kw) {
                                        const int64_t iw = ow * n.stride[1] - n.pads[1] + kw * n.dilation[1];
                                        if (iw < 0 || iw >= W) continue;
                                        acc.add(x[((c0 + c) * H + ih) * W + iw], w.data[((m * Cg + c) * KH + kh) * KW + kw]);
                                    }
                                }
                            y[(m * OH + oh) * OW + ow] = acc.take();
                        }
                }
                return y;
            }
            case Op::Gemm: {
                const int64_t M = n.weight.shape[0], K = n.weight.shape[1];
                y.resize(static_cast<std::size_t>(M));
                for (int64_t r = 0; r < M; ++r) {
                    acc.add_const(n.bias.empty() ? 0.0 : n.bias.data[r]);
                    for (int64_t k = 0; k < K; ++k) acc.add(x[k], n.weight.data[r * K + k]);
                    y[r] = acc.take();
                }
                return y;
            }
            case Op::Add:
            case Op::Mul: {
                const bool add = n.op == Op::Add;
                if (n.inputs.size() == 2) {
                    if (add) {
                        const Forms& z = in(n, 1);
                        y.resize(x.size());
                        for (std::size_t j = 0; j < x.size(); ++j) {
                            acc.add(x[j], 1.0);
                            acc.add(z[j], 1.0);
                            y[j] = acc.take();
                        }
                        return y;
                    }
                    return multiply(n);
                }
                const auto idx = broadcast_index(s, n.weight);
                y.resize(x.size());
                for (std::size_t j = 0; j < x.size(); ++j) {
                    const double k = n.weight.data[idx[j]];
                    if (add) {
                        y[j] = x[j];
                        y[j].c += k;
                    } else {
                        acc.add(x[j], k);  // drops the terms when k = 0
                        y[j] = acc.take();
                    }
                }
                return y;
            }
            case Op::AveragePool: {
                const int64_t C = s[0], OH = o[1], OW = o[2];
                y.resize(static_cast<std::size_t>(C * OH * OW));
                std::vector<std::size_t> members;
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t oh = 0; oh < OH; ++oh)
                        for (int64_t ow = 0; ow < OW; ++ow) {
                            const int64_t count = nn::average_pool_window(n, s, c, oh, ow, members);
                            for (auto j : members) acc.add(x[j], 1.0 / static_cast<double>(count));
                            y[(c * OH + oh) * OW + ow] = acc.take();
                        }
                return y;
            }
            case Op::GlobalAveragePool: {
                const int64_t C = s[0], HW = s[1] * s[2];
                y.resize(static_cast<std::size_t>(C));
                for (int64_t c = 0; c < C; ++c) {
                    for (int64_t j = 0; j < HW; ++j) acc.add(x[c * HW + j], 1.0 / static_cast<double>(HW));
                    y[c] = acc.take();
                }
                return y;
            }
            case Op::Concat: {
                int64_t outer = 1;
                for (int64_t d = 0; d < n.axis; ++d) outer *= o[d];
                for (int64_t b = 0; b < outer; ++b)
                    for (int id : n.inputs) {
                        const Forms& z = forms_[id];
                        const std::size_t chunk = z.size() / static_cast<std::size_t>(outer);
                        y.insert(y.end(), z.begin() + b * chunk, z.begin() + (b + 1) * chunk);
                    }
                return y;
            }
            case Op::BatchNorm: {
                const int64_t C = s[0], inner = nn::element_count(s) / C;
                y.resize(x.size());
                for (int64_t c = 0; c < C; ++c) {
                    const double g = n.weight.data[c] / std::sqrt(n.var.data[c] + n.epsilon);
                    for (int64_t j = 0; j < inner; ++j) {
                        acc.add(x[c * inner + j], g);
                        acc.add_const(n.bias.data[c] - n.mean.data[c] * g);
                        y[c * inner + j] = acc.take();
                    }
                }
                return y;
            }
            case Op::Reshape: return x;
            case Op::Pad: {
                const int64_t C = s[0], H = s[1], W = s[2], OH = o[1], OW = o[2];
                y.assign(static_cast<std::size_t>(C * OH * OW), Expr{});
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t h = 0; h < H; ++h)
                        for (int64_t w = 0; w < W; ++w) y[(c * OH + h + n.pads[0]) * OW + w + n.pads[1]] = x[(c * H + h) * W + w];
                return y;
            }
        }
        fail(n, "unsupported operator");
    }

    // x·y: the square when both operands are the same value, or when one is constant.
    Forms multiply(const Node& n) {
        const int a = n.inputs[0], b = n.inputs[1];
        auto constant = [&](int v) {
            return std::all_of(forms_[v].begin(), forms_[v].end(), [](const Expr& e) { return e.t.empty(); });
        };
        Acc acc;
        if (a != b && (constant(a) || constant(b))) {
            const Forms& k = forms_[constant(a) ? a : b];
            const Forms& x = forms_[constant(a) ? b : a];
            Forms y(x.size());
            for (std::size_t j = 0; j < x.size(); ++j) acc.add(x[j], k[j].c), y[j] = acc.take();
            return y;
        }
        if (a != b) fail(n, "product of two different non-constant values: only the square x·x is supported under HE");
        const auto wires = materialise(a, n.name);
        // One Square step over the distinct wires.
        Step st;
        st.kind = Step::Kind::Square;
        st.name = n.name;
        const int si = static_cast<int>(plan_.steps.size());
        std::unordered_map<int, int> sq;
        Forms y(wires.size());
        for (std::size_t j = 0; j < wires.size(); ++j) {
            if (wires[j] < 0) {  // constant element
                const double c = forms_[a][j].c;
                y[j].c = c * c;
                continue;
            }
            auto it = sq.find(wires[j]);
            if (it == sq.end()) {
                const int w = new_wire(plan_.wire_depth[wires[j]] + 1, 2, si);
                st.inputs.push_back(wires[j]);
                st.outputs.push_back(w);
                it = sq.emplace(wires[j], w).first;
            }
            y[j].t.emplace_back(it->second, 1.0);
        }
        if (!st.inputs.empty()) plan_.steps.push_back(std::move(st));
        return y;
    }

    // Make every element of value v a wire (−1 for a constant element): one Linear step
    // for the elements that are not already plain wires; v's forms become those wires.
    std::vector<int> materialise(int v, const std::string& name) {
        Forms& f = forms_[v];
        std::vector<int> wires(f.size(), -1);
        Step st;
        st.kind = Step::Kind::Linear;
        st.name = name;
        const int si = static_cast<int>(plan_.steps.size());
        std::map<std::vector<int>, std::size_t> group_of;
        std::vector<std::pair<std::size_t, std::size_t>> pending;  // (element, group)
        for (std::size_t j = 0; j < f.size(); ++j) {
            const Expr& e = f[j];
            if (e.t.empty()) continue;
            if (e.t.size() == 1 && e.t[0].second == 1.0 && e.c == 0) {
                wires[j] = e.t[0].first;
                continue;
            }
            std::vector<int> key(e.t.size());
            for (std::size_t k = 0; k < e.t.size(); ++k) key[k] = e.t[k].first;
            auto [it, fresh] = group_of.emplace(std::move(key), st.groups.size());
            if (fresh) {
                LinearGroup g;
                g.inputs = it->first;
                st.groups.push_back(std::move(g));
            }
            pending.emplace_back(j, it->second);
        }
        // Identical forms (e.g. an element duplicated by Concat) share one output wire.
        std::map<std::pair<std::size_t, std::vector<double>>, int> seen;
        for (auto [j, gi] : pending) {
            LinearGroup& g = st.groups[gi];
            const Expr& e = f[j];
            std::vector<double> row(e.t.size());
            for (std::size_t k = 0; k < e.t.size(); ++k) row[k] = e.t[k].second;
            row.push_back(e.c);
            auto it = seen.find({gi, row});
            if (it != seen.end()) {
                wires[j] = it->second;
                continue;
            }
            int depth = 0;
            for (int w : g.inputs) depth = std::max(depth, plan_.wire_depth[w]);
            const int w = new_wire(depth + 1, 2, si);
            g.outputs.push_back(w);
            g.weights.insert(g.weights.end(), row.begin(), row.end() - 1);
            g.bias.push_back(e.c);
            seen.emplace(std::make_pair(gi, std::move(row)), w);
            wires[j] = w;
        }
        if (!st.groups.empty()) plan_.steps.push_back(std::move(st));
        for (std::size_t j = 0; j < f.size(); ++j)
            if (wires[j] >= 0) f[j] = Expr{{{wires[j], 1.0}}, 0.0};
        return wires;
    }

    // Lazy relinearisation: a Square step whose outputs all feed one Linear step (and are
    // not model outputs) keeps them at size 3 when that saves more relinearisations than
    // the 3-polynomial linear map costs extra.
    void decide_lazy() {
        const int S = static_cast<int>(plan_.steps.size());
        std::vector<std::vector<int>> consumers(plan_.wire_depth.size());
        for (int i = 0; i < S; ++i) {
            const Step& st = plan_.steps[i];
            if (st.kind == Step::Kind::Square) {
                for (int w : st.inputs) consumers[w].push_back(i);
            } else {
                for (const auto& g : st.groups)
                    for (int w : g.inputs) consumers[w].push_back(i);
            }
        }
        std::vector<char> is_output(plan_.wire_depth.size(), 0);
        for (int w : plan_.outputs) is_output[w] = 1;
        // Candidate squares per consuming linear step.
        std::map<int, std::vector<int>> feeding;
        for (int i = 0; i < S; ++i) {
            const Step& st = plan_.steps[i];
            if (st.kind != Step::Kind::Square) continue;
            int consumer = -1;
            bool ok = true;
            for (int w : st.outputs) {
                if (is_output[w]) ok = false;
                for (int c : consumers[w]) {
                    if (plan_.steps[c].kind != Step::Kind::Linear) ok = false;
                    if (consumer == -1) consumer = c;
                    else if (consumer != c) ok = false;
                }
            }
            if (ok && consumer >= 0) feeding[consumer].push_back(i);
        }
        for (auto& [t, squares] : feeding) {
            Step& lin = plan_.steps[t];
            double saved = -static_cast<double>(lin.output_count());
            for (int si : squares) saved += static_cast<double>(plan_.steps[si].outputs.size());
            if (saved * opt_.relin_cost_macs <= 0.5 * static_cast<double>(lin.macs())) continue;
            lin.relin_outputs = true;
            for (int si : squares) {
                plan_.steps[si].lazy_relin = true;
                for (int w : plan_.steps[si].outputs) plan_.wire_size[w] = 3;
            }
        }
    }

    const Model& m_;
    CompileOptions opt_;
    Plan plan_;
    std::vector<Forms> forms_;
};

}  // namespace

Plan compile(const nn::Model& model, const CompileOptions& opt) {
    if (model.input < 0 || model.output < 0) throw ModelError("model has no input or output");
    return Compiler(model, opt).run();
}

// ---- parameters -------------------------------------------------------------------

ParamChoice choose_parameters(const Plan& plan, std::span<const double> wire_max_abs, const ParamOptions& opt) {
    ParamChoice ch;
    std::ostringstream why;
    const int L = plan.depth;
    const double sb = opt.scale_bits;
    if (sb < 20 || sb > 60) throw std::invalid_argument("scale bits must be in [20, 60]");
    auto maxabs = [&](int w) { return wire_max_abs.empty() ? 1.0 : std::max(wire_max_abs[w], 1e-300); };
    // Every wire at scale Δ must fit Q_l/2 at its level l; the binding level is 0 for the
    // deepest wires. Conservatively: the largest |value| of any wire must fit q_0/Δ.
    double vmax = 1e-300;
    for (int w = 0; w < plan.wire_count(); ++w) vmax = std::max(vmax, maxabs(w));
    const double vbits = std::max(0.0, std::log2(vmax)) + opt.margin_bits;
    ch.value_bits = vbits;
    double q0 = std::ceil(sb + vbits + 1);
    // A square's input x at level l: x²·Δ² < Q_l/2 before the rescale.
    for (const Step& st : plan.steps) {
        if (st.kind != Step::Kind::Square) continue;
        for (int w : st.inputs) {
            const int l = L - plan.wire_depth[w];
            const double need = 2 * (std::max(0.0, std::log2(maxabs(w))) + opt.margin_bits) + 2 * sb + 1 - l * sb;
            q0 = std::max(q0, std::ceil(need));
        }
    }
    q0 = std::max(q0, std::ceil(sb + opt.precision_bits));
    if (q0 > 61) throw std::runtime_error("value range needs a first prime of " + std::to_string(static_cast<int>(q0)) + " bits (> 61): lower the scale (--scale-bits)");
    ch.q0_bits = static_cast<int>(q0);
    why << "depth " << L << " → " << L << " rescaling primes of " << sb << " bits; max |value| 2^" << std::log2(vmax)
        << " + " << opt.margin_bits << " bits margin → q_0 " << ch.q0_bits << " bits";
    const double data_bits = q0 + L * std::round(sb);
    int log_n = opt.log_n;
    int min_log = opt.min_log_n;
    if (opt.batch > 0) while ((std::size_t{1} << (min_log - 1)) < opt.batch) ++min_log;
    if (log_n == 0) log_n = min_log;
    if (opt.log_n != 0 && (std::size_t{1} << (opt.log_n - 1)) < opt.batch)
        throw std::invalid_argument("N = 2^" + std::to_string(opt.log_n) + " has fewer slots than the batch");
    std::vector<int> special;
    for (;; ++log_n) {
        if (log_n > 16) throw std::runtime_error("no ring degree up to 2^16 holds " + std::to_string(static_cast<int>(data_bits)) + " bits of data primes at 128-bit security");
        const int bound = ckks::max_log_qp_128(log_n);
        const double R = bound - data_bits;
        special.clear();
        if (R >= 120) special = {60, 60};
        else if (R >= 90) special = {static_cast<int>(R / 2), static_cast<int>(R / 2)};
        else if (R >= std::max(40.0, q0 - 20)) special = {static_cast<int>(std::min(60.0, R))};
        if (!special.empty()) {
            ch.max_log_qp = bound;
            break;
        }
        if (opt.insecure_test_only_allow_below_128_bits && (opt.log_n != 0 || log_n >= min_log)) {
            special = {60, 60};
            ch.max_log_qp = 0;
            why << "; INSECURE test parameters (below 128 bits)";
            break;
        }
        if (opt.log_n != 0) throw std::runtime_error("N = 2^" + std::to_string(opt.log_n) + " cannot hold " + std::to_string(static_cast<int>(data_bits)) + " bits at 128-bit security");
    }
    ch.literal.log_n = log_n;
    ch.literal.data_prime_bits.push_back(ch.q0_bits);
    for (int i = 0; i < L; ++i) ch.literal.data_prime_bits.push_back(static_cast<int>(std::round(sb)));
    ch.literal.special_prime_bits = special;
    ch.literal.log_scale = sb;
    ch.literal.insecure_test_only_allow_below_128_bits = opt.insecure_test_only_allow_below_128_bits;
    ch.log_qp = data_bits;
    for (int b : special) ch.log_qp += b;
    why << "; N = 2^" << log_n << " (" << (std::size_t{1} << (log_n - 1)) << " slots";
    if (opt.batch) why << " ≥ batch " << opt.batch;
    why << "); special primes";
    for (int b : special) why << " " << b;
    why << " → log2 QP ≤ " << ch.log_qp;
    if (ch.max_log_qp) why << " ≤ " << ch.max_log_qp << " (128-bit bound)";
    ch.explain = why.str();
    return ch;
}

}  // namespace hecnn::he
