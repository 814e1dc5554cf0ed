// Which rank computes which unit when R ranks evaluate one plan (ranks.h), and what that
// costs in bytes exchanged.
//
// The work is the schedule's (schedule.h): each wave's units — the output ciphertexts of a
// square step, the linear groups (output channels at one position) of a linear step — are
// independent. A wave of a linear step is cut into R contiguous blocks of about equal cost
// (MACs of a group): neighbouring positions of a conv read overlapping inputs, so fewer
// wires cross. A square or product unit goes to the rank that computed its (first)
// operand: a layer's activation needs no exchange. A wave of a single unit (a dense layer
// made of one group, or a part of a split group, whose parts carry partial sums from one
// wave to the next and so stay on one rank) goes to the rank that computed most of the
// group's inputs, rank 0 on a tie. Every rank computes the same partition from the same
// plan and schedule: nothing about it is exchanged.
//
// Exchange: after each wave its owner sends each output ciphertext to the ranks that read
// it — the owners of the units that take it as an input, and rank 0 for a plan output
// (rank 0 writes the result) — and to no other. A rank holds only the wires it computes
// or reads, and loads only the inputs its units read. predict_exchange counts those bytes
// from the plan alone — the serialised size of a wire follows from its level and size
// (ckks/serialize.h "Sizes") — so the simulator can cost a partition before a run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/schedule.h"

namespace hecnn::he {

class Partition {
public:
    // Throws std::invalid_argument unless ranks ≥ 1.
    Partition(const Plan& plan, const Schedule& sch, int ranks);
    int ranks() const { return ranks_; }
    int owner(std::size_t unit) const { return owner_[unit]; }  // index into sch.units()
    // Whether `rank` needs wire w: it owns a unit reading w, or w is a plan output and
    // rank is 0. (The producer of w has it as well, needed or not.)
    bool reads(int rank, int w) const {
        return (reads_[static_cast<std::size_t>(w) * words_ + static_cast<std::size_t>(rank) / 64] >> (rank % 64)) & 1;
    }
    // Fingerprint of the partition and of the schedule it was made from (Ranks::agree).
    std::uint64_t fingerprint() const { return fingerprint_; }

private:
    int ranks_ = 1;
    std::vector<int> owner_;
    std::size_t words_ = 1;             // per wire: a bit per rank
    std::vector<std::uint64_t> reads_;
    std::uint64_t fingerprint_ = 0;
};

// Bytes of one ciphertext at `level` with `size` polynomials, serialised in full form
// without compression (Backend::serialize of the CPU backend).
std::size_t serialized_bytes(const ckks::Context& ctx, int level, int size);

struct ExchangePrediction {
    std::vector<std::uint64_t> sent;  // per rank: bytes it sends
    std::vector<std::uint64_t> step;  // per plan step: bytes sent for its outputs, all ranks
    std::uint64_t messages = 0;       // ciphertexts sent, all ranks
    std::uint64_t total() const;
};

// The bytes the runtime sends running `sch` on `part` (inputs at level `top`).
ExchangePrediction predict_exchange(const Plan& plan, const Schedule& sch, const Partition& part, const ckks::Context& ctx, int top);

}  // namespace hecnn::he
