// nn::Model → he::Plan by symbolic execution: every element of every value is an affine
// form Σ coef·wire + const over the ciphertext wires made so far (forms.h). Affine
// operators only transform forms (that is the folding); a product makes ciphertexts.
//
// A product p·q of two forms: each operand is materialised — made one Linear step output
// (one rescale) unless it is already a single term k·w + d — and every live form is then
// rewritten in terms of the new wires. So when the linear parts of p and q are
// proportional (a·x·x, (a·x)·x, x·(a·x), (x+1)·(x−1), (a·x+b)·x, …) both end as single
// terms of the same wire w and p·q = k₁k₂·w² + (k₁d₂ + k₂d₁)·w + d₁d₂: one square of w, and
// the coefficients go to whatever linear step reads the result. Otherwise they end as
// terms of two wires u ≠ v (two branches, or x² times x) and p·q = k₁k₂·uv + k₁d₂·u +
// k₂d₁·v + d₁d₂: one ciphertext × ciphertext product, depth max(depth u, depth v) + 1.
// Each product node makes one Square step (arity 1) or, when some pair is of two wires,
// one Product step (arity 2, plan.h); a pair made before is reused.
#include "hecnn/he/compiler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "complete_squares.h"
#include "forms.h"

namespace hecnn::he {
namespace {

using detail::Acc;
using detail::Expr;
using detail::Forms;
using nn::Model;
using nn::ModelError;
using nn::Node;
using nn::Op;
using nn::Shape;

[[noreturn]] void fail(const Node& n, const std::string& msg) {
    throw ModelError("node '" + n.name + "' (" + nn::op_name(n.op) + "): " + msg);
}

// A Linear step being filled by the materialisations of one node: groups by input set,
// identical forms sharing one output.
struct OpenStep {
    int index = -1;
    std::map<std::vector<int>, std::size_t> group_of;
    std::map<std::pair<std::size_t, std::vector<double>>, int> seen;
};

// One output of a Linear step: wire = Σ W[o,·]·inputs + bias[o].
struct Made {
    int wire, step;
    std::size_t group, row;
};

class Compiler {
public:
    // separate_pools: the AveragePool nodes (indices) made a Linear step of their own.
    Compiler(const Model& m, const CompileOptions& opt, std::vector<int> separate_pools = {})
        : m_(m), opt_(opt), separate_pools_(std::move(separate_pools)) {}

