// End to end over real sockets: a real `hecnn serve` process on a loopback port and the
// client library against it. Predictions are checked against the plaintext model;
// malformed uploads must each get a clear 4xx and leave the service healthy; concurrent
// clients get their own results; SIGTERM loses nothing. Tiny model, INSECURE test-only
// parameters.
#include <signal.h>

#include <fstream>
#include <thread>

#include <httplib.h>

#include "hecnn/server/client.h"
#include "server/http_fixture.h"

using namespace hecnn;
using namespace hecnn::test;
using server::ClientError;
using server::JobState;

namespace {

TEST_F(HttpTest, ClientRoundTripGivesTheReferencePredictions) {
    start();
    TestClient alice(w.plan, dir / "alice");
    auto c = client();
    EXPECT_TRUE(c.healthy());
    EXPECT_EQ(io::parse_plan(c.plan_json(), true).params_id, w.plan.params_id);
    const std::string sid = c.open_session(alice.eval_keys());
    const std::string jid = c.submit(sid, alice.encrypt("b", 33, 21));
    std::size_t seen = 0;
    const auto st = c.wait(sid, jid, [&](const server::JobStatus& s) {
        ++seen;
        EXPECT_LE(s.step, s.steps);
        EXPECT_LE(s.units, s.units_total);
        EXPECT_LE(s.progress_done(), s.progress_total());
    }, 0.05);
    ASSERT_EQ(st.state, JobState::done) << st.error;
    // A finished job reports every unit run (the progress the client's bar shows).
    EXPECT_GT(st.units_total, 0u);
    EXPECT_EQ(st.units, st.units_total);
    EXPECT_GE(seen, 1u);
    const std::size_t n = c.download(sid, jid, alice.dir / "result");
    EXPECT_EQ(n, fs::file_size(alice.dir / "result"));
    alice.expect_matches(w.model, "b", alice.dir / "result");
    c.delete_job(sid, jid);
    EXPECT_EQ(status_of([&] { c.status(sid, jid); }), 404);
    c.close_session(sid);
    EXPECT_EQ(stop(), 0);
}

TEST_F(HttpTest, MalformedUploadsGetA4xxAndTheServiceStaysHealthy) {
    start();
    TestClient alice(w.plan, dir / "alice");
    auto c = client();
    const std::string sid = c.open_session(alice.eval_keys());
    const fs::path good = alice.encrypt("good", 9, 22);
    const auto bytes = read_bytes(good);
    auto upload = [&](const std::string& name, std::span<const std::uint8_t> b) {
        write_bytes(dir / name, b);
        return status_of([&] { c.submit(sid, dir / name); });
    };
    EXPECT_EQ(upload("truncated", std::span(bytes).first(bytes.size() / 3)), 400);
    EXPECT_EQ(upload("garbage", std::vector<std::uint8_t>(5000, 0xA5)), 400);
    EXPECT_EQ(status_of([&] { c.submit(sid, alice.eval_keys()); }), 400);  // wrong kind
    TestClient bob(other_params_plan(w), dir / "bob");
    EXPECT_EQ(status_of([&] { c.submit(sid, bob.encrypt("other", 9, 23)); }), 400);  // other parameter id
    EXPECT_EQ(status_of([&] { c.open_session(alice.dir / "keys" / io::kSecretKeyFile); }), 400);  // never a secret key
    EXPECT_EQ(status_of([&] { c.status(sid, std::string(32, 'a')); }), 404);
    EXPECT_EQ(status_of([&] { c.submit(std::string(32, 'b'), good); }), 404) << last_error;
    // Oversized: the client refuses it from the plan's sizes, and the server refuses a
    // declared length beyond them before reading a byte of the body.
    std::vector<std::uint8_t> big(w.plan.batch_file_bytes + 1, 0);
    EXPECT_EQ(upload("oversized", big), 413) << last_error;
    const std::string answer = raw_request(port(), "POST /v1/sessions/" + sid + "/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                                       std::to_string(w.plan.batch_file_bytes + (1u << 30)) + "\r\n\r\n");
    EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 413") << answer;
    // Raw HTTP: an unknown route and a body on a route that wants none.
    httplib::Client raw(url);
    auto r = raw.Get("/v1/nothing");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_NE(r->body.find("error"), std::string::npos);
    // Still healthy, and a good batch still works.
    EXPECT_TRUE(c.healthy());
    const std::string jid = c.submit(sid, good);
    ASSERT_EQ(c.wait(sid, jid, {}, 0.05).state, JobState::done);
    c.download(sid, jid, dir / "good.result");
    alice.expect_matches(w.model, "good", dir / "good.result");
    EXPECT_EQ(stop(), 0);
}

TEST_F(HttpTest, TwoConcurrentClientsGetTheirOwnResults) {
    start();
    TestClient alice(w.plan, dir / "alice"), carol(w.plan, dir / "carol");
    alice.encrypt("a", 17, 24);
    carol.encrypt("c", 23, 25);
    std::string a_sid, a_jid;
    auto run = [&](TestClient& t, const std::string& name, std::string* sid_out, std::string* jid_out) {
        auto c = client();
        const std::string sid = c.open_session(t.eval_keys());
        std::string jid;
        for (int i = 0; i < 2; ++i) {  // two batches each, interleaved with the other client
            jid = c.submit(sid, t.dir / name);
            ASSERT_EQ(c.wait(sid, jid, {}, 0.02).state, JobState::done);
            c.download(sid, jid, t.dir / (name + ".result" + std::to_string(i)));
        }
        if (sid_out) *sid_out = sid, *jid_out = jid;
    };
    std::thread ta([&] { run(alice, "a", &a_sid, &a_jid); });
    std::thread tc([&] { run(carol, "c", nullptr, nullptr); });
    ta.join();
    tc.join();
    for (int i = 0; i < 2; ++i) {
        alice.expect_matches(w.model, "a", alice.dir / ("a.result" + std::to_string(i)));
        carol.expect_matches(w.model, "c", carol.dir / ("c.result" + std::to_string(i)));
    }
    // Carol's session cannot reach Alice's job.
    auto c = client();
    const std::string other = c.open_session(carol.eval_keys());
    EXPECT_EQ(status_of([&] { c.status(other, a_jid); }), 404);
    EXPECT_EQ(status_of([&] { c.download(other, a_jid, dir / "stolen"); }), 404);
    EXPECT_FALSE(fs::exists(dir / "stolen"));
    EXPECT_EQ(c.status(a_sid, a_jid).state, JobState::done);
    EXPECT_EQ(stop(), 0);
}

TEST_F(HttpTest, BearerTokenIsRequiredWhenConfigured) {
    const std::string token = "0123456789abcdef0123456789abcdef";
    std::ofstream(dir / "token") << token << "\n";
    start({"--token-file", (dir / "token").string()});
    TestClient alice(w.plan, dir / "alice");
    EXPECT_TRUE(client().healthy());  // liveness needs no token
    EXPECT_EQ(status_of([&] { client().open_session(alice.eval_keys()); }), 401);
    EXPECT_EQ(status_of([&] { client("wrong-token-wrong-token-wrong-tok").plan_json(); }), 401);
    auto c = client(token);
    const std::string sid = c.open_session(alice.eval_keys());
    const std::string jid = c.submit(sid, alice.encrypt("t", 5, 26));
    EXPECT_EQ(c.wait(sid, jid, {}, 0.05).state, JobState::done);
    EXPECT_EQ(stop(), 0);
}

TEST_F(HttpTest, SigtermLosesNoAcceptedJob) {
    start();
    TestClient alice(w.plan, dir / "alice");
    auto c = client();
    const std::string sid = c.open_session(alice.eval_keys());
    alice.encrypt("k", 12, 27);
    std::vector<std::string> accepted;
    for (int i = 0; i < 6; ++i) accepted.push_back(c.submit(sid, alice.dir / "k"));
    EXPECT_EQ(stop(), 0);  // in the middle of the queue
    EXPECT_FALSE(c.healthy());  // the process is gone
    // A new process on the same state finishes what was queued; nothing is lost.
    start();
    auto c2 = client();
    for (const auto& j : accepted) {
        const auto st = c2.wait(sid, j, {}, 0.05);
        ASSERT_EQ(st.state, JobState::done) << st.error;
        c2.download(sid, j, dir / "k.result");
        alice.expect_matches(w.model, "k", dir / "k.result");
    }
    EXPECT_EQ(stop(), 0);
}

}  // namespace
