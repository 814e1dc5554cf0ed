#include "protocol.h"

#include <cmath>

namespace hecnn::server::protocol {

// Checked field reads: nlohmann's get<integer>() of a float is an unchecked cast (undefined
// behaviour beyond the integer's range: found by fuzz_service_answer).
std::uint64_t get_count(const nlohmann::json& j, const char* key) {
    const auto& v = j.at(key);
    if (!v.is_number_unsigned()) throw std::runtime_error(std::string("\"") + key + "\" is not a non-negative integer");
    return v.get<std::uint64_t>();
}
double get_real(const nlohmann::json& j, const char* key) {
    const auto& v = j.at(key);
    if (!v.is_number()) throw std::runtime_error(std::string("\"") + key + "\" is not a number");
    const double d = v.get<double>();
    if (!std::isfinite(d)) throw std::runtime_error(std::string("\"") + key + "\" is not finite");
    return d;
}
std::uint64_t get_count_or(const nlohmann::json& j, const char* key, std::uint64_t fallback) {
    return j.contains(key) ? get_count(j, key) : fallback;
}
double get_real_or(const nlohmann::json& j, const char* key, double fallback) { return j.contains(key) ? get_real(j, key) : fallback; }
std::string get_text(const nlohmann::json& j, const char* key) {
    const auto& v = j.at(key);
    if (!v.is_string()) throw std::runtime_error(std::string("\"") + key + "\" is not a string");
    return v.get<std::string>();
}

nlohmann::json to_json(const JobStatus& s) {
    return {{"job", s.id},         {"state", to_string(s.state)},   {"samples", s.samples},
            {"step", s.step},      {"steps", s.steps},              {"units", s.units},  {"units_total", s.units_total},
            {"elapsed_seconds", s.elapsed},
            {"remaining_seconds", s.remaining}, {"server_seconds", s.server_seconds}, {"predicted_seconds", s.predicted_seconds},
            {"result_bytes", s.result_bytes},   {"error", s.error}};
}

JobStatus job_status_from_json(const nlohmann::json& j) {
    JobStatus s;
    s.id = get_text(j, "job");
    const auto st = get_text(j, "state");
    bool known = false;
    for (JobState k : {JobState::queued, JobState::running, JobState::done, JobState::failed})
        if (st == to_string(k)) s.state = k, known = true;
    if (!known) throw std::runtime_error("the server answered an unknown job state \"" + st + "\"");
    s.samples = get_count(j, "samples");
    s.step = get_count(j, "step");
    s.steps = get_count(j, "steps");
    s.units = get_count_or(j, "units", 0);  // (absent from an older server's answers)
    s.units_total = get_count_or(j, "units_total", 0);
    if (s.units > s.units_total) throw std::runtime_error("the server answered " + std::to_string(s.units) + " of " + std::to_string(s.units_total) + " units");
    s.elapsed = get_real(j, "elapsed_seconds");
    s.remaining = get_real(j, "remaining_seconds");
    s.server_seconds = get_real(j, "server_seconds");
    s.predicted_seconds = get_real_or(j, "predicted_seconds", 0);
    s.result_bytes = get_count(j, "result_bytes");
    s.error = get_text(j, "error");
    return s;
}

nlohmann::json to_json(const Health& h) {
    return {{"status", h.accepting ? "ok" : "shutting down"},
            {"accepting", h.accepting},
            {"sessions", h.sessions},
            {"jobs", {{"queued", h.queued}, {"running", h.running}, {"done", h.done}, {"failed", h.failed}}}};
}

}  // namespace hecnn::server::protocol
