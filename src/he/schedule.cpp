#include "hecnn/he/schedule.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>

namespace hecnn::he {
namespace {

constexpr std::size_t kNever = std::numeric_limits<std::size_t>::max();

// Consumers of every wire in unit order (CSR), with the level each reads the wire at and
// the suffix maximum of those levels (the level a wire must keep from a use on).
struct Uses {
    std::vector<std::size_t> begin;  // per wire, into unit/level; begin[w+1] = end
    std::vector<std::size_t> unit;
    std::vector<int> max_level;      // max read level over uses [k, end of w)
};

// The memory state while the program is built.
class Builder {
public:
    Builder(const Plan& plan, const Schedule& sch, int top, std::size_t n, const ExecutionOptions& opt,
            std::vector<Action>& actions, std::vector<StepRecord>& steps)
        : plan_(plan), sch_(sch), top_(top), n_(n), opt_(opt), limit_(opt.memory.bytes()), actions_(actions), steps_(steps) {}

    std::size_t run(std::size_t& initial) {
        build_uses();
        const int W = plan_.wire_count();
        cur_.resize(W);
        state_.assign(W, kAbsent);
        next_.resize(W);
        pin_.assign(W, kNever);
        for (int w = 0; w < W; ++w) cur_[w] = plan_.wire_level(w, top_), next_[w] = uses_.begin[w];
        step_ = 0;
        for (int w = 0; w < plan_.input_count; ++w) {
            if (!has_use(w)) {
                if (!opt_.lazy_inputs) emit(Action::Kind::Free, w);  // handed over, never read
                state_[w] = kDead;
                continue;
            }
            if (opt_.lazy_inputs) {
                state_[w] = kExternal;
                continue;
            }
            hold(w);
            drop_if_possible(w);
        }
        initial = held_;
        peak_ = held_;
        if (budget_exceeded(0)) make_room(held_ - limit_, 0);

        const auto& units = sch_.units();
        std::size_t u = 0;
        while (u < units.size()) {
            const std::size_t first = u;
            step_ = units[u].step;
            reserved_ = 0;
            ++wave_;
            while (u < units.size() && units[u].step == step_ && u - first < opt_.wave_units) {
                if (!admit(u, u > first)) break;
                if (units[u++].split()) break;
            }
            close_wave(first, u);
        }
        // The plan outputs come back into memory at the end.
        for (int w : plan_.outputs)
            if (state_[w] == kSpilled) load(w);
        record_step();
        return std::max(peak_, held_);
    }

    std::size_t max_spilled() const { return max_spilled_; }

private:
    enum State : std::uint8_t { kAbsent, kHeld, kSpilled, kExternal, kDead };

    void build_uses() {
        const int W = plan_.wire_count();
        const auto& units = sch_.units();
        std::vector<std::size_t> count(static_cast<std::size_t>(W) + 1, 0);
        for (const auto& un : units)
            for (int w : sch_.inputs(un)) ++count[static_cast<std::size_t>(w)];
        for (int w : plan_.outputs) ++count[static_cast<std::size_t>(w)];
        uses_.begin.assign(static_cast<std::size_t>(W) + 1, 0);
        for (int w = 0; w < W; ++w) uses_.begin[w + 1] = uses_.begin[w] + count[w];
        uses_.unit.resize(uses_.begin[W]);
        uses_.max_level.resize(uses_.begin[W]);
        std::vector<std::size_t> fill(uses_.begin.begin(), uses_.begin.end() - 1);
        for (std::size_t i = 0; i < units.size(); ++i) {
            const Unit& un = units[i];
            const Step& st = plan_.steps[un.step];
            for (int w : sch_.inputs(un)) {
                // A square or product reads its operands one level above its output; a group
                // one or two levels above its outputs.
                const int lvl = st.kind == Step::Kind::Square ? plan_.operand_level(st, static_cast<std::size_t>(un.item), top_)
                                                              : plan_.read_level(st.groups[un.item], w, top_);
                uses_.unit[fill[w]] = i, uses_.max_level[fill[w]] = lvl, ++fill[w];
            }
        }
        // Outputs are returned at the level they are made at; their use comes after every unit.
        for (int w : plan_.outputs) {
            auto& k = fill[static_cast<std::size_t>(w)];
            uses_.unit[k] = units.size(), uses_.max_level[k] = plan_.wire_level(w, top_), ++k;
        }
        for (int w = 0; w < W; ++w)
            for (std::size_t k = uses_.begin[w + 1]; k-- > uses_.begin[w] + 1;)
                uses_.max_level[k - 1] = std::max(uses_.max_level[k - 1], uses_.max_level[k]);
    }

