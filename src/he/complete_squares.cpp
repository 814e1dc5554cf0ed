#include "complete_squares.h"

#include "wire_readers.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace hecnn::he::detail {
namespace {

using Read = WireReaders::Read;

// The common ratio r of x's weight to q's over every row reading them, or NaN when there
// is none (a row weighs them differently, or reads x without q).
double common_ratio(const Plan& plan, const std::vector<Read>& q_reads, const std::vector<Read>& x_reads, int x) {
    double r = 0, best = 0;
    std::vector<std::pair<const Read*, std::size_t>> rows;  // (q's read, x's column or SIZE_MAX)
    for (const Read& rq : q_reads) {
        const LinearGroup& g = plan.steps[rq.step].groups[rq.group];
        auto it = std::lower_bound(g.inputs.begin(), g.inputs.end(), x);
        const std::size_t xc = it != g.inputs.end() && *it == x ? static_cast<std::size_t>(it - g.inputs.begin()) : SIZE_MAX;
        rows.emplace_back(&rq, xc);
        for (std::size_t o = 0; o < g.outputs.size(); ++o) {
            const double a = g.weights[o * g.inputs.size() + rq.column];
            if (std::fabs(a) > best) best = std::fabs(a), r = xc == SIZE_MAX ? 0.0 : g.weights[o * g.inputs.size() + xc] / a;
        }
    }
    if (best == 0) return NAN;
    std::size_t with_x = 0;
    for (const auto& [rq, xc] : rows) {
        const LinearGroup& g = plan.steps[rq->step].groups[rq->group];
        with_x += xc != SIZE_MAX;
        for (std::size_t o = 0; o < g.outputs.size(); ++o) {
            const double a = g.weights[o * g.inputs.size() + rq->column];
            const double b = xc == SIZE_MAX ? 0.0 : g.weights[o * g.inputs.size() + xc];
            if (std::fabs(b - r * a) > 1e-9 * (std::fabs(b) + std::fabs(r * a)) + 1e-300) return NAN;
        }
    }
    if (with_x != x_reads.size()) return NAN;  // a group reads x without q
    return r;
}

}  // namespace

std::size_t complete_squares(Plan& plan, double max_shift) {
    const WireReaders index(plan);
    const auto& reads = index.linear;
    const auto& square_reads = index.square_reads;
    const auto& made = index.made;
    const auto& is_output = index.is_output;
    // Columns to remove per group (decided on the original weights: the pairs' columns are disjoint).
    std::vector<std::vector<std::vector<char>>> drop(plan.steps.size());
    std::size_t completed = 0;
    for (Step& st : plan.steps) {
        if (st.kind != Step::Kind::Square || st.arity != 1) continue;
        for (std::size_t i = 0; i < st.outputs.size(); ++i) {
            const auto x = static_cast<std::size_t>(st.inputs[i]), q = static_cast<std::size_t>(st.outputs[i]);
            if (made[x].step < 0 || is_output[x] || is_output[q] || square_reads[x] != 1 || square_reads[q] != 0 || reads[q].empty()) continue;
            const double r = common_ratio(plan, reads[q], reads[x], static_cast<int>(x));
            if (!std::isfinite(r) || r == 0 || std::fabs(r) / 2 > max_shift) continue;
            // x ← x + r/2 where it is made; each reader: α·q + β·x + c → α·q' + (c − α·r²/4).
            const WireReaders::Made& p = made[x];
            plan.steps[p.step].groups[p.group].bias[p.row] += r / 2;
            for (const Read& rq : reads[q]) {
                LinearGroup& g = plan.steps[rq.step].groups[rq.group];
                for (std::size_t o = 0; o < g.outputs.size(); ++o) g.bias[o] -= g.weights[o * g.inputs.size() + rq.column] * r * r / 4;
            }
            for (const Read& rx : reads[x]) {
                auto& d = drop[static_cast<std::size_t>(rx.step)];
                if (d.empty()) d.resize(plan.steps[rx.step].groups.size());
                auto& cols = d[rx.group];
                if (cols.empty()) cols.assign(plan.steps[rx.step].groups[rx.group].inputs.size(), 0);
                cols[rx.column] = 1;
            }
            ++completed;
        }
    }
    for (std::size_t s = 0; s < plan.steps.size(); ++s)
        for (std::size_t gi = 0; gi < drop[s].size(); ++gi) {
            const auto& cols = drop[s][gi];
            if (cols.empty()) continue;
            LinearGroup& g = plan.steps[s].groups[gi];
            const std::size_t n = g.inputs.size();
            std::vector<int> inputs;
            std::vector<double> weights;
            for (std::size_t j = 0; j < n; ++j)
                if (!cols[j]) inputs.push_back(g.inputs[j]);
            for (std::size_t o = 0; o < g.outputs.size(); ++o)
                for (std::size_t j = 0; j < n; ++j)
                    if (!cols[j]) weights.push_back(g.weights[o * n + j]);
            g.inputs = std::move(inputs), g.weights = std::move(weights);
        }
    return completed;
}

}  // namespace hecnn::he::detail
