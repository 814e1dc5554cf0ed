#include "hecnn/he/simulator.h"

#include "hecnn/he/schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace hecnn::he {

namespace {

// Time and counts of one unit (a square or a linear group), mirroring runtime.cpp.
struct Costs {
    Costs(const ckks::Context& ctx, const Rates& rates, int threads) {
        // Work divides evenly over the threads (the runtime parallelises across ciphertexts).
        n_ratio = static_cast<double>(ctx.n()) / std::ldexp(1.0, rates.log_n) * rates.threads / std::max(1, threads);
        ntt_ratio = n_ratio * ctx.log_n() / rates.log_n;
        limbs = rates.limbs;
        // The bench's linear_per_mac is a 27×64 map's time over 27·64 MACs: per-MAC core cost.
        pass_macs = rates.linear_pass_macs;
        mac_core_ms = rates.mac_ms / (1.0 + pass_macs * (27.0 + 64.0) / (27.0 * 64.0));
    }
    double lin(int level, int polys) const { return n_ratio * (level + 1.0) / limbs * polys / 2.0; }
    double ntt(int level) const { return ntt_ratio * (level + 1.0) / limbs; }
    // A linear call: I·O MACs plus a pass over each input and output (Rates::linear_pass_macs
    // MACs each): small maps (a conv's 25×6 groups) cost more per MAC than the bench's
    // 27×64 map, large ones (864×48) less.
    double linear_ms(std::int64_t in, std::int64_t out, int level, int polys) const {
        return mac_core_ms * (static_cast<double>(in * out) + pass_macs * static_cast<double>(in + out)) * lin(level, polys);
    }
    double n_ratio, ntt_ratio, mac_core_ms, pass_macs;
    int limbs;
};

}  // namespace

Prediction simulate(const Plan& plan, const ckks::Context& ctx, const Rates& rates, int input_level, int threads) {
    SimulateOptions o;
    o.input_level = input_level;
    o.exec.threads = threads;
    return simulate(plan, ctx, rates, o);
}