    Plan run() {
        const Shape& in = m_.input_shape();
        const int F = static_cast<int>(nn::element_count(in));
        plan_.input_shape = in;
        plan_.output_shape = m_.output_shape();
        plan_.input_count = F;
        forms_.assign(m_.values.size(), {});
        last_use_.assign(m_.values.size(), -1);
        for (std::size_t i = 0; i < m_.nodes.size(); ++i)
            for (int v : m_.nodes[i].inputs) last_use_[v] = static_cast<int>(i);
        last_use_[m_.output] = static_cast<int>(m_.nodes.size());
        Forms x(static_cast<std::size_t>(F));
        for (int i = 0; i < F; ++i) {
            new_wire(0, 2, -1);
            x[i].t.emplace_back(i, 1.0);
            x[i].deg = 1;
        }
        forms_[m_.input] = std::move(x);
        for (std::size_t i = 0; i < m_.nodes.size(); ++i) {
            const Node& n = m_.nodes[i];
            forms_[n.output] = eval(n);
            if (std::find(separate_pools_.begin(), separate_pools_.end(), static_cast<int>(i)) != separate_pools_.end()) {
                OpenStep pool;
                materialise(n.output, nullptr, false, n.name, pool);
            }
            // Forms no later node reads are dropped (fewer forms to keep and to rewrite).
            for (int v : n.inputs)
                if (last_use_[v] == static_cast<int>(i)) Forms().swap(forms_[v]);
            if (last_use_[n.output] < 0) Forms().swap(forms_[n.output]);
        }
        OpenStep out;
        materialise(m_.output, nullptr, true, "output", out);
        const Forms& y = forms_[m_.output];
        for (std::size_t k = 0; k < y.size(); ++k) {
            if (y[k].constant()) throw ModelError("model output element " + std::to_string(k) + " is a constant, not a function of the input");
            plan_.outputs.push_back(y[k].t[0].first);
        }
        plan_.depth = 0;
        for (int d : plan_.wire_depth) plan_.depth = std::max(plan_.depth, d);
        if (opt_.complete_squares) detail::complete_squares(plan_, opt_.max_square_shift);
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

    const Shape& shape(int v) const { return m_.values[v].shape; }

    Forms eval(const Node& n) {
        const Shape& s = shape(n.inputs[0]);
        const Shape& o = shape(n.output);
        const Forms& x = forms_[n.inputs[0]];
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
                            y[(m * OH + oh) * OW + ow] = acc.take(1);
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
                    y[r] = acc.take(1);
                }
                return y;
            }
            case Op::Add:
            case Op::Mul: {
                const bool add = n.op == Op::Add;
                if (n.inputs.size() == 2) {
                    if (!add) return multiply(n);
                    const Forms& z = forms_[n.inputs[1]];
                    y.resize(x.size());
                    for (std::size_t j = 0; j < x.size(); ++j) {
                        acc.add(x[j], 1.0);
                        acc.add(z[j], 1.0);
                        y[j] = acc.take();
                    }
                    return y;
                }
                const auto idx = nn::broadcast_index(s, n.weight.shape);
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
                            y[(c * OH + oh) * OW + ow] = acc.take(1);
                        }
                return y;
            }
            case Op::GlobalAveragePool: {
                const int64_t C = s[0], HW = s[1] * s[2];
                y.resize(static_cast<std::size_t>(C));
                for (int64_t c = 0; c < C; ++c) {
                    for (int64_t j = 0; j < HW; ++j) acc.add(x[c * HW + j], 1.0 / static_cast<double>(HW));
                    y[c] = acc.take(1);
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

    // p·q element by element (see the top of the file). A constant operand scales.
    Forms multiply(const Node& n) {
        const int a = n.inputs[0], b = n.inputs[1];
        const std::size_t E = forms_[a].size();
        std::vector<char> both(E);
        for (std::size_t j = 0; j < E; ++j) both[j] = !forms_[a][j].constant() && !forms_[b][j].constant();
        // The earlier value first (x in a·x·x): its wire is the one later forms share.
        OpenStep lin;
        materialise(std::min(a, b), &both, false, n.name, lin);
        if (a != b) materialise(std::max(a, b), &both, false, n.name, lin);
        const Forms& p = forms_[a];
        const Forms& q = forms_[b];
        Step sq;
        sq.kind = Step::Kind::Square;
        sq.name = n.name;
        const int si = static_cast<int>(plan_.steps.size());
        std::vector<std::pair<int, int>> pairs;  // the new outputs' operands
        Forms y(E);
        Acc acc;
        for (std::size_t j = 0; j < E; ++j) {
            if (!both[j]) {
                if (p[j].constant()) acc.add(q[j], p[j].c);
                else acc.add(p[j], q[j].c);
                y[j] = acc.take();
                continue;
            }
            const auto [u, k1] = p[j].t[0];
            const auto [v, k2] = q[j].t[0];
            const double d1 = p[j].c, d2 = q[j].c;
            // One output per pair of wires (a square when u = v), reused by later products.
            const std::pair<int, int> key{std::min(u, v), std::max(u, v)};
            auto it = product_of_.find(key);
            if (it == product_of_.end()) {
                const int depth = std::max(plan_.wire_depth[u], plan_.wire_depth[v]) + 1;
                it = product_of_.emplace(key, new_wire(depth, 2, si)).first;
                pairs.push_back(key);
                sq.outputs.push_back(it->second);
            }
            // (k1·u + d1)(k2·v + d2) = k1k2·uv + k1d2·u + k2d1·v + d1d2
            acc.add_term(it->second, k1 * k2);
            acc.add_term(u, k1 * d2);
            acc.add_term(v, k2 * d1);
            acc.add_const(d1 * d2);
            y[j] = acc.take();
            y[j].deg = p[j].deg + q[j].deg;
        }
        if (pairs.empty()) return y;
        // All squares: arity 1; else the interleaved pairs (a square as (x, x)).
        sq.arity = std::any_of(pairs.begin(), pairs.end(), [](const auto& uv) { return uv.first != uv.second; }) ? 2 : 1;
        for (const auto& [u, v] : pairs) {
            sq.inputs.push_back(u);
            if (sq.arity == 2) sq.inputs.push_back(v);
        }
        plan_.steps.push_back(std::move(sq));
        return y;
    }

    // Makes the elements of value v chosen by `want` (all if null) wires: each non-constant
    // element that is not already one — a single term k·w + d, or with `plain` (the model
    // output) exactly a wire — becomes an output of a Linear step (identical forms share
    // one; groups by identical input sets), appended to `open`. Its form becomes that wire,
    // and every live form is rewritten in terms of the new wires (rewrite_live).
    void materialise(int v, const std::vector<char>* want, bool plain, const std::string& name, OpenStep& open) {
        Forms& f = forms_[v];
        std::vector<Made> made;
        for (std::size_t j = 0; j < f.size(); ++j) {
            Expr& e = f[j];
            if ((want && !(*want)[j]) || e.constant() || (plain ? e.plain() : e.single())) continue;
            if (open.index < 0) {
                open.index = static_cast<int>(plan_.steps.size());
                Step st;
                st.kind = Step::Kind::Linear;
                st.name = name;
                plan_.steps.push_back(std::move(st));
            }
            Step& st = plan_.steps[open.index];
            std::vector<int> key(e.t.size());
            for (std::size_t k = 0; k < e.t.size(); ++k) key[k] = e.t[k].first;
            auto [git, fresh] = open.group_of.emplace(std::move(key), st.groups.size());
            if (fresh) {
                LinearGroup g;
                g.inputs = git->first;
                st.groups.push_back(std::move(g));
            }
            const std::size_t gi = git->second;
            LinearGroup& g = st.groups[gi];
            std::vector<double> row(e.t.size());
            for (std::size_t k = 0; k < e.t.size(); ++k) row[k] = e.t[k].second;
            row.push_back(e.c);
            // Identical forms (e.g. an element duplicated by Concat) share one output wire.
            auto [sit, first] = open.seen.emplace(std::make_pair(gi, std::move(row)), -1);
            if (first) {
                int depth = 0;
                for (int w : g.inputs) depth = std::max(depth, plan_.wire_depth[w]);
                sit->second = new_wire(depth + 1, 2, open.index);
                g.outputs.push_back(sit->second);
                g.weights.insert(g.weights.end(), sit->first.second.begin(), sit->first.second.end() - 1);
                g.bias.push_back(e.c);
                made.push_back({sit->second, open.index, gi, g.outputs.size() - 1});
            }
            e = Expr{{{sit->second, 1.0}}, 0.0, e.deg};
        }
        if (!made.empty()) rewrite_live(made);
    }

    // Every live form holding a new output's linear part (a multiple of it, exactly up to
    // rounding) reads the output instead: b·x computed before x was materialised becomes
    // b·w, so the next layer reads one wire per element, not x's whole receptive field.
    void rewrite_live(const std::vector<Made>& made) {
        // The new outputs by the first input wire of their form.
        std::unordered_map<int, std::vector<std::size_t>> starts;
        std::vector<char> is_start(plan_.wire_depth.size(), 0);
        for (std::size_t i = 0; i < made.size(); ++i) {
            const int w = group(made[i]).inputs[0];
            starts[w].push_back(i);
            is_start[w] = 1;
        }
        for (Forms& f : forms_)
            for (Expr& e : f)
                if (std::any_of(e.t.begin(), e.t.end(), [&](const auto& term) { return is_start[term.first]; })) rewrite(e, made, starts);
    }

    const LinearGroup& group(const Made& m) const { return plan_.steps[m.step].groups[m.group]; }

    void rewrite(Expr& e, const std::vector<Made>& made, const std::unordered_map<int, std::vector<std::size_t>>& starts) {
        std::vector<char> used(e.t.size(), 0);
        std::vector<std::size_t> pos;
        Acc acc;
        bool changed = false;
        for (std::size_t i = 0; i < e.t.size(); ++i) {
            if (used[i]) continue;
            const auto it = starts.find(e.t[i].first);
            if (it == starts.end()) continue;
            const LinearGroup* failed = nullptr;  // a group whose inputs are not all in e
            for (std::size_t mi : it->second) {
                const Made& m = made[mi];
                const LinearGroup& g = group(m);
                if (&g == failed) continue;
                // Positions of the group's inputs among e's terms (both sorted by wire).
                pos.clear();
                for (std::size_t k = i; int w : g.inputs) {
                    while (k < e.t.size() && e.t[k].first < w) ++k;
                    if (k == e.t.size() || e.t[k].first != w || used[k]) break;
                    pos.push_back(k);
                }
                if (pos.size() != g.inputs.size()) {
                    failed = &g;
                    continue;
                }
                const double* row = g.weights.data() + m.row * g.inputs.size();
                const double beta = e.t[i].second / row[0];
                double mag = 0;
                for (std::size_t k : pos) mag = std::max(mag, std::fabs(e.t[k].second));
                bool prop = true;
                for (std::size_t k = 0; k < pos.size() && prop; ++k) prop = std::fabs(e.t[pos[k]].second - beta * row[k]) <= 1e-11 * mag;
                if (!prop) continue;
                // β·(Σ W·in) = β·(wire − bias)
                for (std::size_t k : pos) used[k] = 1;
                acc.add_term(m.wire, beta);
                acc.add_const(-beta * g.bias[m.row]);
                changed = true;
                break;
            }
        }
        if (!changed) return;
        for (std::size_t i = 0; i < e.t.size(); ++i)
            if (!used[i]) acc.add_term(e.t[i].first, e.t[i].second);
        acc.add_const(e.c);
        const int deg = e.deg;
        e = acc.take();
        e.deg = e.constant() ? 0 : deg;
    }

    // Lazy relinearisation: a Square or Product step whose outputs all feed one Linear step (and are
    // not model outputs) keeps them at size 3 when that saves more relinearisations than
    // the 3-polynomial linear map costs extra.
    void decide_lazy() {
        const int S = static_cast<int>(plan_.steps.size());
        std::vector<std::vector<int>> consumers(plan_.wire_depth.size());
        for (int i = 0; i < S; ++i) {
            const Step& st = plan_.steps[i];
            if (st.kind == Step::Kind::Square) {
                for (std::size_t k = 0; k < st.outputs.size(); ++k)
                    for (int w : st.reads(k)) consumers[w].push_back(i);
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
    std::vector<int> last_use_;              // per value: index of the last node reading it
    std::map<std::pair<int, int>, int> product_of_;  // (u, v), u ≤ v → the wire of u·v (u = v: the square)
    std::vector<int> separate_pools_;
};

std::int64_t total_macs(const Plan& p) {
    std::int64_t n = 0;
    for (const auto& st : p.steps) n += st.macs();
    return n;
}

}  // namespace

Plan compile(const nn::Model& model, const CompileOptions& opt) {
    if (model.input < 0 || model.output < 0) throw ModelError("model has no input or output");
    Plan folded = Compiler(model, opt).run();
    if (opt.level_budget <= folded.depth) return folded;
    // Each pool on its own step: the MACs it saves; then the best ones within the budget.
    std::vector<std::pair<std::int64_t, int>> saving;  // (MACs saved, node), best first
    const std::int64_t base = total_macs(folded);
    for (std::size_t i = 0; i < model.nodes.size(); ++i)
        if (model.nodes[i].op == Op::AveragePool) {
            const Plan p = Compiler(model, opt, {static_cast<int>(i)}).run();
            if (p.depth > folded.depth && base > total_macs(p)) saving.emplace_back(base - total_macs(p), static_cast<int>(i));
        }
    std::sort(saving.begin(), saving.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    std::vector<int> chosen;
    Plan best = std::move(folded);
    for (const auto& s : saving) {
        auto with = chosen;
        with.push_back(s.second);
        Plan p = Compiler(model, opt, with).run();
        if (p.depth > opt.level_budget) break;
        chosen = std::move(with), best = std::move(p);
    }
    return best;
}

}  // namespace hecnn::he
