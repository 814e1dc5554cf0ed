#include "hecnn/he/recompute.h"

#include <algorithm>
#include <vector>

#include "wire_readers.h"

namespace hecnn::he {
using detail::WireReaders;

RecomputedPlan recompute_first_layer(const Plan& plan) {
    RecomputedPlan out{plan, 0};
    Plan& p = out.plan;
    const WireReaders index(p);  // of the plan as compiled: copies are appended, never revisited
    const auto& made = index.made;
    const auto& readers = index.linear;
    const auto& square_reads = index.square_reads;
    const auto& is_output = index.is_output;
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> dead_row(p.steps.size());  // (group, row) per step
    std::vector<std::vector<std::size_t>> dead_square(p.steps.size());                        // output index per step
    auto reads_inputs_only = [&](const LinearGroup& g) {
        return std::all_of(g.inputs.begin(), g.inputs.end(), [&](int w) { return w < p.input_count; });
    };
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        if (p.steps[s].kind != Step::Kind::Square || p.steps[s].arity != 1) continue;
        const std::size_t count = p.steps[s].outputs.size();  // (copies are appended: not revisited)
        for (std::size_t i = 0; i < count; ++i) {
            const int x = p.steps[s].inputs[i], q = p.steps[s].outputs[i];
            const auto xs = static_cast<std::size_t>(x), qs = static_cast<std::size_t>(q);
            if (made[xs].step < 0 || is_output[xs] || is_output[qs] || square_reads[xs] != 1 || square_reads[qs] != 0) continue;
            const WireReaders::Made src = made[xs];
            if (!reads_inputs_only(p.steps[src.step].groups[src.group])) continue;
            const auto& qr = readers[qs];
            if (qr.empty() || (qr.size() == 1 && p.steps[src.step].groups[src.group].outputs.size() == 1)) continue;  // private already
            // Every group reading x (its b·x term) also reads q: the copy serves both.
            const bool x_with_q = std::all_of(readers[xs].begin(), readers[xs].end(),
                                              [&](const auto& r) {
                                                  return std::any_of(qr.begin(), qr.end(), [&](const auto& c) { return c.step == r.step && c.group == r.group; });
                                              });
            if (!x_with_q) continue;
            for (const auto& reader : qr) {
                const auto cs = static_cast<std::size_t>(reader.step), cg = reader.group;
                // x' = the same row of the same group, a group of its own; q' = x'².
                const LinearGroup& g0 = p.steps[src.step].groups[src.group];
                LinearGroup copy;
                copy.inputs = g0.inputs;
                copy.weights.assign(g0.weights.begin() + static_cast<std::ptrdiff_t>(src.row * g0.inputs.size()),
                                    g0.weights.begin() + static_cast<std::ptrdiff_t>((src.row + 1) * g0.inputs.size()));
                copy.bias = {g0.bias[src.row]};
                const int x2 = p.wire_count();
                p.wire_depth.push_back(p.wire_depth[xs]), p.wire_size.push_back(p.wire_size[xs]), p.wire_step.push_back(src.step);
                const int q2 = p.wire_count();
                p.wire_depth.push_back(p.wire_depth[qs]), p.wire_size.push_back(p.wire_size[qs]), p.wire_step.push_back(static_cast<int>(s));
                copy.outputs = {x2};
                p.steps[src.step].groups.push_back(std::move(copy));
                p.steps[s].inputs.push_back(x2);
                p.steps[s].outputs.push_back(q2);
                for (int& w : p.steps[cs].groups[cg].inputs) w = w == q ? q2 : w == x ? x2 : w;  // in place: the weights' columns stay
            }
            // The original x and q are made no more (their wire ids stay, never produced or read).
            dead_row[src.step].emplace_back(src.group, src.row);
            dead_square[s].push_back(i);
            ++out.copies;
        }
    }
    // Remove the originals: rows of their groups (groups left empty go), outputs of their squares.
    for (std::size_t s = 0; s < p.steps.size(); ++s) {
        Step& st = p.steps[s];
        if (!dead_square[s].empty()) {
            std::vector<char> dead(st.outputs.size(), 0);
            for (auto i : dead_square[s]) dead[i] = 1;
            std::vector<int> in, outw;
            for (std::size_t i = 0; i < st.outputs.size(); ++i)
                if (!dead[i]) in.push_back(st.inputs[i]), outw.push_back(st.outputs[i]);
            st.inputs = std::move(in), st.outputs = std::move(outw);
        }
        if (dead_row[s].empty()) continue;
        std::vector<std::vector<char>> dead(st.groups.size());
        for (const auto& [g, r] : dead_row[s]) {
            if (dead[g].empty()) dead[g].assign(st.groups[g].outputs.size(), 0);
            dead[g][r] = 1;
        }
        std::vector<LinearGroup> kept;
        for (std::size_t g = 0; g < st.groups.size(); ++g) {
            LinearGroup& lg = st.groups[g];
            if (!dead[g].empty()) {
                const std::size_t n = lg.inputs.size();
                LinearGroup c;
                c.inputs = lg.inputs;
                for (std::size_t o = 0; o < lg.outputs.size(); ++o) {
                    if (dead[g][o]) continue;
                    c.outputs.push_back(lg.outputs[o]), c.bias.push_back(lg.bias[o]);
                    c.weights.insert(c.weights.end(), lg.weights.begin() + static_cast<std::ptrdiff_t>(o * n), lg.weights.begin() + static_cast<std::ptrdiff_t>((o + 1) * n));
                }
                lg = std::move(c);
            }
            if (!lg.outputs.empty()) kept.push_back(std::move(lg));
        }
        st.groups = std::move(kept);
    }
    return out;
}

ExecutionPlan choose_execution_plan(const Plan& plan, const ckks::Context& ctx, const Rates& rates, const SimulateOptions& so) {
    ExecutionPlan out{plan, false, simulate(plan, ctx, rates, so)};
    if (out.prediction.spill_bytes == 0) return out;
    auto r = recompute_first_layer(plan);
    if (r.copies == 0) return out;
    auto pred = simulate(r.plan, ctx, rates, so);
    if (pred.seconds >= out.prediction.seconds) return out;
    out.plan = std::move(r.plan), out.recomputed = true, out.prediction = std::move(pred);
    return out;
}

}  // namespace hecnn::he
