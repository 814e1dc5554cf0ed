// What a client does with a service for the batch files it encrypted, as every front end
// does it (`hecnn client`, the Python module's Client): check that the service's plan is
// the one its keys were made for, then one session with the evaluation keys, every batch
// uploaded, waited for and its result downloaded, the jobs and the session deleted.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "hecnn/io/plan_file.h"
#include "hecnn/server/client.h"
#include "hecnn/server/service.h"

namespace hecnn::server {

// The service's plan (GET /v1/plan), validated; when `keys_plan` is given, refused
// (std::runtime_error naming `keys_name` and the field) unless it makes the same contract:
// the client encrypts with its own copy's preprocessing and parameters.
io::PlanFile service_plan(ServiceClient& svc, bool allow_insecure, const io::PlanFile* keys_plan = nullptr,
                          const std::string& keys_name = "the keys");

struct RemoteJob {
    std::filesystem::path batch, result;
    JobStatus status;              // the final one (done)
    std::size_t result_bytes = 0;  // downloaded
};

struct RemoteCallbacks {
    std::function<void(std::size_t)> uploaded;                    // batch k accepted by the service
    std::function<void(std::size_t, const JobStatus&)> status;   // every status read of batch k's job
    std::function<void(const RemoteJob&, std::size_t)> done;     // batch k's result downloaded
};

// Uploads batches[k] and downloads its result to results[k] (same length), in order.
// Unless `keep`, each job is deleted once downloaded and the session at the end. Throws
// std::runtime_error naming the batch when the service could not run it (its reason), and
// ClientError for refused requests.
std::vector<RemoteJob> run_batches(ServiceClient& svc, const std::filesystem::path& eval_keys, const std::vector<std::filesystem::path>& batches,
                                   const std::vector<std::filesystem::path>& results, const RemoteCallbacks& callbacks = {}, bool keep = false,
                                   double poll_seconds = 0.5);

}  // namespace hecnn::server
