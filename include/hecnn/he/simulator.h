// The simulator: predicts, without encrypting, what the runtime does at each step of a
// plan under given parameters — level, scale, ciphertext counts, memory under the
// budget (spilling included), operation counts — and the time, from kernel rates
// (he::Rates: this machine's, measured by `hecnn bench rates`). It follows the runtime's he::Schedule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/he/execution.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/rates.h"
#include "hecnn/he/schedule.h"
#include "hecnn/he/step_record.h"

namespace hecnn::he {

struct SimulateOptions {
    int input_level = -1;           // −1: the context's top level
    // Budget, threads (the work is assumed to divide evenly over them; 0: OpenMP's
    // default), waves, order, lazy inputs — as the run predicted will have them. A default
    // budget is resolved here; pass ExecutionOptions::resolved() to predict a run exactly.
    ExecutionOptions exec;
    // Bytes of ciphertext memory the process already holds from earlier runs (a warm
    // server reuses them, see configure_allocator_for_inference); the rest of the
    // predicted peak beyond the inputs held at the start is first-touched. SIZE_MAX: warm.
    std::size_t warm_bytes = SIZE_MAX;
};

struct Prediction {
    // Per step: the schedule's memory, and the levels, scales, counts and time predicted
    // here — the fields the runtime fills when it runs (step_record.h).
    std::vector<StepRecord> steps;
    std::size_t input_ciphertexts = 0, input_bytes = 0, input_bytes_seeded = 0;
    std::size_t output_ciphertexts = 0, output_bytes = 0;
    MemoryBudget memory_budget;     // the budget simulated (resolved)
    std::size_t peak_bytes = 0;     // ≤ budget unless the inputs alone exceed it
    std::size_t spill_bytes = 0, load_bytes = 0;  // total spill traffic
    bool depth_first = false;       // the schedule's unit order (schedule.h)
    std::int64_t macs = 0, squares = 0, relins = 0, rescales = 0;
    double first_touch_seconds = 0;  // included in seconds (0 when warm)
    double cold_first_touch_seconds = 0;  // what the first run of a process would add (warm_bytes 0)
    std::size_t max_spilled_bytes = 0;    // on disk at once (in-memory bytes; files are ~bits/64 of it)
    double seconds = 0;
    // The time of each unit of the schedule (Schedule::units) and of each of its actions
    // (Schedule::actions: a load, spill or drop; 0 for a Run, whose units carry it): what
    // steps[].seconds and seconds (before the first touch) add up, in action order.
    // predict_ranks (scaling.h) shares them out over ranks.
    std::vector<double> unit_seconds, action_seconds;
};

Prediction simulate(const Plan& plan, const ckks::Context& ctx, const Rates& rates, const SimulateOptions& opt);
// The inputs are encrypted at `input_level` (−1: the context's top level); times assume
// the work divides evenly over `threads` threads. Default budget, warm.
Prediction simulate(const Plan& plan, const ckks::Context& ctx, const Rates& rates, int input_level = -1, int threads = 1);

}  // namespace hecnn::he
