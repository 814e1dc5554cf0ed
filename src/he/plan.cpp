#include "hecnn/he/plan.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace hecnn::he {

std::size_t Step::output_count() const {
    if (kind == Kind::Square) return outputs.size();
    std::size_t n = 0;
    for (const auto& g : groups) n += g.outputs.size();
    return n;
}

void Step::check_arity() const {
    if (kind != Kind::Square) return;
    if (arity != 1 && arity != 2)
        throw std::invalid_argument("plan step '" + name + "': arity " + std::to_string(arity) + ", a square has 1 operand and a product 2");
    if (inputs.size() != outputs.size() * static_cast<std::size_t>(arity))
        throw std::invalid_argument("plan step '" + name + "': " + std::to_string(inputs.size()) + " input wires for " +
                                    std::to_string(outputs.size()) + " outputs of arity " + std::to_string(arity));
}

std::int64_t Step::macs() const {
    std::int64_t n = 0;
    for (const auto& g : groups) n += static_cast<std::int64_t>(g.outputs.size() * g.inputs.size());
    return n;
}

std::vector<int> Plan::last_use() const {
    std::vector<int> last(wire_depth.size(), -1);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        if (st.kind == Step::Kind::Square)
            for (int w : st.inputs) last[w] = static_cast<int>(i);
        else
            for (const auto& g : st.groups)
                for (int w : g.inputs) last[w] = static_cast<int>(i);
    }
    for (int w : outputs) last[w] = static_cast<int>(steps.size());
    return last;
}

std::string Plan::summary() const {
    std::ostringstream os;
    os << "input " << input_count << " ciphertexts, depth " << depth << ", " << steps.size() << " steps, " << outputs.size() << " outputs\n";
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& st = steps[i];
        os << "  " << i << " " << st.kind_name() << " '" << st.name << "' outputs "
           << st.output_count();
        if (st.kind == Step::Kind::Linear) os << " groups " << st.groups.size() << " macs " << st.macs();
        if (st.lazy_relin) os << " (lazy relin)";
        if (st.relin_outputs) os << " (relinearises outputs)";
        os << "\n";
    }
    return os.str();
}

std::vector<double> run_plaintext(const Plan& plan, std::span<const double> batch, std::size_t samples, std::vector<double>* wire_max_abs) {
    const std::size_t F = static_cast<std::size_t>(plan.input_count);
    if (batch.size() != samples * F) throw std::invalid_argument("run_plaintext: batch is not samples × input features");
    const std::size_t W = static_cast<std::size_t>(plan.wire_count());
    if (wire_max_abs) wire_max_abs->assign(W, 0.0);
    std::vector<double> out(samples * plan.outputs.size());
    std::vector<double> v(W);
    for (std::size_t s = 0; s < samples; ++s) {
        std::fill(v.begin(), v.end(), 0.0);
        std::copy(batch.begin() + s * F, batch.begin() + (s + 1) * F, v.begin());
        for (const Step& st : plan.steps) {
            if (st.kind == Step::Kind::Square) {
                for (std::size_t i = 0; i < st.outputs.size(); ++i) {
                    const auto op = st.operands(i);
                    v[st.outputs[i]] = v[op.front()] * v[op.back()];
                }
                continue;
            }
            for (const auto& g : st.groups) {
                const std::size_t K = g.inputs.size();
                for (std::size_t o = 0; o < g.outputs.size(); ++o) {
                    double acc = g.bias[o];
                    for (std::size_t j = 0; j < K; ++j) acc += g.weights[o * K + j] * v[g.inputs[j]];
                    v[g.outputs[o]] = acc;
                }
            }
        }
        if (wire_max_abs)
            for (std::size_t w = 0; w < W; ++w) (*wire_max_abs)[w] = std::max((*wire_max_abs)[w], std::fabs(v[w]));
        for (std::size_t k = 0; k < plan.outputs.size(); ++k) out[s * plan.outputs.size() + k] = v[plan.outputs[k]];
    }
    return out;
}

}  // namespace hecnn::he