    bool has_use(int w) const { return next_[w] < uses_.begin[w + 1]; }
    std::size_t next_unit(int w) const { return has_use(w) ? uses_.unit[next_[w]] : kNever; }
    std::size_t size_of(int w) const { return Schedule::bytes(cur_[w], plan_.wire_size[w], n_); }
    StepRecord& sm() { return steps_.empty() ? scratch_ : steps_[static_cast<std::size_t>(step_)]; }

    void emit(Action::Kind k, int w, int level = -1) {
        Action a;
        a.kind = k, a.step = step_, a.wire = w, a.level = level;
        actions_.push_back(a);
    }
    void hold(int w) {
        state_[w] = kHeld;
        held_ += size_of(w);
        ++held_count_;
        by_next_.emplace(next_unit(w), w);
    }
    void release(int w) {
        by_next_.erase({next_unit(w), w});
        held_ -= size_of(w);
        --held_count_;
    }
    // Keep only the limbs that the remaining consumers read.
    void drop_if_possible(int w) {
        const int need = uses_.max_level[next_[w]];
        if (need >= cur_[w]) return;
        by_next_.erase({next_unit(w), w});
        const std::size_t before = size_of(w);
        cur_[w] = need;
        held_ -= before - size_of(w);
        by_next_.emplace(next_unit(w), w);
        emit(Action::Kind::Drop, w, need);
        ++sm().drops, sm().drop_bytes += size_of(w);
    }
    // A lazy input keeps only the limbs its consumers read from the moment it is fetched
    // (the runtime drops it as part of the load); a spilled wire comes back as it went.
    int load_level(int w) const { return state_[w] == kExternal ? std::min(cur_[w], uses_.max_level[next_[w]]) : cur_[w]; }
    void load(int w) {
        const bool external = state_[w] == kExternal;
        cur_[w] = load_level(w);
        emit(Action::Kind::Load, w, cur_[w]);
        if (external) {
            ++sm().input_loads, sm().input_load_bytes += size_of(w);
        } else {
            --spilled_count_, spilled_bytes_ -= size_of(w);
            ++sm().loads, sm().load_bytes += size_of(w);
        }
        hold(w);
        sm().peak_bytes = std::max(sm().peak_bytes, held_);  // (the outputs loaded at the end)
        peak_ = std::max(peak_, held_);
    }

    bool budget_exceeded(std::size_t extra) const { return held_ + reserved_ + extra > limit_; }  // limit_ SIZE_MAX: unlimited

    // Spill held wires whose next use is after unit u, farthest first, until `excess`
    // bytes are gone. The caller has checked that enough of them exist.
    void make_room(std::size_t excess, std::size_t u) {
        std::size_t freed = 0;
        while (freed < excess && !by_next_.empty()) {
            const auto [nu, w] = *by_next_.rbegin();
            if (nu <= u) break;  // read by the wave being formed: stays
            const std::size_t b = size_of(w);
            release(w);
            state_[w] = kSpilled;
            ++spilled_count_;
            spilled_bytes_ += b, max_spilled_ = std::max(max_spilled_, spilled_bytes_);
            emit(Action::Kind::Spill, w);
            ++sm().spills, sm().spill_bytes += b;
            freed += b;
        }
    }

    // Adds unit u to the wave if its inputs and outputs fit (spilling others if needed);
    // false if the wave must be closed first (only when `can_defer`).
    // Bytes a unit creates: its outputs; for a split group's first part its accumulators.
    std::size_t made_by(const Unit& un) const {
        if (un.split() && un.part == 0) return sch_.accumulator_bytes(plan_.steps[un.step].groups[un.item]);
        std::size_t b = 0;
        for (int w : sch_.outputs(un)) b += Schedule::bytes(plan_.wire_level(w, top_), plan_.wire_size[w], n_);
        return b;
    }

