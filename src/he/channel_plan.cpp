// The channel-wise layout of a plan and the diagonals of its linear steps (channel_plan.h).
#include "hecnn/he/channel_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace hecnn::he {
namespace {

int mod(long long a, long long n) {
    a %= n;
    return static_cast<int>(a < 0 ? a + n : a);
}

std::size_t pow2_at_least(std::size_t x) {
    std::size_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

// One output of a linear step: where it goes and what it reads.
struct Row {
    int wire = -1;
    std::vector<std::pair<SlotRef, double>> terms;
    double bias = 0;
};

// Relative costs of the choices below, in key switches: a hoisted rotation skips the
// decomposition and ModUp (about half of one), a mask product is a few element-wise
// passes. Only the ranking of the candidates depends on them.
constexpr double kHoisted = 0.5, kMask = 0.05;

// Output slots of a linear step's rows (see channel_plan.h): conv-like anchor layout when it
// fits in one ciphertext without collisions, else consecutive slots. Returns the position
// ct_index·slots + slot of each row, ct_index counted from 0 for this step.
std::vector<long long> place_rows(const Step& st, const std::vector<Row>& rows, std::size_t slots) {
    std::vector<long long> pos(rows.size());
    if (st.groups.size() > 1) {
        std::vector<long long> anchor(st.groups.size(), std::numeric_limits<long long>::max());
        std::vector<int> m_of(rows.size());
        std::size_t r = 0, widest = 0;
        for (std::size_t g = 0; g < st.groups.size(); ++g) {
            widest = std::max(widest, st.groups[g].outputs.size());
            for (std::size_t m = 0; m < st.groups[g].outputs.size(); ++m, ++r) {
                for (const auto& [ref, w] : rows[r].terms) anchor[g] = std::min<long long>(anchor[g], ref.slot);
                m_of[r] = static_cast<int>(m);
            }
        }
        long long lo = std::numeric_limits<long long>::max(), hi = 0;
        for (long long a : anchor)
            if (a != std::numeric_limits<long long>::max()) lo = std::min(lo, a), hi = std::max(hi, a);
        if (lo <= hi) {
            const auto block = static_cast<long long>(pow2_at_least(static_cast<std::size_t>(hi - lo + 1)));
            bool ok = hi + static_cast<long long>(widest - 1) * block < static_cast<long long>(slots);
            std::vector<char> taken(ok ? slots : 0, 0);
            r = 0;
            for (std::size_t g = 0; ok && g < st.groups.size(); ++g)
                for (std::size_t m = 0; m < st.groups[g].outputs.size(); ++m, ++r) {
                    const long long p = (anchor[g] == std::numeric_limits<long long>::max() ? lo : anchor[g]) + m_of[r] * block;
                    if (taken[static_cast<std::size_t>(p)]) {
                        ok = false;
                        break;
                    }
                    taken[static_cast<std::size_t>(p)] = 1;
                    pos[r] = p;
                }
            if (ok) return pos;
        }
    }
    for (std::size_t r = 0; r < rows.size(); ++r) pos[r] = static_cast<long long>(r);
    return pos;
}

// Terms of one output ciphertext, by input ciphertext: (output slot, input slot, coefficient).
using Terms = std::map<int, std::vector<std::tuple<int, int, double>>>;

// Diagonal index of each term: d = in − out (diagonal method) or (in − out) mod P (hybrid),
// and the slot s at which the mask holds the coefficient (out, or in − d for the hybrid).
struct Placed {
    int d, s;
    double coef;
};

std::vector<Placed> place_terms(const std::vector<std::tuple<int, int, double>>& terms, std::size_t slots, int period) {
    std::vector<Placed> out;
    out.reserve(terms.size());
    const auto n = static_cast<long long>(slots);
    for (const auto& [o, i, c] : terms) {
        if (period == 0) out.push_back({mod(i - o, n), o, c});
        else {
            const int d = mod(i - o, period);
            out.push_back({d, mod(i - d, n), c});
        }
    }
    return out;
}

// Rotations of one output ciphertext for giant step G over the per-input diagonal sets.
double cost(const std::vector<std::set<int>>& diags, int giant, std::size_t slots, int period) {
    std::set<int> giants;
    double c = 0;
    for (const auto& ds : diags) {
        std::set<int> babies;
        for (int d : ds) babies.insert(d % giant), giants.insert(d - d % giant);
        c += kHoisted * static_cast<double>(babies.size() - (babies.count(0) ? 1 : 0)) + kMask * static_cast<double>(ds.size());
    }
    c += static_cast<double>(giants.size() - (giants.count(0) ? 1 : 0));
    if (period > 0) c += std::log2(static_cast<double>(slots) / period);
    return c;
}

ChannelLinear make_linear(int out_ct, const Terms& terms, const std::vector<int>& out_slots, std::size_t slots) {
    // The hybrid method needs the outputs distinct modulo its period.
    int period = 0;
    for (std::size_t p = pow2_at_least(out_slots.size()); p < slots; p <<= 1) {
        std::set<int> res;
        for (int s : out_slots) res.insert(s % static_cast<int>(p));
        if (res.size() == out_slots.size()) {
            period = static_cast<int>(p);
            break;
        }
    }
    double best = std::numeric_limits<double>::infinity();
    int best_giant = 0, best_period = 0;
    std::vector<int> methods{0};
    if (period > 0) methods.push_back(period);
    for (int method_period : methods) {
        std::vector<std::set<int>> diags;
        for (const auto& [in, ts] : terms) {
            std::set<int> ds;
            for (const Placed& p : place_terms(ts, slots, method_period)) ds.insert(p.d);
            diags.push_back(std::move(ds));
        }
        for (std::size_t g = 1; g <= slots; g <<= 1) {
            const double c = cost(diags, static_cast<int>(g), slots, method_period);
            if (c < best) best = c, best_giant = static_cast<int>(g), best_period = method_period;
        }
    }
    ChannelLinear L;
    L.output = out_ct;
    L.giant_step = best_giant;
    L.period = best_period;
    for (std::size_t f = static_cast<std::size_t>(best_period); best_period > 0 && f < slots; f <<= 1) L.folds.push_back(static_cast<int>(f));
    for (const auto& [in, ts] : terms) {
        std::map<std::pair<int, int>, std::map<int, double>> by_diag;  // (q·G, r) → slot → coef
        for (const Placed& p : place_terms(ts, slots, best_period)) {
            const int r = p.d % best_giant, q = p.d - r;
            by_diag[{q, r}][mod(static_cast<long long>(p.s) + q, static_cast<long long>(slots))] += p.coef;
        }
        DiagonalBlock b;
        b.input = in;
        for (auto& [qr, entries] : by_diag) {
            DiagonalBlock::Diagonal dg;
            dg.giant = qr.first;
            dg.baby = qr.second;
            for (const auto& [s, c] : entries)
                if (c != 0) dg.entries.emplace_back(s, c);
            if (!dg.entries.empty()) b.diagonals.push_back(std::move(dg));
        }
        if (!b.diagonals.empty()) L.blocks.push_back(std::move(b));
    }
    return L;
}

}  // namespace

std::vector<int> DiagonalBlock::babies() const {
    std::set<int> s;
    for (const auto& d : diagonals) s.insert(d.baby);
    return {s.begin(), s.end()};
}

std::vector<int> ChannelLinear::giants() const {
    std::set<int> s;
    for (const auto& b : blocks)
        for (const auto& d : b.diagonals) s.insert(d.giant);
    return {s.begin(), s.end()};
}

std::vector<int> ChannelPlan::rotation_steps() const {
    std::set<int> s;
    for (const auto& st : steps)
        for (const auto& L : st.linear) {
            for (const auto& b : L.blocks)
                for (int r : b.babies()) s.insert(r);
            for (int q : L.giants()) s.insert(q);
            s.insert(L.folds.begin(), L.folds.end());
        }
    s.erase(0);
    return {s.begin(), s.end()};
}

std::pair<std::size_t, std::size_t> ChannelPlan::rotation_counts() const {
    std::size_t hoisted = 0, single = 0;
    for (const auto& st : steps)
        for (const auto& L : st.linear) {
            for (const auto& b : L.blocks) {
                const auto r = b.babies();
                hoisted += r.size() - (std::count(r.begin(), r.end(), 0) ? 1 : 0);
            }
            const auto q = L.giants();
            single += q.size() - (std::count(q.begin(), q.end(), 0) ? 1 : 0) + L.folds.size();
        }
    return {hoisted, single};
}

std::size_t ChannelPlan::masks() const {
    std::size_t m = 0;
    for (const auto& st : steps)
        for (const auto& L : st.linear)
            for (const auto& b : L.blocks) m += b.diagonals.size();
    return m;
}

std::vector<int> ChannelPlan::last_use() const {
    std::vector<int> last(static_cast<std::size_t>(ct_count()), -1);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        for (const auto& L : steps[i].linear)
            for (const auto& b : L.blocks) last[b.input] = static_cast<int>(i);
        for (const auto& [x, y] : steps[i].operands) last[x] = last[y] = static_cast<int>(i);
    }
    for (int c : output_cts) last[c] = static_cast<int>(steps.size());
    return last;
}

