#include "hecnn/he/runtime.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "hecnn/he/cpu_backend.h"
#include "hecnn/he/partition.h"
#include "spill.h"

namespace hecnn::he {
namespace {

// ExecutionOptions::threads for the duration of one run (0: leave the backend's setting).
class ThreadCount {
public:
    ThreadCount(const Backend& be, int threads) : be_(be), set_(threads > 0), before_(set_ ? be.set_threads(threads) : 0) {}
    ~ThreadCount() {
        if (set_) be_.set_threads(before_);
    }
    ThreadCount(const ThreadCount&) = delete;
    ThreadCount& operator=(const ThreadCount&) = delete;

private:
    const Backend& be_;
    bool set_;
    int before_;
};

}  // namespace

// Where the inputs come from: held from the start, or fetched from a provider.
struct Runtime::Source {
    std::vector<ckks::Ciphertext>* held = nullptr;
    const InputProvider* provider = nullptr;
};

Runtime::Runtime(const Plan& plan, ckks::ContextPtr ctx, const ckks::RelinKey& rk)
    : Runtime(plan, std::make_shared<const CpuBackend>(std::move(ctx)), rk) {}

Runtime::Runtime(const Plan& plan, std::shared_ptr<const Backend> backend, const ckks::RelinKey& rk)
    : plan_(plan), ctx_(backend->context()), rk_(rk), be_(std::move(backend)) {
    if (rk_.context()->id() != ctx_->id()) throw std::invalid_argument("Runtime: relinearisation key belongs to other parameters");
    for (const Step& st : plan_.steps) st.check_arity();
    if (ctx_->max_level() < plan_.depth)
        throw std::invalid_argument("Runtime: the plan needs " + std::to_string(plan_.depth) + " levels, the parameters have " +
                                    std::to_string(ctx_->max_level()));
}

// Operations made by a unit (StepRecord's counts; the simulator predicts the same).
struct Runtime::Ops {
    std::int64_t macs = 0, squares = 0, relins = 0, rescales = 0;
    void add_to(StepRecord& r) const { r.macs += macs, r.squares += squares, r.relins += relins, r.rescales += rescales; }
};

Runtime::Ops Runtime::run_square(const Step& st, std::size_t i, std::vector<ckks::Ciphertext>& wire) const {
    const auto op = st.reads(i);
    for (int w : op)
        if (wire[w].empty()) throw std::logic_error("Runtime: input wire " + std::to_string(w) + " is not in memory");
    const auto& x = wire[op.front()];
    const Ops ops{.squares = 1, .relins = st.lazy_relin ? 0 : 1, .rescales = st.lazy_relin ? 0 : 1};
    // Lazy: size 3, NTT form, scale s² (s_x·s_y), at the operands' level — the consumer
    // relinearises its outputs and rescales them twice (no rescale of c2, see plan.h).
    if (op.size() == 1) {
        wire[st.outputs[i]] = st.lazy_relin ? be_->square(x) : be_->square_relin_rescale(x, rk_);
        return ops;
    }
    // A product: the higher operand is read at the lower one's level, from a copy (another
    // consumer may still need its limbs).
    const auto& y = wire[op.back()];
    const int l = std::min(x.level(), y.level());
    ckks::Ciphertext low;
    if (x.level() > l || y.level() > l) low = be_->dropped_copy(x.level() > l ? x : y, l);
    auto r = be_->multiply(x.level() > l ? low : x, y.level() > l ? low : y);
    if (!st.lazy_relin) {
        be_->relinearize_inplace(r, rk_);
        be_->rescale_inplace(r);
    }
    wire[st.outputs[i]] = std::move(r);
    return ops;
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
Runtime::Ops Runtime::run_group(const LinearGroup& g, const Unit& u, std::vector<ckks::Ciphertext>& wire, int top, GroupSums& sums) const {
    const int l = plan_.group_level(g, top);
    Ops ops;
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
        auto out = be_->linear(std::span<const ckks::Ciphertext* const>(ptr), map);
        for (std::size_t o = 0; o < O; ++o) wire[g.outputs[o]] = std::move(out[o]);
        ops.macs = static_cast<std::int64_t>(I * O), ops.rescales = static_cast<std::int64_t>(O);
        return ops;
    }
    const double t_lo = delta * static_cast<double>(ctx_->data_moduli()[l + 1].value());
    const double t_hi = l + 2 <= ctx_->max_level() ? t_lo * static_cast<double>(ctx_->data_moduli()[l + 2].value()) : 0;
    if (u.split() && u.part == 0) {  // zero sums, as many as the schedule accounts for
        bool hi = false, lo = false;
        for (int w : g.inputs) (plan_.wire_size[w] == 3 ? hi : lo) = true;
        auto zeros = [&](int level, double scale, std::size_t size, bool ntt) {
            std::vector<ckks::Ciphertext> v;
            for (std::size_t o = 0; o < O; ++o) v.push_back(be_->allocate(level, scale, size, ntt, true));
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
        auto part = be_->linear(std::span<const ckks::Ciphertext* const>(ptr), map);
        ops.macs += static_cast<std::int64_t>(map.inputs * O);
        auto& sum = is_hi ? sums.hi : sums.lo;
        const int at = is_hi ? l + 2 : l + 1;
        for (std::size_t o = 0; o < O; ++o) {
            if (part[o].level() != at) be_->drop_to_level_inplace(part[o], at);
            if (!sum.empty()) be_->add_inplace(sum[o], part[o]);
        }
        if (sum.empty()) sum = std::move(part);
    }
    if (!u.last()) return ops;
    auto out = sums.hi.empty() ? std::move(sums.lo) : std::move(sums.hi);
    for (std::size_t o = 0; o < O; ++o) {
        auto& c = out[o];
        if (c.size() == 3) {
            be_->relinearize_inplace(c, rk_);
            be_->rescale_inplace(c);  // by q_{l+2}: now at T_lo, level l+1
            ++ops.relins, ++ops.rescales;
            if (!sums.lo.empty()) be_->add_inplace(c, sums.lo[o]);
        }
        be_->rescale_inplace(c);  // by q_{l+1}: Δ at level l
        ++ops.rescales;
    }
    sums = GroupSums{};
    for (std::size_t o = 0; o < O; ++o) wire[g.outputs[o]] = std::move(out[o]);
    return ops;
}

std::vector<ckks::Ciphertext> Runtime::run(std::vector<ckks::Ciphertext> inputs, const RunOptions& opt, std::vector<StepRecord>* trace) const {
    const ThreadCount threads(*be_, opt.exec.threads);
    if (inputs.size() != static_cast<std::size_t>(plan_.input_count))
        throw std::invalid_argument("Runtime: " + std::to_string(inputs.size()) + " input ciphertexts, the plan expects " +
                                    std::to_string(plan_.input_count));
    const int top = inputs.empty() ? ctx_->max_level() : inputs[0].level();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& c = inputs[i];
        if (c.empty() || c.context()->id() != ctx_->id()) throw std::invalid_argument("Runtime: input " + std::to_string(i) + " belongs to other parameters");
        if (c.level() != top || c.size() != 2) throw std::invalid_argument("Runtime: input " + std::to_string(i) + " differs in level or size from input 0");
    }
    be_->parallel_for(inputs.size(), [&](std::size_t i) { be_->to_coeff_inplace(inputs[i]); });
    Source src{.held = &inputs};
    return execute(src, top, opt, trace);
}

std::vector<ckks::Ciphertext> Runtime::run(const InputProvider& inputs, const RunOptions& opt, std::vector<StepRecord>* trace) const {
    if (!inputs) throw std::invalid_argument("Runtime: empty input provider");
    const ThreadCount threads(*be_, opt.exec.threads);
    const int top = opt.input_level < 0 ? ctx_->max_level() : opt.input_level;
    Source src{.provider = &inputs};
    return execute(src, top, opt, trace);
}

std::vector<ckks::Ciphertext> Runtime::run(std::vector<ckks::Ciphertext> inputs, std::vector<StepRecord>* trace,
                                           const std::function<void(std::size_t, const StepRecord&)>& progress) const {
    RunOptions opt;
    opt.progress = progress;
    return run(std::move(inputs), opt, trace);
}

namespace {

// ExecutionOptions as the run's schedule sees them: the budget resolved (once per run; a
// caller that predicted passes it resolved) and lazy inputs as the form of run() says.
ExecutionOptions scheduled(ExecutionOptions exec, bool lazy_inputs) {
    exec.memory = exec.memory.resolved();
    exec.lazy_inputs = lazy_inputs;
    return exec;
}

// Trace recording: each step's record, filled as its actions run, is complete after the
// step's last action (Schedule::step_end) and reported — to the trace and the progress
// callback — in step order. Levels and scales are taken as outputs are made (later drops
// aside).
class Recorder {
public:
    Recorder(const Plan& plan, const Schedule& sch, const RunOptions& opt, std::vector<StepRecord>* trace)
        : plan_(plan), sch_(sch), opt_(opt), trace_(trace), st_(plan.steps.size()), seen_(plan.steps.size(), 0), done_(plan.steps.size(), 0) {
        for (std::size_t s = 0; s < st_.size(); ++s) st_[s].kind = plan.steps[s].kind_name(), st_[s].name = plan.steps[s].name;
    }

