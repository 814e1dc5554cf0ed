#include "hecnn/he/partition.h"

#include <algorithm>
#include <map>
#include <span>
#include <numeric>
#include <stdexcept>
#include <string>

#include "hecnn/ckks/serialize.h"

namespace hecnn::he {
namespace {

// FNV-1a over 64-bit words: a fingerprint, not a checksum against an adversary (the
// ranks are one job's processes).
struct Fnv {
    std::uint64_t h = 1469598103934665603ull;
    void add(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
};

// A unit's share of its wave's work: MACs of a linear group's slice (at least one per
// output: the rescales), one per square.
double cost(const Plan& plan, const Unit& u) {
    const Step& st = plan.steps[u.step];
    if (st.kind == Step::Kind::Square) return 1;
    const auto outs = static_cast<double>(st.groups[u.item].outputs.size());
    return outs * static_cast<double>(u.end - u.begin) + outs;
}

}  // namespace

Partition::Partition(const Plan& plan, const Schedule& sch, int ranks) : ranks_(ranks) {
    if (ranks < 1) throw std::invalid_argument("Partition: " + std::to_string(ranks) + " ranks");
    const auto& units = sch.units();
    owner_.assign(units.size(), 0);
    std::vector<int> made_by(static_cast<std::size_t>(plan.wire_count()), -1);  // rank that computed each wire
    std::map<std::pair<int, int>, int> group_owner;                                // of one-unit waves, by (step, item)
    for (const Action& a : sch.actions()) {
        if (a.kind != Action::Kind::Run) continue;
        // An element-wise step (square, product) follows the rank that made its operand:
        // nothing to send between a layer and its activation.
        if (plan.steps[units[a.first].step].kind == Step::Kind::Square) {
            bool follow = true;
            for (std::size_t i = a.first; i < a.last && follow; ++i) follow = made_by[sch.inputs(units[i])[0]] >= 0;
            if (follow) {
                for (std::size_t i = a.first; i < a.last; ++i) {
                    owner_[i] = made_by[sch.inputs(units[i])[0]];
                    for (int w : sch.outputs(units[i])) made_by[w] = owner_[i];
                }
                continue;
            }
        }
        // A wave of one unit (a dense layer's single group; each part of a split group):
        // computed where most of its group's inputs already are (rank 0 on a tie: it
        // writes the plan outputs), all parts of a split group on the rank of its first.
        if (a.last - a.first == 1) {
            const Unit& u = units[a.first];
            const auto key = std::make_pair(u.step, u.item);
            if (u.part == 0) {
                std::vector<std::size_t> held(static_cast<std::size_t>(ranks), 0);
                for (int w : plan.steps[u.step].kind == Step::Kind::Square ? sch.inputs(u) : std::span<const int>(plan.steps[u.step].groups[u.item].inputs))
                    if (made_by[w] >= 0) ++held[static_cast<std::size_t>(made_by[w])];
                group_owner[key] = static_cast<int>(std::max_element(held.begin(), held.end()) - held.begin());
            }
            owner_[a.first] = group_owner.at(key);
            for (int w : sch.outputs(u)) made_by[w] = owner_[a.first];
            continue;
        }
        double total = 0;
        for (std::size_t i = a.first; i < a.last; ++i) total += cost(plan, units[i]);
        double before = 0;
        for (std::size_t i = a.first; i < a.last; ++i) {
            const double c = cost(plan, units[i]);
            // The rank whose block holds the middle of this unit's cost.
            const double mid = total > 0 ? (before + c / 2) / total : 0;
            owner_[i] = std::min(ranks - 1, static_cast<int>(mid * ranks));
            for (int w : sch.outputs(units[i])) made_by[w] = owner_[i];
            before += c;
        }
    }
    words_ = (static_cast<std::size_t>(ranks) + 63) / 64;
    reads_.assign(static_cast<std::size_t>(plan.wire_count()) * words_, 0);
    auto mark = [&](int rank, int w) { reads_[static_cast<std::size_t>(w) * words_ + static_cast<std::size_t>(rank) / 64] |= std::uint64_t{1} << (rank % 64); };
    for (std::size_t i = 0; i < units.size(); ++i)
        for (int w : sch.inputs(units[i])) mark(owner_[i], w);
    for (int w : plan.outputs) mark(0, w);
    Fnv f;
    f.add(static_cast<std::uint64_t>(ranks));
    f.add(units.size());
    for (const Unit& u : units) f.add(static_cast<std::uint64_t>(u.step)), f.add(static_cast<std::uint64_t>(u.item)), f.add(u.begin), f.add(u.end);
    for (const Action& a : sch.actions()) {
        f.add(static_cast<std::uint64_t>(a.kind)), f.add(static_cast<std::uint64_t>(a.step)), f.add(static_cast<std::uint64_t>(a.wire));
        f.add(static_cast<std::uint64_t>(a.level)), f.add(a.first), f.add(a.last);
    }
    for (int o : owner_) f.add(static_cast<std::uint64_t>(o));
    fingerprint_ = f.h;
}

std::size_t serialized_bytes(const ckks::Context& ctx, int level, int size) {
    std::size_t limbs = 0;
    for (int i = 0; i <= level; ++i) limbs += (ctx.n() * static_cast<std::size_t>(ctx.data_moduli()[i].bits()) + 7) / 8;
    return ckks::kHeaderSize + 12 + static_cast<std::size_t>(size) * limbs;  // header, meta, packed polys
}

std::uint64_t ExchangePrediction::total() const { return std::accumulate(sent.begin(), sent.end(), std::uint64_t{0}); }

ExchangePrediction predict_exchange(const Plan& plan, const Schedule& sch, const Partition& part, const ckks::Context& ctx, int top) {
    ExchangePrediction p;
    p.sent.assign(static_cast<std::size_t>(part.ranks()), 0);
    p.step.assign(plan.steps.size(), 0);
    const auto& units = sch.units();
    for (const Action& a : sch.actions()) {
        if (a.kind != Action::Kind::Run) continue;
        for (std::size_t i = a.first; i < a.last; ++i)
            for (int w : sch.outputs(units[i])) {
                std::uint64_t to = 0;
                for (int r = 0; r < part.ranks(); ++r) to += r != part.owner(i) && part.reads(r, w);
                const std::uint64_t b = serialized_bytes(ctx, plan.wire_level(w, top), plan.wire_size[w]) * to;
                p.sent[static_cast<std::size_t>(part.owner(i))] += b;
                p.step[static_cast<std::size_t>(units[i].step)] += b;
                p.messages += to;
            }
    }
    return p;
}

}  // namespace hecnn::he
