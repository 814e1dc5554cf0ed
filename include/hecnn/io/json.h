// JSON from outside (plans, labels sidecars, service answers): nlohmann's parser and its
// destructor recurse per nesting level, so deep nesting is refused before parsing.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "hecnn/he/execution.h"

namespace hecnn::io {

// Throws ckks::FormatError naming `what` if the text is nested deeper than max_depth or is
// not JSON.
nlohmann::json parse_json_bounded(std::string_view text, const char* what, int max_depth = 16);

// A memory budget in reports: its bytes, or null for unlimited.
inline nlohmann::json budget_json(const he::MemoryBudget& m) { return m.is_unlimited() ? nlohmann::json(nullptr) : nlohmann::json(m.bytes()); }

}  // namespace hecnn::io
