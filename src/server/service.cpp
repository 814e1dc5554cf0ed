#include "hecnn/server/service.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "hecnn/ckks/serialize.h"
#include "hecnn/io/batch_file.h"
#include "hecnn/io/infer_job.h"
#include "hecnn/io/json.h"
#include "hecnn/io/keyset.h"
#include "protocol.h"

namespace hecnn::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double now_seconds() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

constexpr std::size_t kMaxStatusBytes = 64 * 1024;
constexpr const char* kEvalKeysFile = "eval.keys";
constexpr const char* kBatchFile = "batch";
constexpr const char* kResultFile = "result";
constexpr const char* kStatusFile = "status.json";

JobState parse_state(const std::string& s) {
    for (JobState st : {JobState::queued, JobState::running, JobState::done, JobState::failed})
        if (s == to_string(st)) return st;
    throw std::runtime_error("unknown job state \"" + s + "\"");
}

// A job interrupted this many times (the process killed while it ran: out of memory, a
// crash, an operator's kill -9) is not run again: it is reported failed, so that one bad
// batch cannot take the service down at every restart.
constexpr std::uint64_t kMaxAttempts = 3;

// The data of an upload reaches the disk before the job is acknowledged (202): an accepted
// job then survives a power loss, not only a killed process.
void sync_file(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) throw ServiceError(507, "the service cannot store the upload (fsync failed)");
}

// What a killed process can leave in a directory of the state: the temporary files of
// writes it had not committed (write_file_atomic's ".NAME.tmp.XXXXXX"; a result's can be
// as large as the result).
void remove_temporaries(const fs::path& dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string n = e.path().filename().string();
        if (n.size() > 1 && n[0] == '.' && n.find(".tmp.") != std::string::npos) fs::remove(e.path(), ec);
    }
}

