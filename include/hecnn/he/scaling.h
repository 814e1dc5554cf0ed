// What R ranks (ranks.h) evaluating one plan together would take, predicted from the plan
// alone: the simulator's cost of every unit and memory action (simulator.h), the
// partition that says which rank does each (partition.h), and the network between them
// (network.h). For machines we do not have: `hecnn plan --ranks 1,2,…,64 --net 10Gbit`.
//
// The model is the runtime's, bulk synchronous: every rank follows the same schedule; in
// each wave it does the memory actions on the wires it holds (loads of the inputs its
// units read, spills, drops) and computes its own units, then the wave's outputs are
// exchanged, and the next wave starts when the slowest rank is done — the runtime does not
// overlap the exchange with compute, and neither does this. A wave's exchange takes, on
// the slowest rank, max(bytes it sends, bytes it receives) / bandwidth (full duplex, one
// link per rank, no contention in the switch) + (messages it sends + receives) × latency.
// The CPU time of serialising and checking the exchanged ciphertexts is not counted.
// Each rank runs with the given threads and memory budget (one rank per machine), under
// the one schedule of the whole plan, as the runtime does (spills are decided for the
// whole plan; a rank spills only the wires it holds).
//
// Memory per rank: the ciphertexts it holds — the wires its units make or read, the plan
// outputs on rank 0, a split group's running sums on its owner, the inputs from their
// first load — counted as the schedule counts them (at a wave: what is held plus what
// the wave makes and receives). With one rank it is the schedule's peak, and the time is
// the single-process simulator's exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/he/network.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/rates.h"
#include "hecnn/he/simulator.h"

namespace hecnn::he {

struct RankShare {
    double busy_seconds = 0;          // its units and memory actions (no exchange, no waiting)
    std::size_t peak_bytes = 0;       // ciphertexts held at most
    std::size_t spill_bytes = 0;      // written to its disk
    std::uint64_t sent_bytes = 0, received_bytes = 0;  // serialised ciphertexts (as predict_exchange counts them)
    std::uint64_t messages = 0;       // ciphertexts it sends or receives
};

struct RanksPrediction {
    int ranks = 1;
    Network net;
    double seconds = 0;               // one batch: compute + exchange + first touch
    double compute_seconds = 0;       // Σ over waves of the busiest rank's work
    double single_unit_seconds = 0;   // of it, in waves of one unit (a one-group layer, a split group's part): on one rank whatever R
    double exchange_seconds = 0;      // Σ over waves of the slowest rank's exchange
    double first_touch_seconds = 0;   // the slowest rank's (0 when warm)
    std::uint64_t bytes_exchanged = 0, messages = 0;  // all ranks
    std::size_t peak_bytes = 0;       // the fullest rank's
    std::vector<RankShare> rank;
};

// For each R of `ranks` (each ≥ 1) and each network of `nets`, in that order (R outer).
// opt as simulate takes it (a default budget is resolved once, here). Throws
// std::invalid_argument for R < 1 or no networks, and as simulate does.
std::vector<RanksPrediction> predict_ranks(const Plan& plan, const ckks::Context& ctx, const Rates& rates, const SimulateOptions& opt,
                                           std::span<const int> ranks, std::span<const Network> nets);

}  // namespace hecnn::he
