#include "hecnn/he/step_record.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hecnn::he {
namespace {

// Each compared field once: its name and how to read it (as a double: byte counts stay
// exact below 2^53).
struct Field {
    const char* name;
    double (*get)(const StepRecord&);
    bool relative;  // compared within kScaleTolerance of each other
};

#define HECNN_FIELD(f, rel) Field{#f, [](const StepRecord& r) { return static_cast<double>(r.f); }, rel}
constexpr Field kFields[] = {
    HECNN_FIELD(level, false),       HECNN_FIELD(size, false),         HECNN_FIELD(min_scale, true),
    HECNN_FIELD(max_scale, true),    HECNN_FIELD(outputs, false),      HECNN_FIELD(peak_bytes, false),
    HECNN_FIELD(live, false),        HECNN_FIELD(live_bytes, false),   HECNN_FIELD(spilled, false),
    HECNN_FIELD(spill_bytes, false), HECNN_FIELD(load_bytes, false),   HECNN_FIELD(input_load_bytes, false),
    HECNN_FIELD(drop_bytes, false),  HECNN_FIELD(spills, false),       HECNN_FIELD(loads, false),
    HECNN_FIELD(drops, false),       HECNN_FIELD(macs, false),         HECNN_FIELD(squares, false),
    HECNN_FIELD(relins, false),      HECNN_FIELD(rescales, false),     HECNN_FIELD(input_loads, false),
};
#undef HECNN_FIELD

constexpr double kScaleTolerance = 1e-12;

}  // namespace

std::string FieldDifference::describe() const {
    char s[160];
    std::snprintf(s, sizeof s, "%s: predicted %.17g, measured %.17g", field.c_str(), predicted, measured);
    return s;
}

std::vector<FieldDifference> differences(const StepRecord& predicted, const StepRecord& measured) {
    std::vector<FieldDifference> out;
    for (const Field& f : kFields) {
        const double p = f.get(predicted), m = f.get(measured);
        const bool same = f.relative ? std::fabs(p - m) <= kScaleTolerance * std::max(std::fabs(p), std::fabs(m)) : p == m;
        if (!same) out.push_back({f.name, p, m});
    }
    return out;
}

}  // namespace hecnn::he
