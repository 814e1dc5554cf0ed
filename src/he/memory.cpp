#include "hecnn/he/memory.h"

#include <malloc.h>
#include <sys/resource.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <vector>

#include "hecnn/math/aligned_vector.h"

namespace hecnn::he {
namespace {

// "Key:   1234 kB" lines of a /proc file, in bytes.
std::size_t proc_kb_field(const char* file, const std::string& key) {
    std::ifstream f(file);
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key, 0) == 0) return static_cast<std::size_t>(std::stoull(line.substr(key.size()))) * 1024;
    return 0;
}

}  // namespace

std::size_t mem_available_bytes() { return proc_kb_field("/proc/meminfo", "MemAvailable:"); }

std::size_t parse_byte_size(const std::string& text) {
    std::size_t pos = 0;
    double v = 0;
    try {
        v = std::stod(text, &pos);
    } catch (const std::exception&) {
        throw std::invalid_argument("not a byte size: '" + text + "' (e.g. 2G, 512M, 123456)");
    }
    while (pos < text.size() && text[pos] == ' ') ++pos;  // "8 GiB", as MemoryBudget::describe prints
    std::string unit = text.substr(pos);
    for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (unit.size() >= 2 && unit.substr(unit.size() - 2) == "IB") unit.resize(unit.size() - 2);
    else if (!unit.empty() && unit.back() == 'B') unit.pop_back();
    const std::string units = "KMGT";
    double mult = 1;
    if (unit.size() == 1 && units.find(unit[0]) != std::string::npos) mult = std::ldexp(1.0, 10 * (1 + static_cast<int>(units.find(unit[0]))));
    else if (!unit.empty()) throw std::invalid_argument("unknown unit in byte size '" + text + "' (use K, M, G or T)");
    const double bytes = v * mult;
    if (!(bytes >= 0) || bytes > 1.8e19) throw std::invalid_argument("byte size out of range: '" + text + "'");
    return static_cast<std::size_t>(bytes);
}

void configure_allocator_for_inference() {
    math::set_buffer_cache_limit(0);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum (HEAP_MAX_SIZE / 2); also stops its dynamic threshold
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    // One arena (the brk heap) for every thread: the pages a job's threads freed serve
    // the next job whichever thread asks (glibc unmaps a thread arena's free heaps), and
    // the heap grows in 64 MiB steps, advised for huge pages as it grows.
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TOP_PAD, 64 << 20);
    math::set_huge_pages(true);
}

void prefault_heap(std::size_t bytes) {
    // Blocks well below the mmap threshold (so they stay in the heap when freed), taken
    // through the engine's allocation (advised for huge pages before the first touch).
    constexpr std::size_t kBlock = std::size_t{16} << 20;
    std::vector<void*> blocks;
    blocks.reserve(bytes / kBlock + 1);
    try {
        for (std::size_t got = 0; got < bytes; got += kBlock) {
            auto* p = static_cast<unsigned char*>(math::aligned_acquire(kBlock));
            blocks.push_back(p);
            for (std::size_t i = 0; i < kBlock; i += 4096) p[i] = 0;
        }
    } catch (const std::bad_alloc&) {
        // less than asked for: what was taken is faulted in all the same
    }
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) math::aligned_release(*it, kBlock);
}

std::size_t peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<std::size_t>(u.ru_maxrss) * 1024;  // Linux: kilobytes
}

bool reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return false;
    f << "5";
    f.flush();
    return static_cast<bool>(f);
}

std::size_t vm_hwm_bytes() { return proc_kb_field("/proc/self/status", "VmHWM:"); }
std::size_t vm_rss_bytes() { return proc_kb_field("/proc/self/status", "VmRSS:"); }

}  // namespace hecnn::he
