#include "hecnn/he/scaling.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "hecnn/he/partition.h"
#include "hecnn/he/schedule.h"

namespace hecnn::he {
namespace {

// One rank count: the schedule's actions followed on every rank (which wires it holds,
// what it does and sends), the clocks kept per network.
class Replay {
public:
    Replay(const Plan& plan, const ckks::Context& ctx, const Schedule& sch, const Prediction& one, const Rates& rates,
           const SimulateOptions& opt, int top, int ranks, std::span<const Network> nets)
        : plan_(plan), ctx_(ctx), sch_(sch), one_(one), rates_(rates), opt_(opt), top_(top), R_(ranks), nets_(nets), part_(plan, sch, ranks) {}

    std::vector<RanksPrediction> run() {
        const std::size_t W = static_cast<std::size_t>(plan_.wire_count()), R = static_cast<std::size_t>(R_);
        state_.assign(W * R, kAbsent);
        cur_.resize(W);
        for (int w = 0; w < plan_.wire_count(); ++w) cur_[static_cast<std::size_t>(w)] = plan_.wire_level(w, top_);
        share_.assign(R, {});
        held_.assign(R, 0);
        initial_.assign(R, 0);
        busy_.assign(R, 0);
        clock_.assign(nets_.size() * R, 0);
        fetched_.assign(static_cast<std::size_t>(plan_.input_count), opt_.exec.lazy_inputs ? 0 : 1);
        // Held inputs (not lazy): every rank is handed all of them, as the runtime is.
        if (!opt_.exec.lazy_inputs)
            for (int w = 0; w < plan_.input_count; ++w)
                for (int r = 0; r < R_; ++r) hold(r, w);
        const auto& acts = sch_.actions();
        for (std::size_t ai = 0; ai < acts.size(); ++ai) {
            const Action& a = acts[ai];
            // The held inputs as the first step starts (after their drops and frees): the
            // schedule's initial bytes.
            if (!started_ && a.kind != Action::Kind::Drop && a.kind != Action::Kind::Free) start();
            if (a.kind == Action::Kind::Run) wave(a);
            else memory(a, one_.action_seconds[ai]);
        }
        start();
        std::vector<RanksPrediction> out;
        for (std::size_t n = 0; n < nets_.size(); ++n) {
            RanksPrediction p;
            p.ranks = R_, p.net = nets_[n], p.rank = share_;
            p.compute_seconds = compute_, p.single_unit_seconds = single_;
            p.exchange_seconds = exchange_[n];
            for (std::size_t r = 0; r < R; ++r) {
                p.seconds = std::max(p.seconds, clock_[n * R + r]);
                p.bytes_exchanged += share_[r].sent_bytes, p.messages += share_[r].messages;
                p.peak_bytes = std::max(p.peak_bytes, share_[r].peak_bytes);
                p.first_touch_seconds = std::max(p.first_touch_seconds, first_touch(r));
            }
            p.messages /= 2;  // each counted by its sender and its receiver
            p.seconds += p.first_touch_seconds;
            out.push_back(std::move(p));
        }
        return out;
    }

private:
    enum State : std::uint8_t { kAbsent, kHeld, kSpilled };

