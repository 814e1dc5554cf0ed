// The inference service, without its transport: sessions (one per client key set), jobs
// (one per uploaded batch), a bounded queue, workers, and a state directory that keeps
// every accepted job until its result is downloaded — across a restart.
//
// The HTTP layer (http_server.h) only maps requests onto these calls; everything a client
// can get wrong is refused here with a ServiceError carrying the HTTP status to answer.
//
// Trust: the service holds the model and the plan; clients send evaluation keys
// (parameters + relinearisation key) and batches of seeded ciphertexts. It never accepts a
// secret key (io::load_eval_keys refuses one by kind). Session and job ids are 128-bit
// random values from the OS CSPRNG: knowing a session id is the capability to use it.
//
// State directory layout (every file written atomically; status.json is the truth):
//   sessions/<sid>/eval.keys
//   sessions/<sid>/jobs/<jid>/{batch, result, status.json}
//   spool/   uploads being received (deleted at start-up)
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <deque>
#include <vector>

#include "hecnn/he/execution.h"
#include "hecnn/he/memory.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/rates.h"
#include "hecnn/io/plan_file.h"

namespace hecnn::server {

// A refusal with the HTTP status that says whose fault it is (4xx: the client's).
class ServiceError : public std::runtime_error {
public:
    ServiceError(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

struct ServiceOptions {
    std::filesystem::path state_dir;      // required; created if missing
    std::size_t workers = 1;              // jobs run at once (each uses every OpenMP thread);
                                          // 0: accept and keep jobs without running them (tests)
    std::size_t max_queued = 8;           // accepted but not finished jobs, across sessions
    std::size_t max_sessions = 64;
    std::size_t max_jobs_per_session = 64;  // kept jobs (results not yet deleted)
    double drain_seconds = 300;           // at shutdown: how long a running job may finish
    bool allow_insecure = false;          // accept test-only parameters (tests)
    int threads = 0;                      // OpenMP threads per job (0: all)
    // Ciphertext memory of all workers together: resolved once when the service starts
    // (the default: 60 % of MemAvailable then) and split into equal shares, one per worker,
    // so running jobs never hold more than this together.
    he::MemoryBudget memory;
    // Where jobs spill ciphertexts beyond their share; empty: <state_dir>/spill (emptied
    // at start-up: a killed process's spill files are of no use).
    std::filesystem::path spill_dir;
    // Heap the process faulted in before the service started (he::prefault_heap): held
    // already, so the first job's prediction is warm up to it.
    std::size_t prefaulted_bytes = 0;
    // The kernel rates of the jobs' predictions, resolved once by the caller (unset: each
    // job resolves this machine's, he::Rates::for_machine).
    std::optional<he::Rates> rates;
};

enum class JobState { queued, running, done, failed };
const char* to_string(JobState s);

struct JobStatus {
    std::string id;
    JobState state = JobState::queued;
    std::size_t samples = 0;
    std::size_t step = 0, steps = 0;      // progress of a running job: steps finished in plan order
    // Units run of all (he::RunOptions::waves): in a depth-first run the first step finishes
    // near the end, so this, not `step`, says how far the job is (0 of 0: not reported).
    std::size_t units = 0, units_total = 0;
    // For a progress bar: units when the server reports them, else steps.
    std::size_t progress_total() const { return units_total ? units_total : steps; }
    std::size_t progress_done() const { return state == JobState::done ? progress_total() : units_total ? units : step; }
    double elapsed = 0, remaining = 0;    // seconds
    double server_seconds = 0;            // a finished job's run time
    double predicted_seconds = 0;         // the simulator's figure for it (this machine's rates)
    std::size_t result_bytes = 0;
    std::string error;                    // failed: why, and what to do
};

struct Health {
    bool accepting = true;
    std::size_t sessions = 0, queued = 0, running = 0, done = 0, failed = 0;
};

class Service {
public:
    // `compiled` must be the compilation of the model the plan was made for (the caller
    // checks with io::check_plan_matches). Reloads sessions and jobs from the state
    // directory; jobs that were queued or running when the previous process stopped are
    // queued again.
    Service(io::PlanFile plan, he::Plan compiled, ServiceOptions opt);
    // The budget and spill directory each job runs under (ServiceOptions::memory's share).
    const he::MemoryBudget& worker_budget() const { return worker_exec_.memory; }
    const std::filesystem::path& spill_dir() const { return worker_exec_.spill_dir; }
    ~Service();  // shutdown()
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    const io::PlanFile& plan() const { return plan_; }
    const std::string& plan_json() const { return plan_json_; }
    // Largest accepted uploads (the plan's exact sizes): the transport refuses beyond them.
    std::size_t max_eval_keys_bytes() const;
    std::size_t max_batch_bytes() const;

    // Validates the evaluation keys against the plan's parameters and stores them.
    // Returns the new session id.
    std::string open_session(std::span<const std::uint8_t> eval_keys);
    void close_session(const std::string& session);  // deletes its jobs (a running one finishes first)

    // Uploads are streamed into a spool file (new_spool_path), then submitted: verified
    // (kind, parameters, key set, ciphertext count, checksum) and queued. The spool file is
    // consumed either way. Returns the job id.
    std::filesystem::path new_spool_path();
    std::string submit(const std::string& session, const std::filesystem::path& spooled);

    JobStatus status(const std::string& session, const std::string& job) const;
    std::vector<JobStatus> jobs(const std::string& session) const;
    // The result file of a finished job (ServiceError 409 if not finished).
    std::filesystem::path result_path(const std::string& session, const std::string& job) const;
    void delete_job(const std::string& session, const std::string& job);

    Health health() const;
    // Stop accepting sessions and jobs; the running jobs finish (up to drain_seconds, then
    // they are cancelled and reported failed); queued jobs stay queued on disk for the next
    // start. Returns when the workers have stopped. Idempotent.
    void shutdown();
    // Cancel running jobs now (a second signal during the drain); they are reported failed.
    void hurry();
    bool accepting() const;

private:
    struct Job;
    struct Session;
    void worker_loop();
    void run_job(Session& s, Job& j);
    void persist(const Session& s, const Job& j) const;
    void reload();
    Session& session_locked(const std::string& id) const;
    Job& job_locked(const Session& s, const std::string& id) const;
    std::filesystem::path session_dir(const std::string& sid) const;
    std::filesystem::path job_dir(const std::string& sid, const std::string& jid) const;

    io::PlanFile plan_;
    he::Plan compiled_;
    ServiceOptions opt_;
    he::ExecutionOptions worker_exec_;  // every job's: a share of the budget, the spill directory, threads
    he::WarmMemory warm_;               // this process's memory history (under mu_), for the jobs' predictions
    std::string plan_json_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, std::unique_ptr<Session>> sessions_;
    std::deque<std::pair<std::string, std::string>> queue_;  // (session, job)
    bool accepting_ = true, stopping_ = false;
    double drain_deadline_ = 0;  // steady-clock seconds; running jobs cancel after it
    std::vector<std::thread> workers_;
};

// 128 random bits from the OS CSPRNG, as 32 lowercase hex digits.
std::string random_id();
// True for exactly 32 lowercase hex digits (ids from outside are checked before use as paths).
bool is_valid_id(const std::string& id);

}  // namespace hecnn::server