std::string ChannelPlan::summary() const {
    std::ostringstream o;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const ChannelStep& st = steps[i];
        o << i << ' ';
        if (st.kind == Step::Kind::Square) {
            o << "square    " << st.outputs.size() << " ciphertext(s)\n";
            continue;
        }
        for (const auto& L : st.linear) {
            std::size_t masks = 0, babies = 0;
            for (const auto& b : L.blocks) {
                masks += b.diagonals.size();
                const auto r = b.babies();
                babies += r.size() - (std::count(r.begin(), r.end(), 0) ? 1 : 0);
            }
            const auto q = L.giants();
            o << "linear    ct " << L.output << " (depth " << ct_depth[L.output] << "): " << L.blocks.size() << " input ct, " << masks
              << " masks, " << (L.period ? "hybrid P=" + std::to_string(L.period) + ", " : std::string("diagonal, ")) << "G=" << L.giant_step
              << ": " << babies << " hoisted + " << q.size() - (std::count(q.begin(), q.end(), 0) ? 1 : 0) + L.folds.size()
              << " rotations\n";
        }
    }
    return o.str();
}

ChannelPlan make_channel_plan(const Plan& plan, std::size_t slots) {
    if (slots == 0 || (slots & (slots - 1)) != 0) throw std::invalid_argument("make_channel_plan: slots must be a power of two");
    for (int s : plan.wire_size)
        if (s != 2) throw std::invalid_argument("make_channel_plan: the plan has lazy squares (compile with lazy_relin = false)");
    ChannelPlan cp;
    cp.slots = slots;
    cp.inputs = plan.input_count;
    const auto n = static_cast<long long>(slots);
    cp.wire.assign(static_cast<std::size_t>(plan.wire_count()), {});
    cp.input_cts = static_cast<int>((plan.input_count + n - 1) / n);
    cp.ct_depth.assign(static_cast<std::size_t>(cp.input_cts), 0);
    for (int i = 0; i < plan.input_count; ++i) cp.wire[i] = {static_cast<int>(i / n), static_cast<int>(i % n)};
    for (std::size_t si = 0; si < plan.steps.size(); ++si) {
        const Step& st = plan.steps[si];
        ChannelStep cs;
        cs.plan_step = static_cast<int>(si);
        cs.kind = st.kind;
        if (st.kind == Step::Kind::Square) {
            if (st.arity != 1)
                throw std::invalid_argument("make_channel_plan: step " + std::to_string(si) + " '" + st.name +
                                            "' multiplies two different values: not supported by channel packing yet");
            std::map<int, int> out_of;  // input ct → output ct
            for (std::size_t i = 0; i < st.outputs.size(); ++i) {
                const SlotRef x = cp.wire.at(static_cast<std::size_t>(st.inputs[i]));
                auto [it, fresh] = out_of.emplace(x.ct, cp.ct_count());
                if (fresh) {
                    cp.ct_depth.push_back(cp.ct_depth[x.ct] + 1);
                    cs.operands.emplace_back(x.ct, x.ct);
                    cs.outputs.push_back(it->second);
                }
                cp.wire[st.outputs[i]] = {it->second, x.slot};
            }
            cp.steps.push_back(std::move(cs));
            continue;
        }
        std::vector<Row> rows;
        for (const LinearGroup& g : st.groups)
            for (std::size_t o = 0; o < g.outputs.size(); ++o) {
                Row r;
                r.wire = g.outputs[o];
                r.bias = g.bias[o];
                for (std::size_t j = 0; j < g.inputs.size(); ++j) {
                    const double w = g.weights[o * g.inputs.size() + j];
                    if (w != 0) r.terms.emplace_back(cp.wire.at(static_cast<std::size_t>(g.inputs[j])), w);
                }
                rows.push_back(std::move(r));
            }
        const std::vector<long long> pos = place_rows(st, rows, slots);
        long long last = 0;
        for (long long p : pos) last = std::max(last, p);
        const int first_ct = cp.ct_count(), cts = static_cast<int>(last / n + 1);
        std::vector<Terms> terms(static_cast<std::size_t>(cts));
        std::vector<std::vector<int>> out_slots(static_cast<std::size_t>(cts));
        std::vector<std::vector<std::pair<int, double>>> bias(static_cast<std::size_t>(cts));
        std::vector<int> depth(static_cast<std::size_t>(cts), 0);
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const int c = static_cast<int>(pos[r] / n), s = static_cast<int>(pos[r] % n);
            cp.wire[rows[r].wire] = {first_ct + c, s};
            out_slots[c].push_back(s);
            if (rows[r].bias != 0) bias[c].emplace_back(s, rows[r].bias);
            for (const auto& [ref, w] : rows[r].terms) {
                terms[c][ref.ct].emplace_back(s, ref.slot, w);
                depth[c] = std::max(depth[c], cp.ct_depth[ref.ct] + 1);
            }
        }
        for (int c = 0; c < cts; ++c) {
            cp.ct_depth.push_back(std::max(depth[c], 1));
            ChannelLinear L = make_linear(first_ct + c, terms[c], out_slots[c], slots);
            std::sort(bias[c].begin(), bias[c].end());
            L.bias = std::move(bias[c]);
            cs.linear.push_back(std::move(L));
        }
        cp.steps.push_back(std::move(cs));
    }
    std::set<int> seen;
    for (int w : plan.outputs) {
        const SlotRef r = cp.wire.at(static_cast<std::size_t>(w));
        if (r.ct < 0) throw std::invalid_argument("make_channel_plan: output wire " + std::to_string(w) + " is never made");
        cp.outputs.push_back(r);
        if (seen.insert(r.ct).second) cp.output_cts.push_back(r.ct);
    }
    for (int d : cp.ct_depth) cp.depth = std::max(cp.depth, d);
    return cp;
}

}  // namespace hecnn::he