    bool admit(std::size_t u, bool can_defer) {
        const Unit& un = sch_.units()[u];
        if (un.split() && can_defer) return false;  // a split group's part runs alone
        std::size_t need = made_by(un), pinned_new = 0;
        for (int w : sch_.inputs(un)) {
            if (state_[w] == kHeld) {
                if (pin_[w] != wave_) pinned_new += size_of(w);
            } else {
                need += Schedule::bytes(load_level(w), plan_.wire_size[w], n_);
            }
        }
        if (budget_exceeded(need)) {
            const std::size_t keep = fixed_ + pinned_ + pinned_new + reserved_ + need;  // cannot be spilled
            if (keep > limit_) {
                if (can_defer) return false;
                throw std::runtime_error("memory budget of " + opt_.memory.describe() + " (" + std::to_string(limit_) + " bytes) is too small: step " +
                                         std::to_string(un.step) + " (" + plan_.steps[un.step].name + ") needs " +
                                         std::to_string(keep) + " bytes for one unit's inputs and outputs");
            }
            make_room(held_ + reserved_ + need - limit_, u);
        }
        for (int w : sch_.inputs(un)) {
            if (state_[w] != kHeld) load(w);
            if (pin_[w] != wave_) pin_[w] = wave_, pinned_ += size_of(w);
        }
        reserved_ += made_by(un);
        return true;
    }

    void close_wave(std::size_t first, std::size_t last) {
        Action a;
        a.kind = Action::Kind::Run, a.step = step_, a.first = first, a.last = last;
        actions_.push_back(a);
        sm().peak_bytes = std::max(sm().peak_bytes, held_ + reserved_);
        peak_ = std::max(peak_, held_ + reserved_);
        reserved_ = 0;
        pinned_ = 0;
        // A split group's accumulators: made by its first part, consumed by its last.
        if (const Unit& un = sch_.units()[first]; un.split()) {
            const std::size_t acc = sch_.accumulator_bytes(plan_.steps[un.step].groups[un.item]);
            if (un.part == 0) held_ += acc, fixed_ += acc;
            if (un.last()) held_ -= acc, fixed_ -= acc;
        }
        // Inputs: past this wave's uses; freed or dropped.
        for (std::size_t u = first; u < last; ++u)
            for (int w : sch_.inputs(sch_.units()[u])) {
                if (pin_[w] != wave_) continue;  // already handled (read by two units of the wave)
                pin_[w] = kNever;
                by_next_.erase({next_unit(w), w});
                while (has_use(w) && uses_.unit[next_[w]] < last) ++next_[w];
                by_next_.emplace(next_unit(w), w);
                if (!has_use(w)) {
                    release(w);
                    state_[w] = kDead;
                    emit(Action::Kind::Free, w);
                } else {
                    drop_if_possible(w);
                }
            }
        for (std::size_t u = first; u < last; ++u)
            for (int w : sch_.outputs(sch_.units()[u])) {
                hold(w);
                if (!has_use(w)) {  // not read and not an output (the compiler makes none)
                    release(w);
                    state_[w] = kDead;
                    emit(Action::Kind::Free, w);
                } else {
                    drop_if_possible(w);
                }
            }
        record_step();
    }

    void record_step() {
        sm().live = held_count_, sm().live_bytes = held_, sm().spilled = spilled_count_;
    }

