// Human-readable sizes and durations, for the reports the front ends print (the command
// line, the Python module).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace hecnn::io {

inline std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
    char buf[32];
    std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
    return buf;
}

inline std::string human_ms(double ms) {
    char buf[32];
    if (ms < 1) std::snprintf(buf, sizeof(buf), "%.1f µs", ms * 1e3);
    else if (ms < 1000) std::snprintf(buf, sizeof(buf), "%.2f ms", ms);
    else if (ms < 120000) std::snprintf(buf, sizeof(buf), "%.2f s", ms / 1e3);
    else std::snprintf(buf, sizeof(buf), "%.1f min", ms / 6e4);
    return buf;
}

}  // namespace hecnn::io
