// Memory figures of this machine and process for the runtime's budget (Linux /proc).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

namespace hecnn::he {

// MemAvailable from /proc/meminfo (bytes; 0 if unknown).
std::size_t mem_available_bytes();
// "2G", "512M", "1.5GiB", "8 GiB", "300k", "123456" (powers of 1024; a trailing B or iB
// is optional). Throws std::invalid_argument with the offending text.
std::size_t parse_byte_size(const std::string& text);

// Process-wide allocator settings for a process that evaluates plans (bench infer, a
// server). The engine's buffer cache keeps freed blocks by exact size, but consecutive
// steps ask for other sizes (a level or a polynomial less), so within a run it mostly
// holds blocks nobody reuses (+1.0 GiB RSS on the CryptoNets batch). Instead: cache off,
// and glibc keeps every block below 32 MiB in its heap (no per-block mmap/munmap) and
// returns nothing below 2 GiB of free top: freed ciphertexts are reused by blocks of any
// size, and a second run reuses the first run's pages (no page faults: "warm"). All
// threads share one arena (a thread arena's freed heaps would be unmapped), and the heap
// is advised for transparent huge pages as it grows (math::set_huge_pages): a fresh
// process's first touch costs one fault per 2 MiB instead of per 4 KiB.
void configure_allocator_for_inference();

// After configure_allocator_for_inference: takes `bytes` from the heap, touches every
// page and gives them back, so that the first run of the process finds them faulted in
// already (a server does it once at start with its plan's predicted peak; its jobs then
// run warm from the first). The heap is never trimmed, so RSS stays at least `bytes`.
// Those bytes then count as held (WarmMemory::note_peak): the first run's prediction is warm.
void prefault_heap(std::size_t bytes);

// Ciphertext bytes a process has held at once so far, by the predicted peaks of the runs
// it made: with configure_allocator_for_inference a later run reuses that much memory
// without first-touch page faults (SimulateOptions::warm_bytes). Owned by the caller that
// makes the runs (bench infer's loop over batches), not hidden in the library; one per
// process is the truth, since the pages are the allocator's. Not thread-safe.
class WarmMemory {
public:
    std::size_t bytes() const { return bytes_; }
    void note_peak(std::size_t bytes) { bytes_ = std::max(bytes_, bytes); }

private:
    std::size_t bytes_ = 0;
};

// Peak resident set size of this process so far (getrusage), bytes.
std::size_t peak_rss_bytes();
// Reset the peak-RSS watermark (VmHWM, /proc/self/clear_refs); false if not possible.
bool reset_peak_rss();
// VmHWM (since the last reset) and VmRSS, bytes; 0 if unknown.
std::size_t vm_hwm_bytes();
std::size_t vm_rss_bytes();

}  // namespace hecnn::he