    StepRecord& operator[](int step) { return st_[static_cast<std::size_t>(step)]; }

    void output_made(int step, const ckks::Ciphertext& c) {
        const auto s = static_cast<std::size_t>(step);
        StepRecord& t = st_[s];
        if (!seen_[s]) t.level = c.level(), t.size = static_cast<int>(c.size()), t.min_scale = t.max_scale = c.scale(), seen_[s] = 1;
        t.level = std::min(t.level, c.level());
        t.size = std::max(t.size, static_cast<int>(c.size()));
        t.min_scale = std::min(t.min_scale, c.scale());
        t.max_scale = std::max(t.max_scale, c.scale());
    }

    // After actions [a, b), with `held` bytes in memory and `spilled` ciphertexts on disk.
    void actions_done(std::size_t a, std::size_t b, const std::vector<ckks::Ciphertext>& wire, std::size_t held, std::size_t spilled) {
        const std::size_t S = st_.size();
        for (std::size_t s = 0; s < S; ++s) {
            const auto e = sch_.step_end()[s];
            if (done_[s] || e < static_cast<std::ptrdiff_t>(a) || e >= static_cast<std::ptrdiff_t>(b)) continue;
            done_[s] = 1;
            st_[s].outputs = plan_.steps[s].output_count();
            st_[s].live = 0;
            for (const auto& c : wire) st_[s].live += !c.empty();
            st_[s].live_bytes = held;
            st_[s].spilled = spilled;
        }
        for (; reported_ < S && done_[reported_]; ++reported_) {
            if (trace_) trace_->push_back(st_[reported_]);
            if (opt_.progress) opt_.progress(reported_, st_[reported_]);
        }
    }

private:
    const Plan& plan_;
    const Schedule& sch_;
    const RunOptions& opt_;
    std::vector<StepRecord>* trace_;
    std::vector<StepRecord> st_;
    std::vector<char> seen_, done_;
    std::size_t reported_ = 0;
};

}  // namespace

// One run of the schedule's actions: action execution (waves of units, memory actions),
// memory accounting (bytes held, ciphertexts on disk) and trace recording (Recorder).
class Runtime::Execution {
public:
    Execution(const Runtime& rt, Source& src, int top, const RunOptions& opt, std::vector<StepRecord>* trace)
        : rt_(rt), plan_(rt.plan_), src_(src), top_(top),
          sch_(rt.plan_, top, rt.ctx_->n(), scheduled(opt.exec, src.provider != nullptr)),
          wire_(static_cast<std::size_t>(plan_.wire_count())),
          fetched_(static_cast<std::size_t>(plan_.input_count), src.held ? 1 : 0),
          store_(*rt.be_, opt.exec.spill_dir),
          waves_(opt.waves),
          rec_(plan_, sch_, opt, trace) {
        if (opt.ranks && opt.ranks->size() > 1) {
            ranks_ = opt.ranks;
            part_.emplace(plan_, sch_, ranks_->size());
            ranks_->agree(part_->fingerprint(), "the schedule and its partition (same plan, budget and input level on every rank?)");
        }
        if (src.held) {
            for (std::size_t i = 0; i < src.held->size(); ++i) wire_[i] = std::move((*src.held)[i]);
            src.held->clear();
        }
        for (const auto& c : wire_) held_ += c.empty() ? 0 : c.byte_size();
    }

