#include "hecnn/he/runtime.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>

#include "spill.h"

namespace hecnn::he {
namespace {

// Runs body(i) for i < n: across threads when n is large enough to occupy them (engine
// calls inside run single-threaded), else sequentially (the engine parallelises inside).
template <class F>
void for_each(std::size_t n, F body) {
    const int threads = omp_get_max_threads();
    if (n >= static_cast<std::size_t>(threads) * 2 && threads > 1) {
        std::exception_ptr err;
#pragma omp parallel for schedule(dynamic)
        for (std::size_t i = 0; i < n; ++i) {
            try {
                body(i);
            } catch (...) {
#pragma omp critical(hecnn_he_err)
                if (!err) err = std::current_exception();
            }
        }
        if (err) std::rethrow_exception(err);
    } else {
        for (std::size_t i = 0; i < n; ++i) body(i);
    }
}

// ExecutionOptions::threads for the duration of one run (0: leave OpenMP's setting).
class ThreadCount {
public:
    explicit ThreadCount(int threads) : before_(omp_get_max_threads()), set_(threads > 0) {
        if (set_) omp_set_num_threads(threads);
    }
    ~ThreadCount() {
        if (set_) omp_set_num_threads(before_);
    }
    ThreadCount(const ThreadCount&) = delete;
    ThreadCount& operator=(const ThreadCount&) = delete;

private:
    int before_;
    bool set_;
};

// Drop to `level` into a block of the new size: PolyBlock::drop_to_level keeps the
// allocation, and the point of an early drop is to give the bytes back.
ckks::Ciphertext dropped_copy(const ckks::Ciphertext& c, int level) {
    ckks::Ciphertext out(c.context(), level, c.scale(), c.size(), c.is_ntt());
    const std::size_t limb_bytes = c.n() * sizeof(std::uint64_t) * (static_cast<std::size_t>(level) + 1);
    for (std::size_t k = 0; k < c.size(); ++k) std::memcpy(out.limb(k, 0), c.limb(k, 0), limb_bytes);
    return out;
}

}  // namespace

// Where the inputs come from: held from the start, or fetched from a provider.
struct Runtime::Source {
    std::vector<ckks::Ciphertext>* held = nullptr;
    const InputProvider* provider = nullptr;
};

Runtime::Runtime(const Plan& plan, ckks::ContextPtr ctx, const ckks::RelinKey& rk)
    : plan_(plan), ctx_(std::move(ctx)), rk_(rk), eval_(ctx_) {
    if (rk_.context()->id() != ctx_->id()) throw std::invalid_argument("Runtime: relinearisation key belongs to other parameters");
    for (const Step& st : plan_.steps) st.check_arity();
    if (ctx_->max_level() < plan_.depth)
        throw std::invalid_argument("Runtime: the plan needs " + std::to_string(plan_.depth) + " levels, the parameters have " +
                                    std::to_string(ctx_->max_level()));
}

void Runtime::run_square(const Step& st, std::size_t i, std::vector<ckks::Ciphertext>& wire) const {
    const auto op = st.reads(i);
    for (int w : op)
        if (wire[w].empty()) throw std::logic_error("Runtime: input wire " + std::to_string(w) + " is not in memory");
    const auto& x = wire[op.front()];
    // Lazy: size 3, NTT form, scale s² (s_x·s_y), at the operands' level — the consumer
    // relinearises its outputs and rescales them twice (no rescale of c2, see plan.h).
    if (op.size() == 1) {
        wire[st.outputs[i]] = st.lazy_relin ? eval_.square(x) : eval_.square_relin_rescale(x, rk_);
        return;
    }
    // A product: the higher operand is read at the lower one's level, from a copy (another
    // consumer may still need its limbs).
    const auto& y = wire[op.back()];
    const int l = std::min(x.level(), y.level());
    ckks::Ciphertext low;
    if (x.level() > l || y.level() > l) low = dropped_copy(x.level() > l ? x : y, l);
    auto r = eval_.multiply(x.level() > l ? low : x, y.level() > l ? low : y);
    if (!st.lazy_relin) {
        eval_.relinearize_inplace(r, rk_);
        eval_.rescale_inplace(r);
    }
    wire[st.outputs[i]] = std::move(r);
}

// Partial sums of a linear group (see run_group): per output, a size-3 sum at l+2 (T_hi)
// and a size-2 sum at l+1 (T_lo).
struct Runtime::GroupSums {
    std::vector<ckks::Ciphertext> hi, lo;
    bool bias_added = false;
    std::size_t bytes() const {
        std::size_t b = 0;
        for (const auto& c : hi) b += c.byte_size();
        for (const auto& c : lo) b += c.byte_size();
        return b;
    }
};

// One linear group, outputs at level l = plan.group_level. Inputs are split into classes
// of equal (level, size, form); each class is ONE Evaluator::linear call at its own level
// without rescaling, its weights quantised so that the partial output lands exactly at
//  - T_hi = Δ·q_{l+1}·q_{l+2} for size-3 classes (lazy squares, read at ≥ l+2), or
//  - T_lo = Δ·q_{l+1}         for size-2 classes (read at ≥ l+1).
// The partials are dropped to l+2 resp. l+1 (exact: residues are discarded) and added.
// The size-3 sum is relinearised (key-switching noise then shrinks by both rescales) and
// rescaled by q_{l+2}, which brings it to T_lo at l+1; the size-2 sum is added and one
// more rescale by q_{l+1} gives Δ at l. Only size-2 ciphertexts are ever rescaled, and
// no input is copied, dropped or padded to size 3 (weights ~2^40 either way: T_hi/s² and
// T_lo/Δ ≈ q). A split group (schedule.h) runs this over one slice of its inputs per
// part, adding into sums that start at zero, and finishes at its last part; the sums are
// exact modular sums, so the outputs are the unsplit group's bit for bit.
void Runtime::run_group(const LinearGroup& g, const Unit& u, std::vector<ckks::Ciphertext>& wire, int top, GroupSums& sums) const {
    const int l = plan_.group_level(g, top);
    const double delta = ctx_->scale();
    const std::size_t O = g.outputs.size(), I = g.inputs.size();
    struct Class {
        int level;
        std::size_t size;
        bool ntt;
        std::vector<std::size_t> members;
    };
    std::vector<Class> cls;
    for (std::size_t j = u.begin; j < u.end; ++j) {
        const auto& c = wire[g.inputs[j]];
        if (c.empty()) throw std::logic_error("Runtime: input wire " + std::to_string(g.inputs[j]) + " is not in memory");
        if (c.level() < plan_.read_level(g, g.inputs[j], top))
            throw std::logic_error("Runtime: input wire " + std::to_string(g.inputs[j]) + " is below the level the group reads it at");
        auto it = std::find_if(cls.begin(), cls.end(), [&](const Class& k) { return k.level == c.level() && k.size == c.size() && k.ntt == c.is_ntt(); });
        if (it == cls.end()) it = cls.insert(cls.end(), Class{c.level(), c.size(), c.is_ntt(), {}});
        it->members.push_back(j);
    }
    if (!u.split() && cls.size() == 1 && cls[0].size == 2 && cls[0].level == l + 1) {  // the common case: one call, rescale inside
        std::vector<const ckks::Ciphertext*> ptr(I);
        for (std::size_t j = 0; j < I; ++j) ptr[j] = &wire[g.inputs[j]];
        ckks::LinearMap map{.outputs = O, .inputs = I, .weights = g.weights, .bias = g.bias, .rescale = true, .target_scale = delta};
        auto out = eval_.linear(std::span<const ckks::Ciphertext* const>(ptr), map);
        for (std::size_t o = 0; o < O; ++o) wire[g.outputs[o]] = std::move(out[o]);
        return;
    }
    const double t_lo = delta * static_cast<double>(ctx_->data_moduli()[l + 1].value());
    const double t_hi = l + 2 <= ctx_->max_level() ? t_lo * static_cast<double>(ctx_->data_moduli()[l + 2].value()) : 0;
    if (u.split() && u.part == 0) {  // zero sums, as many as the schedule accounts for
        bool hi = false, lo = false;
        for (int w : g.inputs) (plan_.wire_size[w] == 3 ? hi : lo) = true;
        auto zeros = [&](int level, double scale, std::size_t size, bool ntt) {
            std::vector<ckks::Ciphertext> v;
            for (std::size_t o = 0; o < O; ++o) {
                v.emplace_back(ctx_, level, scale, size, ntt);
                std::fill(v.back().words().begin(), v.back().words().end(), 0);
            }
            return v;
        };
        if (hi) sums.hi = zeros(l + 2, t_hi, 3, true);
        if (lo) sums.lo = zeros(l + 1, t_lo, 2, false);
    }
    for (const auto& k : cls) {
        const bool is_hi = k.size == 3;
        std::vector<const ckks::Ciphertext*> ptr(k.members.size());
        ckks::LinearMap map;
        map.inputs = k.members.size();
        map.outputs = O;
        map.weights.resize(O * map.inputs);
        for (std::size_t o = 0; o < O; ++o)
            for (std::size_t j = 0; j < map.inputs; ++j) map.weights[o * map.inputs + j] = g.weights[o * I + k.members[j]];
        for (std::size_t j = 0; j < map.inputs; ++j) ptr[j] = &wire[g.inputs[k.members[j]]];
        if (!sums.bias_added) map.bias = g.bias, sums.bias_added = true;
        map.rescale = false;
        map.weight_scale = (is_hi ? t_hi : t_lo) / ptr[0]->scale();
        auto part = eval_.linear(std::span<const ckks::Ciphertext* const>(ptr), map);
        auto& sum = is_hi ? sums.hi : sums.lo;
        const int at = is_hi ? l + 2 : l + 1;
        for (std::size_t o = 0; o < O; ++o) {
            if (part[o].level() != at) eval_.drop_to_level_inplace(part[o], at);
            if (!sum.empty()) eval_.add_inplace(sum[o], part[o]);
        }
        if (sum.empty()) sum = std::move(part);
    }
    if (!u.last()) return;
    auto out = sums.hi.empty() ? std::move(sums.lo) : std::move(sums.hi);
    for (std::size_t o = 0; o < O; ++o) {
        auto& c = out[o];
        if (c.size() == 3) {
            eval_.relinearize_inplace(c, rk_);
            eval_.rescale_inplace(c);  // by q_{l+2}: now at T_lo, level l+1
            if (!sums.lo.empty()) eval_.add_inplace(c, sums.lo[o]);
        }
        eval_.rescale_inplace(c);  // by q_{l+1}: Δ at level l
    }
    sums = GroupSums{};
    for (std::size_t o = 0; o < O; ++o) wire[g.outputs[o]] = std::move(out[o]);
}

std::vector<ckks::Ciphertext> Runtime::run(std::vector<ckks::Ciphertext> inputs, const RunOptions& opt, std::vector<StepTrace>* trace) const {
    const ThreadCount threads(opt.exec.threads);
    if (inputs.size() != static_cast<std::size_t>(plan_.input_count))
        throw std::invalid_argument("Runtime: " + std::to_string(inputs.size()) + " input ciphertexts, the plan expects " +
                                    std::to_string(plan_.input_count));
    const int top = inputs.empty() ? ctx_->max_level() : inputs[0].level();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& c = inputs[i];
        if (c.empty() || c.context()->id() != ctx_->id()) throw std::invalid_argument("Runtime: input " + std::to_string(i) + " belongs to other parameters");
        if (c.level() != top || c.size() != 2) throw std::invalid_argument("Runtime: input " + std::to_string(i) + " differs in level or size from input 0");
    }
    for_each(inputs.size(), [&](std::size_t i) { eval_.to_coeff_inplace(inputs[i]); });
    Source src{.held = &inputs};
    return execute(src, top, opt, trace);
}