    std::uint8_t& state(int r, int w) { return state_[static_cast<std::size_t>(w) * static_cast<std::size_t>(R_) + static_cast<std::size_t>(r)]; }
    std::size_t bytes(int w) const { return Schedule::bytes(cur_[static_cast<std::size_t>(w)], plan_.wire_size[w], ctx_.n()); }
    void hold(int r, int w) { state(r, w) = kHeld, held_[static_cast<std::size_t>(r)] += bytes(w); }
    void release(int r, int w, State to) { state(r, w) = to, held_[static_cast<std::size_t>(r)] -= bytes(w); }
    void peak(int r) { auto& s = share_[static_cast<std::size_t>(r)]; s.peak_bytes = std::max(s.peak_bytes, held_[static_cast<std::size_t>(r)]); }
    // Rank r spends `s` seconds: on its clock under every network, and in this wave.
    void spend(int r, double s) {
        share_[static_cast<std::size_t>(r)].busy_seconds += s, busy_[static_cast<std::size_t>(r)] += s;
        for (std::size_t n = 0; n < nets_.size(); ++n) clock_[n * static_cast<std::size_t>(R_) + static_cast<std::size_t>(r)] += s;
    }
    void start() {
        if (started_) return;
        started_ = true;
        for (int r = 0; r < R_; ++r) initial_[static_cast<std::size_t>(r)] = held_[static_cast<std::size_t>(r)], peak(r);
    }
    double first_touch(std::size_t r) const {
        const std::size_t warm = std::max(opt_.warm_bytes, initial_[r]), peak = share_[r].peak_bytes;
        return warm >= peak ? 0.0 : rates_.first_touch_ms_per_gib * 1e-3 * static_cast<double>(peak - warm) / std::ldexp(1.0, 30);
    }

    // A load, spill, drop or free, on the ranks that have the wire (runtime.cpp skips it
    // on the others); an input's first load on the ranks whose units read it.
    void memory(const Action& a, double seconds) {
        const int w = a.wire;
        const bool fetch = a.kind == Action::Kind::Load && w < plan_.input_count && !fetched_[static_cast<std::size_t>(w)];
        if (fetch) fetched_[static_cast<std::size_t>(w)] = 1;
        for (int r = 0; r < R_; ++r) {
            const std::uint8_t s = state(r, w);
            switch (a.kind) {
                case Action::Kind::Load:
                    if (fetch ? !part_.reads(r, w) : s != kSpilled) continue;
                    cur_[static_cast<std::size_t>(w)] = a.level;
                    hold(r, w);
                    peak(r);
                    break;
                case Action::Kind::Spill:
                    if (s != kHeld) continue;
                    share_[static_cast<std::size_t>(r)].spill_bytes += bytes(w);
                    release(r, w, kSpilled);
                    break;
                case Action::Kind::Drop:
                    if (s != kHeld) continue;
                    held_[static_cast<std::size_t>(r)] -= bytes(w) - Schedule::bytes(a.level, plan_.wire_size[w], ctx_.n());
                    break;
                case Action::Kind::Free:
                    if (s == kHeld) release(r, w, kAbsent);
                    continue;  // (no time)
                case Action::Kind::Run: continue;
            }
            spend(r, seconds);
        }
        if (a.kind == Action::Kind::Drop || a.kind == Action::Kind::Load) cur_[static_cast<std::size_t>(w)] = a.level;
    }

