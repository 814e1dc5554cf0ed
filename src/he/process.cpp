// The start of a process that evaluates plans (process.h).
#include "hecnn/he/process.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

#include "hecnn/he/memory.h"

namespace hecnn::he {

InferenceProcess start_inference_process(const ExecutionOptions& exec, std::size_t prefault_bytes) {
    if (exec.threads > 0) {
        omp_set_dynamic(0);  // exactly the requested threads (measurements)
        omp_set_num_threads(exec.threads);
    }
    configure_allocator_for_inference();
    InferenceProcess p;
    p.exec = exec.resolved();
    if (prefault_bytes) {
        const auto t = std::chrono::steady_clock::now();
        p.prefaulted_bytes = std::min(prefault_bytes, p.exec.memory.bytes());
        prefault_heap(p.prefaulted_bytes);
        p.prefault_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }
    return p;
}

}  // namespace hecnn::he
