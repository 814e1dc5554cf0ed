// The order of work and the memory policy of a plan's evaluation. The simulator and the
// runtime both follow one Schedule, so the prediction makes exactly the runtime's
// decisions.
//
// Work is cut into units — one square, or one linear group — in plan order, run in
// "waves" of at most wave_units consecutive units of one step (the runtime runs a wave's
// units in parallel). Around the waves the schedule places memory actions:
//  - Free a wire after the wave that holds its last consumer, not at the end of the step
//    (a conv's inputs go as the sweep over output positions passes them);
//  - Drop a wire to the highest level its remaining consumers read it at as soon as that
//    is below its level (fewer limbs: fewer bytes, cheaper MACs) — e.g. an activation's
//    x after its square, when only the next layer's b·x term still reads it;
//  - under a memory budget, Spill wires to disk before a wave whose inputs and outputs
//    would not fit otherwise — the wire whose next use is farthest first (Belady) — and
//    Load them back before the wave that reads them. The plan outputs may be spilled too
//    and are loaded at the end;
//  - with lazy inputs, Load each input from the caller's provider before its first use
//    instead of holding all of them from the start.
// A linear group too large for a quarter of the budget (e.g. a SqueezeNet squeeze conv
// reading 1152 ciphertexts of 13 MiB) is split into parts over its inputs, each its own
// wave: part k adds Σ W·in over its slice of the inputs into the group's accumulators
// (one size-3 ciphertext at l+2 and/or one size-2 at l+1 per output, held from the first
// part to the last), and the last part finishes them into the outputs — so only one
// slice of the inputs has to be in memory at a time. Depth first, each part follows the
// producers of its own slice, so several groups may be in progress at once.
// The budget counts the ciphertexts held (size·(level+1)·N·8 bytes each), accumulators
// included, plus the outputs of the running wave; the engine's temporaries inside a unit
// are not counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "hecnn/he/execution.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/step_record.h"

namespace hecnn::he {

struct Unit {
    int step = 0;
    int item = 0;  // square: index into the step's inputs; linear: group index
    int part = 0, parts = 1;          // a split linear group: part `part` of `parts`
    std::size_t begin = 0, end = 0;   // linear: the slice of the group's inputs it reads
    bool split() const { return parts > 1; }
    bool last() const { return part + 1 == parts; }
};

struct Action {
    enum class Kind : std::uint8_t { Run, Load, Spill, Drop, Free };
    Kind kind = Kind::Run;
    int step = 0;                    // the step whose accounting it belongs to
    int wire = -1;                   // Load, Spill, Drop, Free
    int level = -1;                  // Drop: the new level; Load: the level it is kept at
    std::size_t first = 0, last = 0;  // Run: units [first, last)
};

class Schedule {
public:
    // top: the inputs' level; n: ring degree. opt.memory must be resolved or unlimited
    // (std::logic_error otherwise: the caller resolves once for prediction and run);
    // opt.spill_dir and opt.threads play no part here. Throws std::runtime_error naming
    // the step when one unit's inputs and outputs alone exceed the budget.
    Schedule(const Plan& plan, int top, std::size_t n, const ExecutionOptions& opt);

    static std::size_t bytes(int level, int size, std::size_t n) {
        return static_cast<std::size_t>(size) * static_cast<std::size_t>(level + 1) * n * sizeof(std::uint64_t);
    }

    const std::vector<Unit>& units() const { return units_; }
    const std::vector<Action>& actions() const { return actions_; }
    // Per step, its memory as predicted: the memory fields of StepRecord (the rest is the
    // simulator's).
    const std::vector<StepRecord>& steps() const { return steps_; }
    std::span<const int> inputs(const Unit& u) const;
    std::span<const int> outputs(const Unit& u) const;  // a split group's: at its last part only
    // Accumulators of a split group: per output one size-3 ciphertext at l+2 if it reads
    // lazy squares, one size-2 at l+1 if it reads size-2 wires (l: its output level).
    std::size_t accumulator_bytes(const LinearGroup& g) const;
    std::size_t peak_bytes() const { return peak_; }
    std::size_t initial_bytes() const { return initial_; }  // held before the first step
    std::size_t max_spilled_bytes() const { return max_spilled_; }  // on disk at once (in-memory bytes)
    const MemoryBudget& budget() const { return budget_; }
    bool depth_first() const { return depth_first_; }
    // Index of the last action of each step (its trace is complete after it); −1 if none.
    const std::vector<std::ptrdiff_t>& step_end() const { return step_end_; }

private:
    void split_group(int step, int item, std::size_t budget);
    void order_depth_first();
    void build(const ExecutionOptions& opt);

    const Plan& plan_;
    int top_ = 0;
    std::size_t n_ = 0;
    std::vector<Unit> units_;
    std::vector<Action> actions_;
    std::vector<StepRecord> steps_;
    std::vector<std::ptrdiff_t> step_end_;
    std::size_t peak_ = 0, initial_ = 0, max_spilled_ = 0;
    MemoryBudget budget_;
    bool depth_first_ = false;
};

}  // namespace hecnn::he