    // A wave: each rank computes its units, then the outputs go to the ranks that read
    // them; the next wave starts when the slowest rank is done with both.
    void wave(const Action& a) {
        const auto& units = sch_.units();
        const std::size_t R = static_cast<std::size_t>(R_);
        std::vector<std::size_t> made(R, 0), received(R, 0);
        std::vector<std::uint64_t> out(R, 0), in(R, 0), msgs(R, 0);
        for (std::size_t i = a.first; i < a.last; ++i) {
            const Unit& u = units[i];
            const int o = part_.owner(i);
            const auto uo = static_cast<std::size_t>(o);
            spend(o, one_.unit_seconds[i]);
            if (u.split() && u.part == 0) made[uo] += sch_.accumulator_bytes(plan_.steps[u.step].groups[u.item]);
            for (int w : sch_.outputs(u)) {
                made[uo] += bytes(w);
                const std::uint64_t b = serialized_bytes(ctx_, plan_.wire_level(w, top_), plan_.wire_size[w]);
                for (int r = 0; r < R_; ++r) {
                    if (r == o || !part_.reads(r, w)) continue;
                    const auto ur = static_cast<std::size_t>(r);
                    received[ur] += bytes(w);
                    out[uo] += b, in[ur] += b, ++msgs[uo], ++msgs[ur];
                }
            }
        }
        // Memory: what each rank holds, plus what the wave makes and receives.
        for (std::size_t r = 0; r < R; ++r) {
            auto& s = share_[r];
            s.peak_bytes = std::max(s.peak_bytes, held_[r] + made[r] + received[r]);
            s.sent_bytes += out[r], s.received_bytes += in[r], s.messages += msgs[r];
        }
        for (std::size_t i = a.first; i < a.last; ++i) {
            const Unit& u = units[i];
            const int o = part_.owner(i);
            if (u.split()) {  // the running sums, made by the first part, finished by the last
                const std::size_t acc = sch_.accumulator_bytes(plan_.steps[u.step].groups[u.item]);
                if (u.part == 0) held_[static_cast<std::size_t>(o)] += acc;
                if (u.last()) held_[static_cast<std::size_t>(o)] -= acc;
            }
            for (int w : sch_.outputs(u))
                for (int r = 0; r < R_; ++r)
                    if (r == o || part_.reads(r, w)) hold(r, w);
        }
        const double busiest = *std::max_element(busy_.begin(), busy_.end());
        compute_ += busiest;
        if (a.last - a.first == 1) single_ += busiest;
        std::fill(busy_.begin(), busy_.end(), 0.0);
        for (std::size_t n = 0; n < nets_.size(); ++n) {
            const double bps = nets_[n].bytes_per_second(), lat = nets_[n].latency_seconds;
            double slowest = 0;
            for (std::size_t r = 0; r < R; ++r)
                slowest = std::max(slowest, static_cast<double>(std::max(out[r], in[r])) / bps + static_cast<double>(msgs[r]) * lat);
            const auto clocks = std::span(clock_).subspan(n * R, R);
            const double t = *std::max_element(clocks.begin(), clocks.end()) + slowest;
            std::fill(clocks.begin(), clocks.end(), t);
            exchange_[n] += slowest;
        }
    }

    const Plan& plan_;
    const ckks::Context& ctx_;
    const Schedule& sch_;
    const Prediction& one_;
    const Rates& rates_;
    const SimulateOptions& opt_;
    int top_, R_;
    std::span<const Network> nets_;
    Partition part_;
    std::vector<std::uint8_t> state_;  // per wire and rank
    std::vector<int> cur_;             // each wire's level now
    std::vector<char> fetched_;
    std::vector<RankShare> share_;
    std::vector<std::size_t> held_, initial_;
    std::vector<double> busy_;         // per rank, in the current wave
    std::vector<double> clock_;        // per network and rank
    std::vector<double> exchange_ = std::vector<double>(nets_.size(), 0.0);
    double compute_ = 0, single_ = 0;
    bool started_ = false;
};

}  // namespace

std::vector<RanksPrediction> predict_ranks(const Plan& plan, const ckks::Context& ctx, const Rates& rates, const SimulateOptions& opt,
                                           std::span<const int> ranks, std::span<const Network> nets) {
    if (nets.empty()) throw std::invalid_argument("predict_ranks: no network given");
    for (int r : ranks)
        if (r < 1) throw std::invalid_argument("predict_ranks: " + std::to_string(r) + " ranks");
    SimulateOptions so = opt;
    so.exec = opt.exec.resolved();  // once: the simulator's schedule and this one are the same
    const int top = so.input_level < 0 ? ctx.max_level() : so.input_level;
    const Prediction one = simulate(plan, ctx, rates, so);
    const Schedule sch(plan, top, ctx.n(), so.exec);
    if (one.unit_seconds.size() != sch.units().size() || one.action_seconds.size() != sch.actions().size())
        throw std::logic_error("predict_ranks: the simulator's schedule differs from this one");
    std::vector<RanksPrediction> out;
    for (int r : ranks) {
        auto p = Replay(plan, ctx, sch, one, rates, so, top, r, nets).run();
        out.insert(out.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
    }
    return out;
}

}  // namespace hecnn::he
