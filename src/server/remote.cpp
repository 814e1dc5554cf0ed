// The client's side of a whole run on a service (remote.h).
#include "hecnn/server/remote.h"

#include <stdexcept>

namespace hecnn::server {

io::PlanFile service_plan(ServiceClient& svc, bool allow_insecure, const io::PlanFile* keys_plan, const std::string& keys_name) {
    io::PlanFile plan = io::parse_plan(svc.plan_json(), allow_insecure);
    if (keys_plan)
        if (const auto d = io::contract_difference(*keys_plan, plan); !d.empty())
            throw std::runtime_error(keys_name + " were made for another plan than this server's (its " + d + " differs): use keys made for the server's plan");
    return plan;
}

std::vector<RemoteJob> run_batches(ServiceClient& svc, const std::filesystem::path& eval_keys, const std::vector<std::filesystem::path>& batches,
                                   const std::vector<std::filesystem::path>& results, const RemoteCallbacks& cb, bool keep, double poll_seconds) {
    if (batches.size() != results.size()) throw std::invalid_argument("run_batches: one result path per batch");
    const std::string session = svc.open_session(eval_keys);
    std::vector<std::string> jobs;
    for (std::size_t k = 0; k < batches.size(); ++k) {
        jobs.push_back(svc.submit(session, batches[k]));
        if (cb.uploaded) cb.uploaded(k);
    }
    std::vector<RemoteJob> out;
    for (std::size_t k = 0; k < jobs.size(); ++k) {
        RemoteJob r{batches[k], results[k], {}, 0};
        r.status = svc.wait(session, jobs[k], [&](const JobStatus& s) { if (cb.status) cb.status(k, s); }, poll_seconds);
        if (r.status.state != JobState::done) throw std::runtime_error("the server could not run " + batches[k].string() + ": " + r.status.error);
        r.result_bytes = svc.download(session, jobs[k], results[k]);
        if (!keep) svc.delete_job(session, jobs[k]);
        if (cb.done) cb.done(r, k);
        out.push_back(std::move(r));
    }
    if (!keep) svc.close_session(session);
    return out;
}

}  // namespace hecnn::server
