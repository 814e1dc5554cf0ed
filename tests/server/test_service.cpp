// The service without its transport: sessions, job life cycle, refusals with their HTTP
// status, isolation between sessions, bounded queue, persistence across a restart, and
// shutdown. Tiny model, small INSECURE test-only parameters.
#include "server/server_fixture.h"

#include <tuple>

#include "hecnn/he/memory.h"

using namespace hecnn;
using namespace hecnn::test;
using server::JobState;
using server::ServiceError;

namespace {

struct ServiceTest : ::testing::Test {
    ScratchDir dir;
    Workflow w{5, 40};
    he::Plan compiled = compile_served(w);
    TestClient alice{w.plan, dir / "alice"};

    server::ServiceOptions options(std::size_t workers = 1) {
        server::ServiceOptions o;
        o.state_dir = dir / "state";
        o.workers = workers;
        o.allow_insecure = true;
        return o;
    }
    std::unique_ptr<server::Service> start(std::size_t workers = 1) {
        return std::make_unique<server::Service>(w.plan, compiled, options(workers));
    }
    // What the HTTP layer does with an upload: bytes into a spool file, then submit.
    std::string submit(server::Service& svc, const std::string& sid, const fs::path& file) {
        const fs::path spool = svc.new_spool_path();
        fs::copy_file(file, spool);
        return svc.submit(sid, spool);
    }
    std::string submit_bytes(server::Service& svc, const std::string& sid, std::span<const std::uint8_t> bytes) {
        const fs::path spool = svc.new_spool_path();
        write_bytes(spool, bytes);
        return svc.submit(sid, spool);
    }
    static int status_of(const std::function<void()>& f) {
        try {
            f();
        } catch (const ServiceError& e) {
            return e.status();
        }
        return 0;
    }
    static bool finished(const server::Service& svc, const std::string& sid, const std::string& jid) {
        const auto s = svc.status(sid, jid).state;
        return s == JobState::done || s == JobState::failed;
    }
};

TEST_F(ServiceTest, JobResultDecryptsToTheReference) {
    auto svc = start();
    const std::string sid = svc->open_session(read_bytes(alice.eval_keys()));
    EXPECT_TRUE(server::is_valid_id(sid));
    const std::string jid = submit(*svc, sid, alice.encrypt("b1", 29, 11));
    ASSERT_TRUE(eventually([&] { return finished(*svc, sid, jid); }));
    const auto st = svc->status(sid, jid);
    ASSERT_EQ(st.state, JobState::done) << st.error;
    EXPECT_EQ(st.samples, 29u);
    EXPECT_EQ(st.result_bytes, fs::file_size(svc->result_path(sid, jid)));
    alice.expect_matches(w.model, "b1", svc->result_path(sid, jid));
    EXPECT_EQ(files_in(dir / "state" / "spool"), 0u);  // the upload was consumed
    svc->delete_job(sid, jid);
    EXPECT_EQ(status_of([&] { svc->status(sid, jid); }), 404);
}

TEST_F(ServiceTest, JobsArePredictedWithTheRatesTheServiceWasGiven) {
    // The prediction is linear in the rates: every figure ×4 predicts 4× the time (both
    // services' first job, so both equally cold).
    he::Rates slow = he::Rates::defaults();
    for (double* f : {&slow.mac_ms, &slow.square_relin_rescale_ms, &slow.square_ms, &slow.relin_ms, &slow.rescale_ms, &slow.copy_ms,
                      &slow.spill_ms, &slow.input_ms, &slow.first_touch_ms_per_gib})
        *f *= 4;
    double predicted[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
        auto o = options();
        o.state_dir = dir / ("state" + std::to_string(k));
        if (k == 1) o.rates = slow;
        server::Service svc(w.plan, compiled, o);
        const std::string sid = svc.open_session(read_bytes(alice.eval_keys()));
        const std::string jid = submit(svc, sid, alice.encrypt("r" + std::to_string(k), 9, 3 + k));
        ASSERT_TRUE(eventually([&] { return finished(svc, sid, jid); }));
        const auto st = svc.status(sid, jid);
        ASSERT_EQ(st.state, JobState::done) << st.error;
        predicted[k] = st.predicted_seconds;
    }
    EXPECT_GT(predicted[0], 0);
    EXPECT_NEAR(predicted[1], 4 * predicted[0], 1e-9 * predicted[1]);
}

TEST_F(ServiceTest, RefusesSecretKeysForeignParametersAndOversizedKeys) {
    auto svc = start();
    // A secret key is never accepted, whatever it is wrapped as.
    EXPECT_EQ(status_of([&] { svc->open_session(read_bytes(alice.dir / "keys" / io::kSecretKeyFile)); }), 400);
    // Keys for other parameters than the plan's.
    const auto other = other_params_plan(w);
    TestClient bob(other, dir / "bob");
    EXPECT_EQ(status_of([&] { svc->open_session(read_bytes(bob.eval_keys())); }), 409);
    // Garbage, truncation, and more bytes than the plan's keys have.
    auto keys = read_bytes(alice.eval_keys());
    EXPECT_EQ(status_of([&] { svc->open_session(std::vector<std::uint8_t>(1000, 0x41)); }), 400);
    EXPECT_EQ(status_of([&] { svc->open_session(std::span(keys).first(keys.size() / 2)); }), 400);
    keys.push_back(0);
    EXPECT_EQ(status_of([&] { svc->open_session(keys); }), 413);
    EXPECT_EQ(svc->health().sessions, 0u);
}

TEST_F(ServiceTest, RefusesMalformedBatchesAndStaysUsable) {
    auto svc = start();
    const std::string sid = svc->open_session(read_bytes(alice.eval_keys()));
    const auto good = read_bytes(alice.encrypt("good", 8, 12));
    // Truncated, flipped, garbage, the wrong kind of file.
    EXPECT_EQ(status_of([&] { submit_bytes(*svc, sid, std::span(good).first(good.size() - 1)); }), 400);
    auto flipped = good;
    flipped[flipped.size() / 2] ^= 0x10;
    EXPECT_EQ(status_of([&] { submit_bytes(*svc, sid, flipped); }), 400);
    EXPECT_EQ(status_of([&] { submit_bytes(*svc, sid, std::vector<std::uint8_t>(4096, 7)); }), 400);
    EXPECT_EQ(status_of([&] { submit(*svc, sid, alice.eval_keys()); }), 400);
    // Another key set's batch (same parameters): its results would be garbage to this session.
    TestClient carol(w.plan, dir / "carol");
    EXPECT_EQ(status_of([&] { submit(*svc, sid, carol.encrypt("c", 8, 13)); }), 400);
    // Another plan's parameters.
    TestClient bob(other_params_plan(w), dir / "bob");
    EXPECT_EQ(status_of([&] { submit(*svc, sid, bob.encrypt("b", 8, 14)); }), 400);
    EXPECT_EQ(files_in(dir / "state" / "spool"), 0u);
    EXPECT_EQ(svc->jobs(sid).size(), 0u);
    // Still serves a good batch.
    const std::string jid = submit(*svc, sid, dir / "alice" / "good");
    ASSERT_TRUE(eventually([&] { return finished(*svc, sid, jid); }));
    alice.expect_matches(w.model, "good", svc->result_path(sid, jid));
}

TEST_F(ServiceTest, SessionsAreIsolated) {
    auto svc = start();
    TestClient carol(w.plan, dir / "carol");
    const std::string a = svc->open_session(read_bytes(alice.eval_keys()));
    const std::string c = svc->open_session(read_bytes(carol.eval_keys()));
    EXPECT_NE(a, c);
    const std::string ja = submit(*svc, a, alice.encrypt("a", 5, 15));
    // Carol cannot see, download or delete Alice's job, nor submit into Alice's session
    // with her own key set's batch.
    EXPECT_EQ(status_of([&] { svc->status(c, ja); }), 404);
    EXPECT_EQ(status_of([&] { svc->result_path(c, ja); }), 404);
    EXPECT_EQ(status_of([&] { svc->delete_job(c, ja); }), 404);
    EXPECT_EQ(status_of([&] { submit(*svc, a, carol.encrypt("c", 5, 16)); }), 400);
    // Ids that are not ids (path tricks) are unknown, not errors of another kind.
    for (const std::string& bad : std::vector<std::string>{"..", "../state", std::string(32, 'G'), a + "0", ""}) {
        EXPECT_EQ(status_of([&] { svc->jobs(bad); }), 404) << bad;
        EXPECT_EQ(status_of([&] { svc->status(a, bad); }), 404) << bad;
    }
    ASSERT_TRUE(eventually([&] { return finished(*svc, a, ja); }));
    EXPECT_EQ(svc->status(a, ja).state, JobState::done);
}

// hecnn serve's allocator (one never-trimmed arena, huge pages): consecutive jobs of two
// sessions in one process reuse each other's freed memory, and each still decrypts, with
// its own keys, to its own reference; a job after another session's gets nothing of it.
TEST_F(ServiceTest, ConsecutiveJobsOfTwoSessionsUnderTheServersAllocatorGetTheirOwnResults) {
    he::configure_allocator_for_inference();
    auto svc = start();
    TestClient carol(w.plan, dir / "carol");
    const std::string a = svc->open_session(read_bytes(alice.eval_keys()));
    const std::string c = svc->open_session(read_bytes(carol.eval_keys()));
    const std::vector<std::tuple<TestClient*, std::string, std::string>> runs = {
        {&alice, a, "a1"}, {&carol, c, "c1"}, {&alice, a, "a2"}, {&carol, c, "c2"}};
    unsigned seed = 21;
    for (const auto& [client, sid, name] : runs) {
        const std::string jid = submit(*svc, sid, client->encrypt(name, 13 + seed % 7, seed));
        ++seed;
        ASSERT_TRUE(eventually([&] { return finished(*svc, sid, jid); }));  // one after the other
        const auto st = svc->status(sid, jid);
        ASSERT_EQ(st.state, JobState::done) << st.error;
        client->expect_matches(w.model, name, svc->result_path(sid, jid));
    }
}

TEST_F(ServiceTest, QueueIsBounded) {
    auto o = options(0);  // no workers: accepted jobs stay queued
    o.max_queued = 2;
    server::Service svc(w.plan, compiled, o);
    const std::string sid = svc.open_session(read_bytes(alice.eval_keys()));
    const auto batch = alice.encrypt("q", 4, 17);
    submit(svc, sid, batch);
    submit(svc, sid, batch);
    EXPECT_EQ(status_of([&] { submit(svc, sid, batch); }), 429);
    EXPECT_EQ(svc.health().queued, 2u);
    EXPECT_EQ(files_in(dir / "state" / "spool"), 0u);
}

TEST_F(ServiceTest, AcceptedJobsSurviveARestart) {
    std::string sid;
    std::vector<std::string> jids;
    {
        auto svc = start(0);  // accepts, never runs: a process stopped with work queued
        sid = svc->open_session(read_bytes(alice.eval_keys()));
        jids.push_back(submit(*svc, sid, alice.encrypt("r1", 6, 18)));
        jids.push_back(submit(*svc, sid, alice.encrypt("r2", 7, 19)));
        EXPECT_EQ(svc->health().queued, 2u);
    }
    {
        auto svc = start(1);
        EXPECT_EQ(svc->health().sessions, 1u);
        for (const auto& j : jids) ASSERT_TRUE(eventually([&] { return finished(*svc, sid, j); }));
        alice.expect_matches(w.model, "r1", svc->result_path(sid, jids[0]));
        alice.expect_matches(w.model, "r2", svc->result_path(sid, jids[1]));
    }
    // Finished results are still there for a third process.
    auto svc = start(1);
    EXPECT_EQ(svc->status(sid, jids[1]).state, JobState::done);
    EXPECT_EQ(svc->status(sid, jids[1]).samples, 7u);
    alice.expect_matches(w.model, "r2", svc->result_path(sid, jids[1]));
}

TEST_F(ServiceTest, ShutdownRefusesNewWork) {
    auto svc = start();
    const std::string sid = svc->open_session(read_bytes(alice.eval_keys()));
    const auto batch = alice.encrypt("s", 4, 20);
    const std::string jid = submit(*svc, sid, batch);
    ASSERT_TRUE(eventually([&] { return svc->status(sid, jid).state != JobState::queued; }));
    svc->shutdown();  // the running job finishes first (drain)
    EXPECT_FALSE(svc->accepting());
    EXPECT_EQ(svc->status(sid, jid).state, JobState::done);
    EXPECT_EQ(status_of([&] { submit(*svc, sid, batch); }), 503);
    EXPECT_EQ(status_of([&] { svc->open_session(read_bytes(alice.eval_keys())); }), 503);
    svc->shutdown();  // idempotent
}

// The service's budget is resolved once and split between its workers; the spill
// directory defaults to spill/ in the state directory (emptied at start-up).
TEST_F(ServiceTest, SplitsTheBudgetBetweenWorkers) {
    auto o = options(3);
    o.memory = he::MemoryBudget::of(3 * (std::size_t{1} << 30) + 2);
    {
        const server::Service svc(w.plan, compiled, o);
        EXPECT_EQ(svc.worker_budget(), he::MemoryBudget::of(o.memory.bytes() / 3));
        EXPECT_LE(svc.worker_budget().bytes() * 3, o.memory.bytes());
        EXPECT_EQ(svc.spill_dir(), dir / "state" / "spill");
        EXPECT_TRUE(fs::is_directory(dir / "state" / "spill"));
    }
    write_bytes(dir / "state" / "spill" / "stale", std::vector<std::uint8_t>(10));  // a killed process's
    o.workers = 2;
    o.memory = {};  // the default: resolved at start-up
    {
        const std::size_t avail = he::mem_available_bytes();
        const server::Service svc(w.plan, compiled, o);
        EXPECT_TRUE(svc.worker_budget().from_default());
        EXPECT_LE(svc.worker_budget().bytes(), static_cast<std::size_t>(0.6 * static_cast<double>(avail + (std::size_t{256} << 20))) / 2);
        EXPECT_EQ(files_in(dir / "state" / "spill"), 0u);
    }
    o.memory = he::MemoryBudget::unlimited();
    EXPECT_TRUE(server::Service(w.plan, compiled, o).worker_budget().is_unlimited());
    o.memory = he::MemoryBudget::of(1);
    EXPECT_THROW(server::Service(w.plan, compiled, o), std::invalid_argument);  // shares of 0 bytes
}

// A job runs under the worker's share and spills into the service's spill directory: one
// that cannot be made fails the job naming it; a good one gives the right result.
TEST_F(ServiceTest, JobsSpillIntoTheSpillDirectory) {
    auto o = options(1);
    o.memory = spilling_budget(compiled, w.plan);
    write_bytes(dir / "blocker", std::vector<std::uint8_t>(1));  // a file, not a directory
    o.spill_dir = dir / "blocker";
    {
        server::Service svc(w.plan, compiled, o);
        EXPECT_EQ(svc.worker_budget(), o.memory);
        const std::string sid = svc.open_session(read_bytes(alice.eval_keys()));
        const std::string jid = submit(svc, sid, alice.encrypt("b", 9, 3));
        ASSERT_TRUE(eventually([&] { return finished(svc, sid, jid); }));
        const auto st = svc.status(sid, jid);
        EXPECT_EQ(st.state, JobState::failed);
        EXPECT_NE(st.error.find("blocker"), std::string::npos) << st.error;
    }
    o.spill_dir = dir / "spills";
    server::Service svc(w.plan, compiled, o);
    const std::string sid = svc.open_session(read_bytes(alice.eval_keys()));
    const std::string jid = submit(svc, sid, alice.encrypt("b2", 9, 4));
    ASSERT_TRUE(eventually([&] { return finished(svc, sid, jid); }));
    ASSERT_EQ(svc.status(sid, jid).state, JobState::done) << svc.status(sid, jid).error;
    alice.expect_matches(w.model, "b2", svc.result_path(sid, jid));
    EXPECT_TRUE(fs::is_directory(dir / "spills"));
    EXPECT_EQ(files_below(dir / "spills"), 0u);
}

}  // namespace