Prediction simulate(const Plan& plan, const ckks::Context& ctx, const Rates& rates, const SimulateOptions& opt) {
    const ExecutionOptions exec = opt.exec.resolved();
    const int top = opt.input_level < 0 ? ctx.max_level() : opt.input_level;
    if (top < plan.depth) throw std::invalid_argument("simulate: inputs at level " + std::to_string(top) + " < plan depth " + std::to_string(plan.depth));
    const std::size_t N = ctx.n();
    const Costs cost(ctx, rates, exec.threads);
    auto q = [&](int l) { return static_cast<double>(ctx.data_moduli()[l].value()); };
    const double delta = ctx.scale();

    Prediction p;
    p.memory_budget = exec.memory;
    const Schedule sch(plan, top, N, exec);
    p.depth_first = sch.depth_first();

    std::vector<std::vector<std::size_t>> units_of(plan.steps.size());  // in schedule order (a producer before its consumers)
    for (std::size_t ui = 0; ui < sch.units().size(); ++ui) units_of[static_cast<std::size_t>(sch.units()[ui].step)].push_back(ui);
    const int W = plan.wire_count();
    std::vector<int> level(W), size(W);
    std::vector<double> scale(W, 0);
    for (int w = 0; w < W; ++w) level[w] = plan.wire_level(w, top), size[w] = plan.wire_size[w];
    for (int w = 0; w < plan.input_count; ++w) {
        scale[w] = delta;
        p.input_bytes += Schedule::bytes(top, 2, N);
        p.input_bytes_seeded += Schedule::bytes(top, 1, N);
    }
    p.input_ciphertexts = static_cast<std::size_t>(plan.input_count);

    p.steps = sch.steps();  // the memory fields; the rest is predicted here
    p.unit_seconds.assign(sch.units().size(), 0.0);
    p.action_seconds.assign(sch.actions().size(), 0.0);
    for (std::size_t si = 0; si < plan.steps.size(); ++si) {
        const Step& st = plan.steps[si];
        StepRecord& sp = p.steps[si];
        sp.kind = st.kind_name();
        sp.name = st.name;
        sp.outputs = st.output_count();
        bool first = true;
        auto produce = [&](int w, double s) {
            scale[w] = s;
            const int l = level[w], sz = size[w];
            if (first) sp.level = l, sp.size = sz, sp.min_scale = sp.max_scale = s, first = false;
            sp.level = std::min(sp.level, l), sp.size = std::max(sp.size, sz);
            sp.min_scale = std::min(sp.min_scale, s), sp.max_scale = std::max(sp.max_scale, s);
        };
        if (st.kind == Step::Kind::Square) {
            for (std::size_t ui : units_of[si]) {
                const auto i = static_cast<std::size_t>(sch.units()[ui].item);
                // A product reads both operands at the lower one's level, its scale is
                // s_x·s_y (the schedule drops the higher one unless another consumer still
                // needs its limbs; then the runtime's copy is a slight underestimate here).
                const auto op = st.operands(i);
                const int x = op.front(), y = op.back(), l = plan.operand_level(st, i, top);
                ++sp.squares;
                if (st.lazy_relin) {  // multiply only: size 3 at l, scale s_x·s_y, NTT form
                    produce(st.outputs[i], scale[x] * scale[y]);
                    p.unit_seconds[ui] = rates.square_ms * cost.ntt(l) * 1e-3;
                } else {
                    produce(st.outputs[i], scale[x] * scale[y] / q(l));
                    ++sp.relins, ++sp.rescales;
                    p.unit_seconds[ui] = rates.square_relin_rescale_ms * cost.ntt(l) * 1e-3;
                }
            }
            continue;
        }
        for (std::size_t ui : units_of[si]) {
            const Unit& un = sch.units()[ui];
            const LinearGroup& g = st.groups[un.item];
            const int l = plan.group_level(g, top);
            const auto O = static_cast<std::int64_t>(g.outputs.size());
            // Classes of the unit's inputs by (level read, size), as runtime.cpp run_group:
            // the schedule has dropped every input to its read level unless another
            // consumer still needs more limbs (then this is a slight underestimate).
            std::vector<std::pair<int, int>> cls;
            std::vector<std::int64_t> cnt;
            for (int w : sch.inputs(un)) {
                const std::pair<int, int> k{plan.read_level(g, w, top), size[w]};
                auto it = std::find(cls.begin(), cls.end(), k);
                if (it == cls.end()) cls.push_back(k), cnt.push_back(1);
                else ++cnt[static_cast<std::size_t>(it - cls.begin())];
            }
            double& seconds = p.unit_seconds[ui];
            for (std::size_t k = 0; k < cls.size(); ++k) {
                sp.macs += cnt[k] * O;
                seconds += cost.linear_ms(cnt[k], O, cls[k].first, cls[k].second) * 1e-3;
            }
            // Per output: adding the partial sums (into a split group's running sums), and
            // at the end relinearisation + rescale of the size-3 sum at l+2 and the final
            // rescale at l+1 (inside the linear call when it is one class of size-2 inputs).
            const auto adds = static_cast<double>(O) * static_cast<double>(cls.size() - (un.split() ? 0 : 1));
            seconds += rates.mac_ms * adds * cost.lin(l + 1, 2) * 1e-3;
            if (!un.last()) continue;
            bool hi = false;
            for (int w : g.inputs) hi = hi || size[w] == 3;
            if (hi) {
                sp.relins += O, sp.rescales += O;
                seconds += static_cast<double>(O) * (rates.relin_ms * cost.ntt(l + 2) + rates.rescale_ms * cost.lin(l + 2, 2)) * 1e-3;
            }
            sp.rescales += O;
            seconds += static_cast<double>(O) * rates.rescale_ms * cost.lin(l + 1, 2) * 1e-3;
            for (int w : g.outputs) produce(w, delta);
        }
    }

    // Memory: the schedule's decisions and their cost, action by action (each wire's level
    // followed through its drops and loads, as the schedule counts its bytes).
    const double ref_bytes = static_cast<double>(Schedule::bytes(rates.limbs - 1, 2, std::size_t{1} << rates.log_n));
    // Spill traffic at the rate of one reference ciphertext (∝ bytes), over the threads.
    auto spill_seconds = [&](int lvl, int w) {
        return rates.spill_ms * static_cast<double>(Schedule::bytes(lvl, size[w], N)) / ref_bytes * 1e-3 / exec.threads * rates.threads;
    };
    std::vector<char> fetched(static_cast<std::size_t>(plan.input_count), exec.lazy_inputs ? 0 : 1);
    std::vector<int> cur = level;
    for (std::size_t ai = 0; ai < sch.actions().size(); ++ai) {
        const Action& a = sch.actions()[ai];
        double& s = p.action_seconds[ai];
        switch (a.kind) {
            case Action::Kind::Drop: s = rates.copy_ms * cost.lin(a.level, size[a.wire]) * 1e-3, cur[a.wire] = a.level; break;
            case Action::Kind::Spill: s = spill_seconds(cur[a.wire], a.wire); break;
            case Action::Kind::Load:
                if (a.wire < plan.input_count && !fetched[static_cast<std::size_t>(a.wire)]) {
                    // A lazy input fetched from the provider: an uploaded seeded ciphertext at
                    // the top level, checksummed, unpacked and expanded.
                    fetched[static_cast<std::size_t>(a.wire)] = 1;
                    s = rates.input_ms * cost.lin(top, 2) * 1e-3;
                } else {
                    s = spill_seconds(a.level, a.wire);
                }
                cur[a.wire] = a.level;
                break;
            case Action::Kind::Free:
            case Action::Kind::Run: break;
        }
    }
    for (std::size_t ai = 0; ai < sch.actions().size(); ++ai) {
        const Action& a = sch.actions()[ai];
        if (a.kind != Action::Kind::Run) {
            p.steps[static_cast<std::size_t>(a.step)].seconds += p.action_seconds[ai], p.seconds += p.action_seconds[ai];
            continue;
        }
        for (std::size_t ui = a.first; ui < a.last; ++ui)
            p.steps[static_cast<std::size_t>(a.step)].seconds += p.unit_seconds[ui], p.seconds += p.unit_seconds[ui];
    }
    for (const StepRecord& sp : p.steps) {
        p.macs += sp.macs, p.squares += sp.squares, p.relins += sp.relins, p.rescales += sp.rescales;
        p.spill_bytes += sp.spill_bytes, p.load_bytes += sp.load_bytes;
    }
    p.peak_bytes = sch.peak_bytes();
    p.max_spilled_bytes = sch.max_spilled_bytes();
    // Fresh pages: the peak beyond what the process held before (inputs handed over are
    // already touched; their pages are reused once they are freed).
    auto first_touch = [&](std::size_t warm) {
        warm = std::max(warm, sch.initial_bytes());
        return warm >= p.peak_bytes ? 0.0 : rates.first_touch_ms_per_gib * 1e-3 * static_cast<double>(p.peak_bytes - warm) / std::ldexp(1.0, 30);
    };
    p.first_touch_seconds = first_touch(opt.warm_bytes);
    p.cold_first_touch_seconds = first_touch(0);
    p.seconds += p.first_touch_seconds;
    p.output_ciphertexts = plan.outputs.size();
    for (int w : plan.outputs) p.output_bytes += Schedule::bytes(level[w], size[w], N);
    return p;
}

}  // namespace hecnn::he