    const Plan& plan_;
    const Schedule& sch_;
    int top_;
    std::size_t n_;
    ExecutionOptions opt_;
    std::size_t limit_;  // the budget in bytes
    std::vector<Action>& actions_;
    std::vector<StepRecord>& steps_;
    Uses uses_;
    std::vector<int> cur_;
    std::vector<State> state_;
    std::vector<std::size_t> next_;
    std::vector<std::size_t> pin_;  // wave id that pins the wire (kNever: none)
    std::set<std::pair<std::size_t, int>> by_next_;  // held wires by next use
    StepRecord scratch_;  // accounting sink for a plan without steps
    std::size_t held_ = 0, held_count_ = 0, spilled_count_ = 0, reserved_ = 0, pinned_ = 0, peak_ = 0, wave_ = 0;
    std::size_t fixed_ = 0;  // held accumulators of a split group (never spilled)
    std::size_t spilled_bytes_ = 0, max_spilled_ = 0;
    int step_ = 0;
};

}  // namespace

Schedule::Schedule(const Plan& plan, int top, std::size_t n, const ExecutionOptions& opt)
    : plan_(plan), top_(top), n_(n), budget_(opt.memory) {
    const std::size_t limit = budget_.bytes();  // throws for an unresolved default
    if (opt.wave_units == 0) throw std::invalid_argument("Schedule: wave_units must be at least 1");
    for (std::size_t s = 0; s < plan.steps.size(); ++s) {
        const Step& st = plan.steps[s];
        const int si = static_cast<int>(s);
        st.check_arity();
        if (st.kind == Step::Kind::Square) {
            for (std::size_t i = 0; i < st.outputs.size(); ++i) units_.push_back({si, static_cast<int>(i), 0, 1, 0, 0});
            continue;
        }
        for (std::size_t gi = 0; gi < st.groups.size(); ++gi) split_group(si, static_cast<int>(gi), limit);
    }
    if (opt.order == Order::DepthFirst) order_depth_first();
    build(opt);
    if (opt.order != Order::Auto || budget_.is_unlimited()) return;
    std::size_t spilled = 0;
    for (const auto& m : steps_) spilled += m.spill_bytes;
    if (spilled == 0) return;
    // It spills step by step: try depth first, keep whichever spills less.
    Schedule alt(plan, top, n, [&] {
        auto o = opt;
        o.order = Order::DepthFirst;
        return o;
    }());
    std::size_t alt_spilled = 0;
    for (const auto& m : alt.steps_) alt_spilled += m.spill_bytes;
    if (alt_spilled >= spilled) return;
    units_ = std::move(alt.units_), actions_ = std::move(alt.actions_), steps_ = std::move(alt.steps_), step_end_ = std::move(alt.step_end_);
    peak_ = alt.peak_, initial_ = alt.initial_, max_spilled_ = alt.max_spilled_, depth_first_ = true;
}

void Schedule::build(const ExecutionOptions& opt) {
    actions_.clear();
    steps_.assign(plan_.steps.size(), StepRecord{});
    Builder b(plan_, *this, top_, n_, opt, actions_, steps_);
    peak_ = b.run(initial_);
    max_spilled_ = b.max_spilled();
    step_end_.assign(plan_.steps.size(), -1);
    for (std::size_t i = 0; i < actions_.size(); ++i) step_end_[static_cast<std::size_t>(actions_[i].step)] = static_cast<std::ptrdiff_t>(i);
}

// Demand-driven order from the plan outputs: a unit goes right after the units that make
// its inputs (depth-first search over producers, inputs in plan order). A split group's
// part goes right after the producers of its slice, so only a slice of a huge group's
// inputs is made ahead (its sums are held meanwhile; several groups may be in progress).
void Schedule::order_depth_first() {
    depth_first_ = true;
    // Items: a square or a whole linear group, with its units' range in step order.
    std::vector<std::pair<std::size_t, std::size_t>> items;
    for (std::size_t i = 0; i < units_.size(); ++i)
        if (i == 0 || units_[i].step != units_[i - 1].step || units_[i].item != units_[i - 1].item) items.emplace_back(i, i + 1);
        else items.back().second = i + 1;
    std::vector<std::size_t> producer(static_cast<std::size_t>(plan_.wire_count()), SIZE_MAX);
    for (std::size_t it = 0; it < items.size(); ++it) {
        const Unit& last = units_[items[it].second - 1];
        for (int w : outputs(last)) producer[static_cast<std::size_t>(w)] = it;
    }
    auto item_inputs = [&](std::size_t it) {
        const Unit& u = units_[items[it].first];
        const Step& st = plan_.steps[u.step];
        return st.kind == Step::Kind::Square ? st.reads(static_cast<std::size_t>(u.item)) : std::span<const int>(st.groups[u.item].inputs);
    };
    std::vector<Unit> order;
    order.reserve(units_.size());
    // Where a unit's slice of its item's inputs ends (a square or product: all its operands).
    auto slice_end = [&](const Unit& u) { return plan_.steps[u.step].kind == Step::Kind::Square ? inputs(u).size() : u.end; };
    std::vector<char> state(items.size(), 0);  // 0 new, 1 on the stack, 2 done
    struct Frame {
        std::size_t item, next_input, next_part;
    };
    std::vector<Frame> stack;
    auto visit = [&](std::size_t root) {
        if (state[root]) return;
        state[root] = 1;
        stack.push_back({root, 0, 0});
        while (!stack.empty()) {
            const std::size_t top = stack.size() - 1;
            const std::size_t it = stack[top].item, first = items[it].first, parts = items[it].second - first;
            const auto in = item_inputs(it);
            bool pushed = false;
            while (!pushed) {
                auto& f = stack[top];
                // A part goes as soon as the producers of its slice have gone.
                while (f.next_part < parts && f.next_input >= slice_end(units_[first + f.next_part])) order.push_back(units_[first + f.next_part++]);
                if (f.next_input >= in.size()) break;
                const std::size_t p = producer[static_cast<std::size_t>(in[f.next_input++])];
                if (p != SIZE_MAX && !state[p]) state[p] = 1, stack.push_back({p, 0, 0}), pushed = true;  // (invalidates f)
            }
            if (pushed) continue;
            state[it] = 2;
            stack.pop_back();
        }
    };
    for (int w : plan_.outputs)
        if (producer[static_cast<std::size_t>(w)] != SIZE_MAX) visit(producer[static_cast<std::size_t>(w)]);
    for (std::size_t it = 0; it < items.size(); ++it) visit(it);  // (units no output needs: none from the compiler)
    units_ = std::move(order);
}

// One unit for a group whose inputs and outputs fit a quarter of the budget (room for
// the neighbouring units of its wave and the wires held for later steps), else parts
// over slices of its inputs, each slice with at most that quarter minus the accumulators.
void Schedule::split_group(int step, int item, std::size_t budget) {
    const LinearGroup& g = plan_.steps[step].groups[item];
    std::vector<std::size_t> in(g.inputs.size());
    std::size_t total = 0;
    for (std::size_t j = 0; j < in.size(); ++j) {
        const int w = g.inputs[j];
        in[j] = bytes(plan_.wire_level(w, top_), plan_.wire_size[w], n_), total += in[j];
    }
    for (int w : g.outputs) total += bytes(plan_.wire_level(w, top_), 2, n_);
    const std::size_t quarter = budget / 4, acc = accumulator_bytes(g);
    std::vector<std::size_t> cuts{0};
    if (budget != std::numeric_limits<std::size_t>::max() && total > quarter) {
        // (When the sums alone fill the quarter, slices of a quarter of what they leave.)
        const std::size_t limit = std::max(quarter > acc ? quarter - acc : 0, budget > acc ? (budget - acc) / 4 : 0);
        std::size_t sum = 0;
        for (std::size_t j = 0; j < in.size(); ++j) {
            if (j > cuts.back() && sum + in[j] > limit) cuts.push_back(j), sum = 0;
            sum += in[j];
        }
    }
    cuts.push_back(in.size());
    const int parts = static_cast<int>(cuts.size()) - 1;
    for (int k = 0; k < parts; ++k) units_.push_back({step, item, k, parts, cuts[k], cuts[k + 1]});
}

std::size_t Schedule::accumulator_bytes(const LinearGroup& g) const {
    bool hi = false, lo = false;
    for (int w : g.inputs) (plan_.wire_size[w] == 3 ? hi : lo) = true;
    const int l = plan_.group_level(g, top_);
    return g.outputs.size() * ((hi ? bytes(l + 2, 3, n_) : 0) + (lo ? bytes(l + 1, 2, n_) : 0));
}

std::span<const int> Schedule::inputs(const Unit& u) const {
    const Step& st = plan_.steps[u.step];
    if (st.kind == Step::Kind::Square) return st.reads(static_cast<std::size_t>(u.item));
    return std::span<const int>(st.groups[u.item].inputs).subspan(u.begin, u.end - u.begin);
}

std::span<const int> Schedule::outputs(const Unit& u) const {
    const Step& st = plan_.steps[u.step];
    if (st.kind == Step::Kind::Square) return {&st.outputs[u.item], 1};
    if (!u.last()) return {};
    return st.groups[u.item].outputs;
}

}  // namespace hecnn::he