    std::vector<ckks::Ciphertext> run() {
        const auto& acts = sch_.actions();
        for (std::size_t a = 0; a < acts.size();) {
            // A run of consecutive actions of one kind and step: independent, done in parallel.
            std::size_t b = a + 1;
            if (acts[a].kind != Action::Kind::Run)
                while (b < acts.size() && acts[b].kind == acts[a].kind && acts[b].step == acts[a].step) ++b;
            const auto t0 = std::chrono::steady_clock::now();
            if (acts[a].kind == Action::Kind::Run) run_wave(acts[a]);
            else memory_actions(a, b);
            rec_[acts[a].step].seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            rec_.actions_done(a, b, wire_, held_, spilled_);
            if (acts[a].kind == Action::Kind::Run && waves_) waves_(units_done_ += acts[a].last - acts[a].first, sch_.units().size());
            a = b;
        }
        return outputs();
    }

private:
    // Action execution: a wave's units in parallel.
    // Across ranks: only this rank's units (partition.h), then the wave's outputs exchanged.
    void run_wave(const Action& r) {
        const auto& units = sch_.units();
        const std::size_t acc0 = sums_bytes();
        std::vector<Ops> ops(r.last - r.first);
        std::vector<std::size_t> mine;
        for (std::size_t i = 0; i < r.last - r.first; ++i)
            if (!part_ || part_->owner(r.first + i) == ranks_->rank()) mine.push_back(i);
        rt_.be_->parallel_for(mine.size(), [&](std::size_t k) {
            const std::size_t i = mine[k];
            const Unit& u = units[r.first + i];
            const Step& st = plan_.steps[u.step];
            if (st.kind == Step::Kind::Square) {
                ops[i] = rt_.run_square(st, static_cast<std::size_t>(u.item), wire_);
            } else if (u.split()) {  // alone in its wave (schedule.h)
                auto& sums = split_sums_[{u.step, u.item}];
                ops[i] = rt_.run_group(st.groups[u.item], u, wire_, top_, sums);
                if (u.last()) split_sums_.erase({u.step, u.item});
            } else {
                GroupSums sums;
                ops[i] = rt_.run_group(st.groups[u.item], u, wire_, top_, sums);
            }
        });
        if (part_) exchange_outputs(r);
        account_wave(r, acc0, ops);
    }

