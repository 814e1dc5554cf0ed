// The start of a process that evaluates plans (`hecnn serve`, `hecnn infer`, `hecnn bench
// infer`, an MPI rank, a Python module's first call): its OpenMP threads, its allocator
// (memory.h: freed ciphertexts' pages reused, one arena, huge pages), its memory budget
// resolved, and optionally the first job's memory faulted in, in one call made once,
// before any other thread starts, so that every front end starts the same way.
#pragma once

#include <cstddef>

#include "hecnn/he/execution.h"

namespace hecnn::he {

struct InferenceProcess {
    ExecutionOptions exec;              // resolved: the budget's bytes and the thread count fixed
    std::size_t prefaulted_bytes = 0;   // min(prefault_bytes, the budget)
    double prefault_seconds = 0;
};

// exec.threads > 0: exactly that many OpenMP threads for this thread's parallel regions
// (dynamic adjustment off); 0 leaves OpenMP's default. Then configure_allocator_for_inference,
// exec.resolved(), and prefault_heap of `prefault_bytes` (a server: its plan's predicted
// peak), never beyond the resolved budget.
InferenceProcess start_inference_process(const ExecutionOptions& exec, std::size_t prefault_bytes = 0);

}  // namespace hecnn::he
