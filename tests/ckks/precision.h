// Precision statistics (Lattigo-style): bits of precision per slot, -log2 |got - want|.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

namespace hecnn::test {

struct Precision {
    double min_bits = 0;   // worst slot
    double mean_bits = 0;  // average over slots
    double max_error = 0;
    std::string str() const {
        return "min " + std::to_string(min_bits) + " bits, mean " + std::to_string(mean_bits) + " bits, max error " + std::to_string(max_error);
    }
};

inline Precision precision(std::span<const double> got, std::span<const double> want) {
    Precision p;
    const std::size_t n = std::min(got.size(), want.size());
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double e = std::fabs(got[i] - want[i]);
        p.max_error = std::max(p.max_error, e);
        sum += -std::log2(std::max(e, 1e-300));
    }
    p.min_bits = -std::log2(std::max(p.max_error, 1e-300));
    p.mean_bits = n ? sum / n : 0;
    return p;
}

}  // namespace hecnn::test