    // The outputs of wave r: this rank's serialised to the other ranks that read them, the
    // ones this rank reads received from their owners, in unit order on both sides
    // (partition.h). A received ciphertext is bytes from outside: Backend::deserialize
    // checks its format and checksum, and it must have the level and size the plan gives
    // the wire.
    void exchange_outputs(const Action& r) {
        const auto& units = sch_.units();
        const int me = ranks_->rank(), R = ranks_->size();
        auto read_elsewhere = [&](int w) {
            for (int to = 0; to < R; ++to)
                if (to != me && part_->reads(to, w)) return true;
            return false;
        };
        std::vector<int> sent, received, from;
        for (std::size_t i = r.first; i < r.last; ++i)
            for (int w : sch_.outputs(units[i])) {
                const int o = part_->owner(i);
                if (o == me && read_elsewhere(w)) sent.push_back(w);
                else if (o != me && part_->reads(me, w)) received.push_back(w), from.push_back(o);
            }
        std::vector<std::vector<std::uint8_t>> bytes(sent.size());
        rt_.be_->parallel_for(sent.size(), [&](std::size_t k) { bytes[k] = rt_.be_->serialize(wire_[sent[k]]); });
        std::vector<Ranks::Message> out;
        for (int to = 0; to < R; ++to)
            if (to != me)
                for (std::size_t k = 0; k < sent.size(); ++k)
                    if (part_->reads(to, sent[k])) out.push_back({to, bytes[k]});
        auto in = ranks_->exchange(out, from);
        if (in.size() != received.size()) throw std::logic_error("Runtime: the exchange returned " + std::to_string(in.size()) + " ciphertexts");
        rt_.be_->parallel_for(received.size(), [&](std::size_t k) {
            const int w = received[k];
            auto c = rt_.be_->deserialize(in[k]);
            const int level = plan_.wire_level(w, top_);
            if (c.level() != level || static_cast<int>(c.size()) != plan_.wire_size[w])
                throw std::runtime_error("Runtime: wire " + std::to_string(w) + " from rank " + std::to_string(from[k]) + " is at level " +
                                         std::to_string(c.level()) + ", size " + std::to_string(c.size()) + "; the plan makes it at level " +
                                         std::to_string(level) + ", size " + std::to_string(plan_.wire_size[w]));
            in[k] = {};
            wire_[w] = std::move(c);
        });
    }