std::vector<ckks::Ciphertext> Runtime::run(const InputProvider& inputs, const RunOptions& opt, std::vector<StepTrace>* trace) const {
    if (!inputs) throw std::invalid_argument("Runtime: empty input provider");
    const ThreadCount threads(opt.exec.threads);
    const int top = opt.input_level < 0 ? ctx_->max_level() : opt.input_level;
    Source src{.provider = &inputs};
    return execute(src, top, opt, trace);
}

std::vector<ckks::Ciphertext> Runtime::run(std::vector<ckks::Ciphertext> inputs, std::vector<StepTrace>* trace,
                                           const std::function<void(std::size_t, const StepTrace&)>& progress) const {
    RunOptions opt;
    opt.progress = progress;
    return run(std::move(inputs), opt, trace);
}

std::vector<ckks::Ciphertext> Runtime::execute(Source& src, int top, const RunOptions& opt, std::vector<StepTrace>* trace) const {
    if (top < plan_.depth || top > ctx_->max_level())
        throw std::invalid_argument("Runtime: inputs at level " + std::to_string(top) + ", the plan needs " + std::to_string(plan_.depth) +
                                    " levels and the parameters have " + std::to_string(ctx_->max_level()));
    ExecutionOptions so = opt.exec;
    so.memory = so.memory.resolved();  // once per run; a caller that predicted passes it resolved
    so.lazy_inputs = src.provider != nullptr;
    const Schedule sch(plan_, top, ctx_->n(), so);

    std::vector<ckks::Ciphertext> wire(static_cast<std::size_t>(plan_.wire_count()));
    if (src.held) {
        for (std::size_t i = 0; i < src.held->size(); ++i) wire[i] = std::move((*src.held)[i]);
        src.held->clear();
    }
    std::vector<char> fetched(static_cast<std::size_t>(plan_.input_count), src.held ? 1 : 0);
    detail::SpillStore store(ctx_, opt.exec.spill_dir);
    std::map<std::pair<int, int>, GroupSums> split_sums;  // of the split groups in progress, by (step, group)
    auto sums_bytes = [&] {
        std::size_t b = 0;
        for (const auto& [k, v] : split_sums) b += v.bytes();
        return b;
    };
    std::size_t held = 0, spilled = 0;
    for (const auto& c : wire) held += c.empty() ? 0 : c.byte_size();

    auto check_input = [&](int w, ckks::Ciphertext& c) {
        if (c.empty() || c.context()->id() != ctx_->id()) throw std::invalid_argument("Runtime: input " + std::to_string(w) + " belongs to other parameters");
        if (c.level() != top || c.size() != 2)
            throw std::invalid_argument("Runtime: input " + std::to_string(w) + " is at level " + std::to_string(c.level()) + ", size " +
                                        std::to_string(c.size()) + "; expected level " + std::to_string(top) + ", size 2");
        eval_.to_coeff_inplace(c);
    };

    using Kind = Action::Kind;
    const auto& acts = sch.actions();
    const std::size_t S = plan_.steps.size();
    // Per step; complete after the step's last action (schedule.step_end), reported in
    // step order. Levels and scales are taken as outputs are made (later drops aside).
    std::vector<StepTrace> st(S);
    std::vector<char> seen(S, 0), done(S, 0);
    std::size_t reported = 0;
    auto see = [&](std::size_t s, const ckks::Ciphertext& c) {
        StepTrace& t = st[s];
        if (!seen[s]) t.level = c.level(), t.size = static_cast<int>(c.size()), t.min_scale = t.max_scale = c.scale(), seen[s] = 1;
        t.level = std::min(t.level, c.level());
        t.size = std::max(t.size, static_cast<int>(c.size()));
        t.min_scale = std::min(t.min_scale, c.scale());
        t.max_scale = std::max(t.max_scale, c.scale());
    };
    auto finish_steps = [&](std::size_t a, std::size_t b) {  // after actions [a, b)
        for (std::size_t s = 0; s < S; ++s) {
            const auto e = sch.step_end()[s];
            if (done[s] || e < static_cast<std::ptrdiff_t>(a) || e >= static_cast<std::ptrdiff_t>(b)) continue;
            done[s] = 1;
            st[s].outputs = plan_.steps[s].output_count();
            st[s].live = 0;
            for (const auto& c : wire) st[s].live += !c.empty();
            st[s].live_bytes = held;
            st[s].spilled = spilled;
        }
        for (; reported < S && done[reported]; ++reported) {
            if (trace) trace->push_back(st[reported]);
            if (opt.progress) opt.progress(reported, st[reported]);
        }
    };

    for (std::size_t a = 0; a < acts.size();) {
        // A run of consecutive actions of one kind and step: independent, done in parallel.
        std::size_t b = a + 1;
        if (acts[a].kind != Kind::Run)
            while (b < acts.size() && acts[b].kind == acts[a].kind && acts[b].step == acts[a].step) ++b;
        const Kind kind = acts[a].kind;
        const auto t0 = std::chrono::steady_clock::now();
        StepTrace& cur = st[static_cast<std::size_t>(acts[a].step)];
        if (kind == Kind::Run) {
            const Action& r = acts[a];
            const auto& units = sch.units();
            const std::size_t acc0 = sums_bytes();
            for_each(r.last - r.first, [&](std::size_t i) {
                const Unit& u = units[r.first + i];
                const Step& st = plan_.steps[u.step];
                if (st.kind == Step::Kind::Square) {
                    run_square(st, static_cast<std::size_t>(u.item), wire);
                } else if (u.split()) {  // alone in its wave (schedule.h)
                    auto& sums = split_sums[{u.step, u.item}];
                    run_group(st.groups[u.item], u, wire, top, sums);
                    if (u.last()) split_sums.erase({u.step, u.item});
                } else {
                    GroupSums sums;
                    run_group(st.groups[u.item], u, wire, top, sums);
                }
            });
            // Outputs made, plus a split group's sums made (first part) or consumed (last).
            std::size_t made = 0;
            for (std::size_t i = r.first; i < r.last; ++i)
                for (int w : sch.outputs(units[i])) made += wire[w].byte_size(), see(static_cast<std::size_t>(units[i].step), wire[w]);
            const std::size_t acc1 = sums_bytes();
            cur.peak_bytes = std::max(cur.peak_bytes, held + made + (acc1 > acc0 ? acc1 - acc0 : 0));
            held = held + made + acc1 - acc0;
        } else {
            std::vector<std::size_t> before(b - a), after(b - a), file(b - a, 0);
            for (std::size_t i = 0; i < b - a; ++i) before[i] = wire[acts[a + i].wire].byte_size();
            // An input's first load calls the provider, in parallel with the other loads
            // of the run (runtime.h): reading and expanding a seeded upload is a large
            // share of a job, and one thread doing it would leave the others idle.
            if (kind == Kind::Load)
                for (std::size_t i = a; i < b; ++i) {
                    const int w = acts[i].wire;
                    if (w < plan_.input_count && !fetched[w]) fetched[w] = 2;
                }
            for_each(b - a, [&](std::size_t i) {
                const Action& x = acts[a + i];
                auto& c = wire[x.wire];
                switch (kind) {
                    case Kind::Load:
                        if (x.wire < plan_.input_count && fetched[x.wire] == 2) {
                            c = (*src.provider)(static_cast<std::size_t>(x.wire));
                            check_input(x.wire, c);
                        } else {
                            c = store.read(x.wire);
                        }
                        if (c.level() > x.level) c = dropped_copy(c, x.level);  // a lazy input: only the limbs read
                        break;
                    case Kind::Spill:
                        file[i] = store.write(x.wire, c);
                        c = ckks::Ciphertext();
                        break;
                    case Kind::Drop: c = dropped_copy(c, x.level); break;
                    case Kind::Free: c = ckks::Ciphertext(); break;
                    case Kind::Run: break;
                }
                after[i] = c.empty() ? 0 : c.byte_size();
            });
            for (std::size_t i = 0; i < b - a; ++i) {
                held = held - before[i] + after[i];
                if (kind == Kind::Spill) cur.spill_bytes += before[i], cur.spill_file_bytes += file[i], ++spilled;
                if (kind == Kind::Load) {
                    const int w = acts[a + i].wire;
                    if (w < plan_.input_count && fetched[w] == 2) fetched[w] = 1, cur.input_load_bytes += after[i];
                    else cur.load_bytes += after[i], --spilled;
                }
            }
            if (kind == Kind::Load) cur.peak_bytes = std::max(cur.peak_bytes, held);
        }
        cur.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        finish_steps(a, b);
        a = b;
    }
    std::vector<ckks::Ciphertext> out(plan_.outputs.size());
    for (std::size_t k = 0; k < out.size(); ++k) {
        if (wire[plan_.outputs[k]].empty()) throw std::logic_error("Runtime: output wire " + std::to_string(plan_.outputs[k]) + " was not kept");
        out[k] = wire[plan_.outputs[k]];  // copy: an output may repeat
    }
    return out;
}

}  // namespace hecnn::he
