#include "hecnn/he/execution.h"

#include <omp.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "hecnn/he/memory.h"

namespace hecnn::he {
namespace {

std::string lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

// Exact binary units where they divide ("8 GiB", "512 MiB"), else two decimals.
std::string human(std::size_t b) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (u < 5 && b >= (std::size_t{1} << (10 * (u + 1)))) ++u;
    const std::size_t unit = std::size_t{1} << (10 * u);
    char s[48];
    if (b % unit == 0) std::snprintf(s, sizeof s, "%zu %s", b / unit, units[u]);
    else std::snprintf(s, sizeof s, "%.2f %s", static_cast<double>(b) / static_cast<double>(unit), units[u]);
    return s;
}

// "60 % of MemAvailable": the default, in messages.
std::string default_text() { return std::to_string(static_cast<int>(MemoryBudget::kDefaultShare * 100 + 0.5)) + " % of MemAvailable"; }

std::string zero_refused(std::string_view text) {
    return "a memory budget of 0 bytes" + (text.empty() ? std::string() : " ('" + std::string(text) + "')") +
           " is refused: give a size (e.g. 8G, 512MiB), 'unlimited', or nothing for the default (" + default_text() + ")";
}

}  // namespace

MemoryBudget MemoryBudget::of(std::size_t bytes) {
    if (bytes == 0) throw std::invalid_argument(zero_refused({}));
    MemoryBudget m;
    m.kind_ = Kind::Bytes;
    m.bytes_ = bytes;
    return m;
}

MemoryBudget MemoryBudget::unlimited() {
    MemoryBudget m;
    m.kind_ = Kind::Unlimited;
    return m;
}

MemoryBudget MemoryBudget::parse(std::string_view text) {
    const std::string t = lower(text);
    if (t == "unlimited") return unlimited();
    if (t == "default") return {};
    std::size_t b = 0;
    try {
        b = parse_byte_size(std::string(text));
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("memory budget: ") + e.what() + ", or 'unlimited'");
    }
    if (b == 0) throw std::invalid_argument(zero_refused(text));
    return of(b);
}

MemoryBudget MemoryBudget::resolved() const {
    if (kind_ != Kind::Default) return *this;
    const std::size_t avail = mem_available_bytes();
    MemoryBudget m = of(avail ? static_cast<std::size_t>(static_cast<double>(avail) * kDefaultShare) : std::size_t{4} << 30);
    m.from_default_ = true;
    return m;
}

std::size_t MemoryBudget::bytes() const {
    if (kind_ == Kind::Default) throw std::logic_error("MemoryBudget: the default budget is used before it was resolved (call resolved() first)");
    return kind_ == Kind::Unlimited ? std::numeric_limits<std::size_t>::max() : bytes_;
}

MemoryBudget MemoryBudget::share(std::size_t parts) const {
    if (parts == 0) throw std::invalid_argument("MemoryBudget::share: no parts");
    const MemoryBudget r = resolved();
    if (r.is_unlimited() || parts == 1) return r;
    if (r.bytes_ / parts == 0)
        throw std::invalid_argument("memory budget " + r.describe() + " cannot be shared by " + std::to_string(parts) + " workers");
    MemoryBudget m = of(r.bytes_ / parts);
    m.from_default_ = r.from_default_;
    return m;
}

std::string MemoryBudget::describe() const {
    switch (kind_) {
    case Kind::Default: return default_text();
    case Kind::Unlimited: return "unlimited";
    case Kind::Bytes: break;
    }
    return human(bytes_) + (from_default_ ? " (" + default_text() + ")" : "");
}

ExecutionOptions ExecutionOptions::resolved() const {
    ExecutionOptions r = *this;
    r.memory = memory.resolved();
    if (r.threads <= 0) r.threads = omp_get_max_threads();
    return r;
}

}  // namespace hecnn::he