    // Action execution: consecutive loads, spills, drops or frees of one step, in parallel.
    void memory_actions(std::size_t a, std::size_t b) {
        const auto& acts = sch_.actions();
        const Action::Kind kind = acts[a].kind;
        std::vector<std::size_t> before(b - a), after(b - a), file(b - a, 0);
        std::vector<char> skipped(b - a, 0);  // across ranks: a wire this rank does not hold or need
        for (std::size_t i = 0; i < b - a; ++i) before[i] = wire_[acts[a + i].wire].byte_size();
        // An input's first load calls the provider, in parallel with the other loads of the
        // run (runtime.h): reading and expanding a seeded upload is a large share of a job,
        // and one thread doing it would leave the others idle.
        if (kind == Action::Kind::Load)
            for (std::size_t i = a; i < b; ++i) {
                const int w = acts[i].wire;
                if (w < plan_.input_count && !fetched_[w]) fetched_[w] = 2;
            }
        rt_.be_->parallel_for(b - a, [&](std::size_t i) {
            const Action& x = acts[a + i];
            auto& c = wire_[x.wire];
            if (part_ && absent(kind, x.wire)) {
                skipped[i] = 1;
                return;
            }
            switch (kind) {
                case Action::Kind::Load:
                    c = load(x);
                    if (part_) on_disk_[x.wire] = 0;
                    break;
                case Action::Kind::Spill:
                    file[i] = store_.write(x.wire, c);
                    c = ckks::Ciphertext();
                    if (part_) on_disk_[x.wire] = 1;
                    break;
                case Action::Kind::Drop: c = rt_.be_->dropped_copy(c, x.level); break;
                case Action::Kind::Free: c = ckks::Ciphertext(); break;
                case Action::Kind::Run: break;
            }
            after[i] = c.empty() ? 0 : c.byte_size();
        });
        account_memory(a, b, before, after, file, skipped);
    }

    // Across ranks, a memory action on a wire this rank does not have: an input none of
    // its units reads (never fetched), a spilled wire it never held, a drop or spill of a
    // wire it neither computed nor received.
    bool absent(Action::Kind kind, int w) const {
        if (kind == Action::Kind::Load)
            return w < plan_.input_count && fetched_[w] == 2 ? !part_->reads(ranks_->rank(), w) : !on_disk_[w];
        return (kind == Action::Kind::Spill || kind == Action::Kind::Drop) && wire_[w].empty();
    }

    // An input from the provider (its first load) or a spilled wire from its file, at the
    // level the schedule keeps it at.
    ckks::Ciphertext load(const Action& x) {
        ckks::Ciphertext c;
        if (x.wire < plan_.input_count && fetched_[x.wire] == 2) {
            c = (*src_.provider)(static_cast<std::size_t>(x.wire));
            check_input(x.wire, c);
        } else {
            c = store_.read(x.wire);
        }
        if (c.level() > x.level) c = rt_.be_->dropped_copy(c, x.level);  // a lazy input: only the limbs read
        return c;
    }

    void check_input(int w, ckks::Ciphertext& c) const {
        if (c.empty() || c.context()->id() != rt_.ctx_->id()) throw std::invalid_argument("Runtime: input " + std::to_string(w) + " belongs to other parameters");
        if (c.level() != top_ || c.size() != 2)
            throw std::invalid_argument("Runtime: input " + std::to_string(w) + " is at level " + std::to_string(c.level()) + ", size " +
                                        std::to_string(c.size()) + "; expected level " + std::to_string(top_) + ", size 2");
        rt_.be_->to_coeff_inplace(c);
    }