void write_text_atomic(const fs::path& p, const std::string& text) {
    ckks::write_file_atomic(p, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace

const char* to_string(JobState s) {
    switch (s) {
        case JobState::queued: return "queued";
        case JobState::running: return "running";
        case JobState::done: return "done";
        case JobState::failed: return "failed";
    }
    return "?";
}

std::string random_id() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    static const char* hex = "0123456789abcdef";
    std::string s(32, '0');
    for (int i = 0; i < 16; ++i) s[2 * i] = hex[b[i] >> 4], s[2 * i + 1] = hex[b[i] & 15];
    return s;
}

bool is_valid_id(const std::string& id) {
    return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct Service::Job {
    JobStatus st;
    std::uint64_t seq = 0;  // acceptance order (re-queued in this order after a restart)
    std::uint64_t attempts = 0;  // runs started (persisted before each: a kill mid-run counts)
};

struct Service::Session {
    std::string id;
    std::uint64_t keyset_id = 0;
    std::map<std::string, std::unique_ptr<Job>> jobs;
};

Service::Service(io::PlanFile plan, he::Plan compiled, ServiceOptions opt)
    : plan_(std::move(plan)), compiled_(std::move(compiled)), opt_(std::move(opt)) {
    if (opt_.state_dir.empty()) throw std::invalid_argument("Service: a state directory is required");
    plan_json_ = io::plan_to_json(plan_);
    fs::create_directories(opt_.state_dir / "sessions");
    fs::remove_all(opt_.state_dir / "spool");  // half-received uploads of a previous process
    fs::create_directories(opt_.state_dir / "spool");
    worker_exec_.memory = opt_.memory.share(std::max<std::size_t>(1, opt_.workers));  // resolved once, here
    worker_exec_.threads = opt_.threads;
    warm_.note_peak(opt_.prefaulted_bytes);
    worker_exec_.spill_dir = opt_.spill_dir;
    if (worker_exec_.spill_dir.empty()) {
        worker_exec_.spill_dir = opt_.state_dir / "spill";
        fs::remove_all(worker_exec_.spill_dir);  // spill files of a killed process
        fs::create_directories(worker_exec_.spill_dir);
    }
    reload();
    for (std::size_t i = 0; i < opt_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Service::~Service() { shutdown(); }

std::size_t Service::max_eval_keys_bytes() const { return plan_.eval_keys_bytes; }
std::size_t Service::max_batch_bytes() const { return plan_.batch_file_bytes; }

fs::path Service::session_dir(const std::string& sid) const { return opt_.state_dir / "sessions" / sid; }
fs::path Service::job_dir(const std::string& sid, const std::string& jid) const { return session_dir(sid) / "jobs" / jid; }

bool Service::accepting() const {
    std::lock_guard lk(mu_);
    return accepting_;
}

Service::Session& Service::session_locked(const std::string& id) const {
    // Same answer for a malformed and an unknown id: nothing to learn by probing.
    auto it = is_valid_id(id) ? sessions_.find(id) : sessions_.end();
    if (it == sessions_.end()) throw ServiceError(404, "no such session (it may have been closed; open a new one)");
    return *it->second;
}

Service::Job& Service::job_locked(const Session& s, const std::string& id) const {
    auto it = is_valid_id(id) ? s.jobs.find(id) : s.jobs.end();
    if (it == s.jobs.end()) throw ServiceError(404, "no such job in this session");
    return *it->second;
}

std::string Service::open_session(std::span<const std::uint8_t> eval_keys) {
    {
        std::lock_guard lk(mu_);
        if (!accepting_) throw ServiceError(503, "the service is shutting down; retry against a running instance");
        if (sessions_.size() >= opt_.max_sessions)
            throw ServiceError(429, "too many open sessions (" + std::to_string(opt_.max_sessions) + "); close one or retry later");
    }
    if (eval_keys.size() > max_eval_keys_bytes())
        throw ServiceError(413, "evaluation keys of " + std::to_string(eval_keys.size()) + " bytes; this plan's are " +
                                    std::to_string(max_eval_keys_bytes()));
    io::EvalKeys keys;
    try {
        keys = io::load_eval_keys(eval_keys, opt_.allow_insecure);
    } catch (const std::exception& e) {
        throw ServiceError(400, std::string("evaluation keys refused: ") + e.what());
    }
    if (keys.ctx->id() != plan_.params_id)
        throw ServiceError(409, "the evaluation keys belong to other parameters than this service's plan; fetch its plan "
                                "(GET /v1/plan) and run `hecnn keygen --plan` on it");
    auto s = std::make_unique<Session>();
    s->id = random_id();
    s->keyset_id = keys.keyset_id;
    fs::create_directories(session_dir(s->id) / "jobs");
    ckks::write_file_atomic(session_dir(s->id) / kEvalKeysFile, eval_keys);
    std::lock_guard lk(mu_);
    const std::string id = s->id;
    sessions_[id] = std::move(s);
    return id;
}

void Service::close_session(const std::string& sid) {
    std::lock_guard lk(mu_);
    Session& s = session_locked(sid);
    for (const auto& [jid, j] : s.jobs)
        if (j->st.state == JobState::running)
            throw ServiceError(409, "a job of this session is running; close the session after it finishes");
    std::erase_if(queue_, [&](const auto& q) { return q.first == sid; });
    sessions_.erase(sid);
    std::error_code ec;
    fs::remove_all(session_dir(sid), ec);
}

fs::path Service::new_spool_path() { return opt_.state_dir / "spool" / random_id(); }

std::string Service::submit(const std::string& sid, const fs::path& spooled) {
    struct Consume {  // the spool file is gone whatever happens
        const fs::path& p;
        ~Consume() {
            std::error_code ec;
            fs::remove(p, ec);
        }
    } consume{spooled};
    std::uint64_t keyset = 0;
    {
        std::lock_guard lk(mu_);
        if (!accepting_) throw ServiceError(503, "the service is shutting down; this batch was not accepted, resubmit it later");
        Session& s = session_locked(sid);
        keyset = s.keyset_id;
        std::size_t pending = 0;
        for (const auto& [id, ss] : sessions_)
            for (const auto& [jid, j] : ss->jobs) pending += j->st.state == JobState::queued || j->st.state == JobState::running;
        if (pending >= opt_.max_queued)
            throw ServiceError(429, "the job queue is full (" + std::to_string(opt_.max_queued) + " jobs); retry later");
        if (s.jobs.size() >= opt_.max_jobs_per_session)
            throw ServiceError(429, "this session keeps " + std::to_string(s.jobs.size()) + " jobs; download and delete results first");
    }
    io::BatchInfo info;
    try {
        const auto ctx = ckks::Context::create(plan_.params);
        info = io::verify_batch_file(spooled, *ctx, keyset, static_cast<std::size_t>(compiled_.input_count), max_batch_bytes());
    } catch (const std::exception& e) {
        throw ServiceError(400, std::string("batch refused: ") + e.what());
    }
    if (info.is_result) throw ServiceError(400, "batch refused: this is a result file, not a batch of inputs");
    if (info.model_id != 0 && info.model_id != plan_.model_id())
        throw ServiceError(409, "batch refused: it was encrypted for another model's plan; fetch this service's plan (GET /v1/plan)");
    auto j = std::make_unique<Job>();
    j->st.id = random_id();
    j->st.samples = info.samples;
    j->st.steps = compiled_.steps.size();
    std::lock_guard lk(mu_);
    Session& s = session_locked(sid);  // may have been closed meanwhile
    if (!accepting_) throw ServiceError(503, "the service is shutting down; this batch was not accepted, resubmit it later");
    const fs::path dir = job_dir(sid, j->st.id);
    sync_file(spooled);
    fs::create_directories(dir);
    fs::rename(spooled, dir / kBatchFile);  // made durable by persist's directory sync
    std::uint64_t seq = 0;
    for (const auto& [id, ss] : sessions_)
        for (const auto& [jid, jj] : ss->jobs) seq = std::max(seq, jj->seq);
    j->seq = seq + 1;
    persist(s, *j);
    const std::string jid = j->st.id;
    s.jobs[jid] = std::move(j);
    queue_.emplace_back(sid, jid);
    cv_.notify_one();
    return jid;
}

JobStatus Service::status(const std::string& sid, const std::string& jid) const {
    std::lock_guard lk(mu_);
    return job_locked(session_locked(sid), jid).st;
}

std::vector<JobStatus> Service::jobs(const std::string& sid) const {
    std::lock_guard lk(mu_);
    std::vector<JobStatus> out;
    for (const auto& [id, j] : session_locked(sid).jobs) out.push_back(j->st);
    return out;
}

fs::path Service::result_path(const std::string& sid, const std::string& jid) const {
    std::lock_guard lk(mu_);
    const Job& j = job_locked(session_locked(sid), jid);
    if (j.st.state == JobState::failed) throw ServiceError(409, "the job failed: " + j.st.error);
    if (j.st.state != JobState::done) throw ServiceError(409, std::string("the job is ") + to_string(j.st.state) + "; poll its status");
    return job_dir(sid, jid) / kResultFile;
}

void Service::delete_job(const std::string& sid, const std::string& jid) {
    std::lock_guard lk(mu_);
    Session& s = session_locked(sid);
    Job& j = job_locked(s, jid);
    if (j.st.state == JobState::running) throw ServiceError(409, "the job is running; delete it after it finishes");
    std::erase_if(queue_, [&](const auto& q) { return q.first == sid && q.second == jid; });
    s.jobs.erase(jid);
    std::error_code ec;
    fs::remove_all(job_dir(sid, jid), ec);
}

Health Service::health() const {
    std::lock_guard lk(mu_);
    Health h;
    h.accepting = accepting_;
    h.sessions = sessions_.size();
    for (const auto& [id, s] : sessions_)
        for (const auto& [jid, j] : s->jobs) {
            switch (j->st.state) {
                case JobState::queued: ++h.queued; break;
                case JobState::running: ++h.running; break;
                case JobState::done: ++h.done; break;
                case JobState::failed: ++h.failed; break;
            }
        }
    return h;
}

void Service::persist(const Session& s, const Job& j) const {
    const json o = {{"id", j.st.id},
                    {"state", to_string(j.st.state)},
                    {"seq", j.seq},
                    {"attempts", j.attempts},
                    {"samples", j.st.samples},
                    {"server_seconds", j.st.server_seconds},
                    {"predicted_seconds", j.st.predicted_seconds},
                    {"result_bytes", j.st.result_bytes},
                    {"error", j.st.error}};
    write_text_atomic(job_dir(s.id, j.st.id) / kStatusFile, o.dump(1));
}

void Service::reload() {
    std::vector<std::pair<std::uint64_t, std::pair<std::string, std::string>>> requeue;
    for (const auto& sd : fs::directory_iterator(opt_.state_dir / "sessions")) {
        const std::string sid = sd.path().filename().string();
        if (!sd.is_directory() || !is_valid_id(sid)) continue;  // not ours: leave it alone
        auto s = std::make_unique<Session>();
        s->id = sid;
        try {
            const auto bytes = ckks::read_file(sd.path() / kEvalKeysFile, max_eval_keys_bytes());
            s->keyset_id = io::load_eval_keys(bytes, opt_.allow_insecure).keyset_id;
        } catch (const std::exception&) {
            continue;  // unusable session (another plan's, or damaged): not served
        }
        const fs::path jobs = sd.path() / "jobs";
        remove_temporaries(sd.path());
        if (fs::is_directory(jobs))
            for (const auto& jd : fs::directory_iterator(jobs)) {
                const std::string jid = jd.path().filename().string();
                if (!jd.is_directory() || !is_valid_id(jid)) continue;
                remove_temporaries(jd.path());
                if (!fs::exists(jd.path() / kStatusFile)) {
                    // Killed inside submit before the job was recorded: it was never
                    // acknowledged (no 202), so nobody waits for it.
                    std::error_code ec;
                    fs::remove_all(jd.path(), ec);
                    continue;
                }
                auto j = std::make_unique<Job>();
                j->st.id = jid;
                j->st.steps = compiled_.steps.size();
                try {
                    const auto b = ckks::read_file(jd.path() / kStatusFile, kMaxStatusBytes);
                    const json o = io::parse_json_bounded(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), "status.json");
                    j->st.state = parse_state(protocol::get_text(o, "state"));
                    j->seq = protocol::get_count(o, "seq");
                    j->st.samples = protocol::get_count(o, "samples");
                    j->st.server_seconds = protocol::get_real(o, "server_seconds");
                    j->st.predicted_seconds = protocol::get_real_or(o, "predicted_seconds", 0);
                    j->st.result_bytes = protocol::get_count(o, "result_bytes");
                    j->st.error = protocol::get_text(o, "error");
                    j->attempts = protocol::get_count_or(o, "attempts", 0);
                } catch (const std::exception& e) {
                    j->st.state = JobState::failed;
                    j->st.error = std::string("its status was unreadable after a restart (") + e.what() + "); resubmit the batch";
                }
                if (j->st.state == JobState::done && !fs::exists(jd.path() / kResultFile))
                    j->st.state = JobState::failed, j->st.error = "its result file is missing after a restart; resubmit the batch";
                if ((j->st.state == JobState::queued || j->st.state == JobState::running) && j->attempts >= kMaxAttempts) {
                    j->st.state = JobState::failed;
                    j->st.error = "the server stopped " + std::to_string(j->attempts) +
                                  " times while running this job (killed: out of memory? a crash?); it is not run again. "
                                  "Resubmit the batch, or ask the operator to look at the server's memory budget and logs";
                    std::error_code ec;
                    fs::remove(jd.path() / kBatchFile, ec);
                }
                if (j->st.state == JobState::queued || j->st.state == JobState::running) {
                    if (fs::exists(jd.path() / kBatchFile)) {
                        j->st.state = JobState::queued;
                        requeue.push_back({j->seq, {sid, jid}});
                    } else {
                        j->st.state = JobState::failed, j->st.error = "its batch is missing after a restart; resubmit it";
                    }
                }
                persist(*s, *j);
                s->jobs[jid] = std::move(j);
            }
        sessions_[sid] = std::move(s);
    }
    std::sort(requeue.begin(), requeue.end());
    for (const auto& [seq, q] : requeue) queue_.push_back(q);
}

void Service::worker_loop() {
    for (;;) {
        Session* s = nullptr;
        Job* j = nullptr;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;  // queued jobs stay queued on disk
            const auto [sid, jid] = queue_.front();
            queue_.pop_front();
            s = &session_locked(sid);
            j = &job_locked(*s, jid);
            j->st.state = JobState::running;
            ++j->attempts;
            persist(*s, *j);
        }
        run_job(*s, *j);  // sessions/jobs are not erased while running (close/delete refuse)
    }
}

void Service::run_job(Session& s, Job& j) {
    const fs::path dir = job_dir(s.id, j.st.id);
    const double t0 = now_seconds();
    std::string error;
    io::JobResult res;
    try {
        const auto bytes = ckks::read_file(session_dir(s.id) / kEvalKeysFile, max_eval_keys_bytes());
        const io::EvalKeys keys = io::load_eval_keys(bytes, opt_.allow_insecure);
        io::JobOptions jo;
        jo.progress = [&](const io::JobProgress& p) {
            std::lock_guard lk(mu_);
            j.st.step = p.step, j.st.steps = p.steps, j.st.units = p.units, j.st.units_total = p.units_total, j.st.elapsed = p.elapsed, j.st.remaining = p.remaining;
        };
        jo.cancelled = [&] {
            std::lock_guard lk(mu_);
            return stopping_ && now_seconds() > drain_deadline_;
        };
        jo.model_id = plan_.model_id();
        jo.max_batch_bytes = max_batch_bytes();
        jo.replace_result = true;  // a rerun after a restart replaces what an interrupted run left
        jo.exec = worker_exec_;
        jo.rates = opt_.rates;
        {
            // Concurrent workers share the process's heap: each job is predicted with an
            // equal share of what the process has held.
            std::lock_guard lk(mu_);
            jo.warm_bytes = warm_.bytes() / std::max<std::size_t>(1, opt_.workers);
        }
        res = io::infer_batch_file(compiled_, keys, dir / kBatchFile, dir / kResultFile, jo);
    } catch (const io::JobCancelled&) {
        error = "cancelled: the service shut down while this job ran; resubmit the batch";
    } catch (const std::exception& e) {
        error = std::string("the job failed on the server: ") + e.what();
    }
    std::lock_guard lk(mu_);
    if (error.empty()) {
        j.st.state = JobState::done;
        j.st.server_seconds = res.seconds > 0 ? res.seconds : now_seconds() - t0;
        j.st.result_bytes = res.result_bytes;
        j.st.predicted_seconds = res.predicted_seconds;
        warm_.note_peak(res.predicted_peak_bytes * std::max<std::size_t>(1, opt_.workers));
        std::error_code ec;
        fs::remove(dir / kBatchFile, ec);  // the upload is no longer needed
    } else {
        j.st.state = JobState::failed;
        j.st.error = error;
    }
    j.st.remaining = 0;
    persist(s, j);
    cv_.notify_all();
}

void Service::shutdown() {
    {
        std::unique_lock lk(mu_);
        if (stopping_ && workers_.empty()) return;
        accepting_ = false;
        drain_deadline_ = now_seconds() + opt_.drain_seconds;
        stopping_ = true;  // idle workers return; busy ones finish their job first
    }
    cv_.notify_all();
    for (auto& w : workers_)
        if (w.joinable()) w.join();
    workers_.clear();
}

void Service::hurry() {
    std::lock_guard lk(mu_);
    stopping_ = true;
    accepting_ = false;
    drain_deadline_ = 0;
}

}  // namespace hecnn::server
