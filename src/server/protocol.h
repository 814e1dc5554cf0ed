// JSON shapes shared by the HTTP server and client (protocol v1).
#pragma once

#include <nlohmann/json.hpp>

#include "hecnn/server/service.h"

namespace hecnn::server::protocol {

inline constexpr const char* kPrefix = "/v1";
// Bytes of a JSON answer the client reads at most (statuses and errors are small).
inline constexpr std::size_t kMaxJsonBytes = 1 << 20;

// Field reads that check the JSON type first (throw std::runtime_error naming the field).
std::uint64_t get_count(const nlohmann::json& j, const char* key);
double get_real(const nlohmann::json& j, const char* key);  // finite
// Fields newer than some writers (older servers' answers, older status files): `fallback`
// when absent, checked as above when present.
std::uint64_t get_count_or(const nlohmann::json& j, const char* key, std::uint64_t fallback);
double get_real_or(const nlohmann::json& j, const char* key, double fallback);
std::string get_text(const nlohmann::json& j, const char* key);

nlohmann::json to_json(const JobStatus& s);
JobStatus job_status_from_json(const nlohmann::json& j);  // throws on a malformed answer
nlohmann::json to_json(const Health& h);

}  // namespace hecnn::server::protocol
