// Crash safety of `hecnn serve`, with real processes: the server is SIGKILLed in the middle
// of jobs and of uploads, then restarted on the same state directory. Every job accepted
// (answered 202) before a kill must end done, with a result that decrypts to the plaintext
// model's predictions, or failed with a reason; a result is never served partially; an
// upload cut off mid-body leaves no file and no job. The on-disk status.json files are read
// directly to know that a kill really hit a running job. A small model, INSECURE
// test-only parameters.
#include <fstream>
#include <thread>

#include "server/http_fixture.h"

using namespace hecnn;
using namespace hecnn::test;
using server::JobState;

namespace {

// A model whose job runs long enough for a kill to land inside it (a few tenths of a second
// in the release build; wait_running polls every millisecond, so that is ample), and no
// longer, since the sanitizer build runs it about 30 times slower: conv 3×3 (1→4) on
// 1×10×10, element-wise x², dense 3; N = 2^12.
Workflow slow_workflow() { return Workflow(conv_square_model(10, 4, 7), 40, 12); }

struct CrashTest : HttpTest {
    CrashTest() : HttpTest(slow_workflow()) {}
    fs::path state() const { return dir / "state"; }
    void kill9() {
        server->signal(SIGKILL);
        EXPECT_EQ(server->wait(), 128 + SIGKILL);
        server.reset();
    }
    // The "state" field of the job's status.json as the server last wrote it.
    std::string state_on_disk(const std::string& sid, const std::string& jid) const {
        std::ifstream f(state() / "sessions" / sid / "jobs" / jid / "status.json");
        std::string text((std::istreambuf_iterator<char>(f)), {});
        const auto p = text.find("\"state\"");
        if (p == std::string::npos) return "";
        const auto a = text.find('"', text.find(':', p) + 1), b = text.find('"', a + 1);
        return text.substr(a + 1, b - a - 1);
    }
    // Waits (polling the disk every millisecond) until one of `jobs` is running; returns it.
    std::string wait_running(const std::string& sid, const std::vector<std::string>& jobs) const {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < end) {
            for (const auto& j : jobs)
                if (state_on_disk(sid, j) == "running") return j;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return "";
    }
    // Files a killed process may leave behind: temporaries of uncommitted writes, spool.
    std::size_t leftovers() const {
        std::size_t n = 0;
        for (const auto& e : fs::recursive_directory_iterator(state()))
            n += e.path().filename().string().find(".tmp.") != std::string::npos || e.path().parent_path().filename() == "spool";
        return n;
    }
    std::size_t jobs_on_disk(const std::string& sid) const {
        std::size_t n = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(state() / "sessions" / sid / "jobs")) ++n;
        return n;
    }
    // Connects and sends the head of a POST of `total` bytes with only `bytes` of its body;
    // returns the open socket.
    int partial_upload(const std::string& path, std::size_t total, std::span<const std::uint8_t> bytes) const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port()));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        const std::string head = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                                 std::to_string(total) + "\r\n\r\n";
        EXPECT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
        EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
        return fd;
    }
};

TEST_F(CrashTest, KillNineMidJobLosesNoAcceptedJob) {
    start();
    TestClient alice(w.plan, dir / "alice");
    const std::string sid = client().open_session(alice.eval_keys());
    const fs::path batch = alice.encrypt("b", 40, 51);
    std::vector<std::string> accepted;
    for (int i = 0; i < 4; ++i) accepted.push_back(client().submit(sid, batch));
    for (int round = 0; round < 2; ++round) {
        const std::string hit = wait_running(sid, accepted);
        ASSERT_FALSE(hit.empty()) << "no job was seen running";
        kill9();
        // The kill landed on a running job (its status on disk still says so).
        EXPECT_EQ(state_on_disk(sid, hit), "running");
        // Whatever is done already is complete: a restarted server serves it whole.
        start();
        auto c = client();
        for (const auto& j : accepted)
            if (c.status(sid, j).state == JobState::done) {
                c.download(sid, j, dir / "early.result");
                alice.expect_matches(w.model, "b", dir / "early.result");
            }
    }
    auto c = client();
    for (const auto& j : accepted) {
        const auto st = c.wait(sid, j, {}, 0.02);
        ASSERT_EQ(st.state, JobState::done) << st.error;  // each was interrupted at most twice: run again
        c.download(sid, j, dir / "k.result");
        alice.expect_matches(w.model, "b", dir / "k.result");
    }
    EXPECT_EQ(leftovers(), 0u);
    EXPECT_EQ(stop(), 0);
}

TEST_F(CrashTest, AJobInterruptedThreeTimesIsReportedFailedAndTheRestRun) {
    start();
    TestClient alice(w.plan, dir / "alice");
    const std::string sid = client().open_session(alice.eval_keys());
    const std::string bad = client().submit(sid, alice.encrypt("x", 40, 52));
    const std::string next = client().submit(sid, alice.encrypt("y", 9, 53));
    for (int round = 0; round < 3; ++round) {
        // After each restart the interrupted job is the first to run again.
        ASSERT_EQ(wait_running(sid, {bad}), bad) << "round " << round;
        kill9();
        EXPECT_EQ(client().healthy(), false);
        start();
    }
    auto c = client();
    const auto st = c.status(sid, bad);
    EXPECT_EQ(st.state, JobState::failed);
    EXPECT_NE(st.error.find("stopped 3 times"), std::string::npos) << st.error;
    EXPECT_NE(status_of([&] { c.download(sid, bad, dir / "never"); }), 0);
    EXPECT_FALSE(fs::exists(dir / "never"));
    const auto st2 = c.wait(sid, next, {}, 0.02);
    ASSERT_EQ(st2.state, JobState::done) << st2.error;
    c.download(sid, next, dir / "y.result");
    alice.expect_matches(w.model, "y", dir / "y.result");
    EXPECT_EQ(stop(), 0);
}

TEST_F(CrashTest, UploadsCutOffMidBodyLeaveNothingBehind) {
    start();
    TestClient alice(w.plan, dir / "alice");
    const std::string sid = client().open_session(alice.eval_keys());
    const fs::path batch = alice.encrypt("u", 40, 54);
    const auto bytes = read_bytes(batch);
    const std::string path = "/v1/sessions/" + sid + "/jobs";
    // The client goes away mid-body: the server removes what it had received.
    ::close(partial_upload(path, bytes.size(), std::span(bytes).first(bytes.size() / 2)));
    EXPECT_TRUE(eventually([&] { return leftovers() == 0; }, 30));
    // The server is killed mid-body: the next one starts with an empty spool.
    const int fd = partial_upload(path, bytes.size(), std::span(bytes).first(bytes.size() / 2));
    ASSERT_TRUE(eventually([&] { return leftovers() == 1; }, 30)) << "the upload was not being received";
    kill9();
    ::close(fd);
    start();
    EXPECT_EQ(leftovers(), 0u);
    EXPECT_EQ(jobs_on_disk(sid), 0u);
    // Neither became a job; a whole upload still works.
    auto c = client();
    const std::string jid = c.submit(sid, batch);
    EXPECT_EQ(jobs_on_disk(sid), 1u);
    ASSERT_EQ(c.wait(sid, jid, {}, 0.02).state, JobState::done);
    c.download(sid, jid, dir / "u.result");
    alice.expect_matches(w.model, "u", dir / "u.result");
    EXPECT_EQ(stop(), 0);
}

}  // namespace
