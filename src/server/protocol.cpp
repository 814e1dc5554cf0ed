#include "protocol.h"

namespace hecnn::server::protocol {

nlohmann::json to_json(const JobStatus& s) {
    return {{"job", s.id},         {"state", to_string(s.state)},   {"samples", s.samples},
            {"step", s.step},      {"steps", s.steps},              {"elapsed_seconds", s.elapsed},
            {"remaining_seconds", s.remaining}, {"server_seconds", s.server_seconds},
            {"result_bytes", s.result_bytes},   {"error", s.error}};
}

JobStatus job_status_from_json(const nlohmann::json& j) {
    JobStatus s;
    s.id = j.at("job").get<std::string>();
    const auto st = j.at("state").get<std::string>();
    bool known = false;
    for (JobState k : {JobState::queued, JobState::running, JobState::done, JobState::failed})
        if (st == to_string(k)) s.state = k, known = true;
    if (!known) throw std::runtime_error("the server answered an unknown job state \"" + st + "\"");
    s.samples = j.at("samples").get<std::size_t>();
    s.step = j.at("step").get<std::size_t>();
    s.steps = j.at("steps").get<std::size_t>();
    s.elapsed = j.at("elapsed_seconds").get<double>();
    s.remaining = j.at("remaining_seconds").get<double>();
    s.server_seconds = j.at("server_seconds").get<double>();
    s.result_bytes = j.at("result_bytes").get<std::size_t>();
    s.error = j.at("error").get<std::string>();
    return s;
}

nlohmann::json to_json(const Health& h) {
    return {{"status", h.accepting ? "ok" : "shutting down"},
            {"accepting", h.accepting},
            {"sessions", h.sessions},
            {"jobs", {{"queued", h.queued}, {"running", h.running}, {"done", h.done}, {"failed", h.failed}}}};
}

}  // namespace hecnn::server::protocol