    // Memory accounting of a wave: its operations, the outputs made, plus a split group's
    // sums made (first part) or consumed (last).
    void account_wave(const Action& r, std::size_t acc0, const std::vector<Ops>& ops) {
        StepRecord& cur = rec_[r.step];
        for (const Ops& o : ops) o.add_to(cur);
        const auto& units = sch_.units();
        std::size_t made = 0;
        for (std::size_t i = r.first; i < r.last; ++i)
            for (int w : sch_.outputs(units[i])) made += wire_[w].byte_size(), rec_.output_made(units[i].step, wire_[w]);
        const std::size_t acc1 = sums_bytes();
        cur.peak_bytes = std::max(cur.peak_bytes, held_ + made + (acc1 > acc0 ? acc1 - acc0 : 0));
        held_ = held_ + made + acc1 - acc0;
    }

    // Memory accounting of memory actions [a, b): each one's bytes before and after (and
    // its spill file's bytes).
    void account_memory(std::size_t a, std::size_t b, const std::vector<std::size_t>& before, const std::vector<std::size_t>& after,
                        const std::vector<std::size_t>& file, const std::vector<char>& skipped) {
        const auto& acts = sch_.actions();
        const Action::Kind kind = acts[a].kind;
        StepRecord& cur = rec_[acts[a].step];
        for (std::size_t i = 0; i < b - a; ++i) {
            held_ = held_ - before[i] + after[i];
            const int w = acts[a + i].wire;
            if (skipped[i]) {
                if (kind == Action::Kind::Load && w < plan_.input_count && fetched_[w] == 2) fetched_[w] = 1;
                continue;
            }
            switch (kind) {
                case Action::Kind::Spill: cur.spill_bytes += before[i], cur.spill_file_bytes += file[i], ++cur.spills, ++spilled_; break;
                case Action::Kind::Load:
                    if (w < plan_.input_count && fetched_[w] == 2) fetched_[w] = 1, ++cur.input_loads, cur.input_load_bytes += after[i];
                    else cur.load_bytes += after[i], ++cur.loads, --spilled_;
                    break;
                case Action::Kind::Drop: cur.drop_bytes += after[i], ++cur.drops; break;
                case Action::Kind::Free:
                case Action::Kind::Run: break;
            }
        }
        if (kind == Action::Kind::Load) cur.peak_bytes = std::max(cur.peak_bytes, held_);
    }

    std::size_t sums_bytes() const {
        std::size_t b = 0;
        for (const auto& [k, v] : split_sums_) b += v.bytes();
        return b;
    }

    std::vector<ckks::Ciphertext> outputs() const {
        std::vector<ckks::Ciphertext> out(plan_.outputs.size());
        for (std::size_t k = 0; k < out.size(); ++k) {
            if (wire_[plan_.outputs[k]].empty() && part_ && ranks_->rank() != 0) continue;  // rank 0 has them
            if (wire_[plan_.outputs[k]].empty()) throw std::logic_error("Runtime: output wire " + std::to_string(plan_.outputs[k]) + " was not kept");
            out[k] = wire_[plan_.outputs[k]];  // copy: an output may repeat
        }
        return out;
    }

    const Runtime& rt_;
    const Plan& plan_;
    Source& src_;
    int top_;
    const Schedule sch_;
    std::vector<ckks::Ciphertext> wire_;
    std::vector<char> fetched_;  // per input: 0 not yet, 2 being fetched by this run of loads, 1 fetched
    detail::SpillStore store_;
    std::function<void(std::size_t, std::size_t)> waves_;  // RunOptions::waves
    std::size_t units_done_ = 0;
    std::map<std::pair<int, int>, GroupSums> split_sums_;  // of the split groups in progress, by (step, group)
    Ranks* ranks_ = nullptr;           // several ranks (RunOptions::ranks): this rank's units only
    std::optional<Partition> part_;
    std::vector<char> on_disk_ = std::vector<char>(static_cast<std::size_t>(plan_.wire_count()), 0);  // across ranks: spilled by this rank
    std::size_t held_ = 0, spilled_ = 0;  // bytes in memory, ciphertexts on disk
    Recorder rec_;
};

std::vector<ckks::Ciphertext> Runtime::execute(Source& src, int top, const RunOptions& opt, std::vector<StepRecord>* trace) const {
    if (top < plan_.depth || top > ctx_->max_level())
        throw std::invalid_argument("Runtime: inputs at level " + std::to_string(top) + ", the plan needs " + std::to_string(plan_.depth) +
                                    " levels and the parameters have " + std::to_string(ctx_->max_level()));
    return Execution(*this, src, top, opt, trace).run();
}

}  // namespace hecnn::he
