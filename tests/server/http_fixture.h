// A real `hecnn serve` process on a loopback port (plain HTTP, or TLS with extra options),
// clients of it, and raw TCP requests: the set-up of the end-to-end service tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include "cli/subprocess.h"
#include "hecnn/server/client.h"
#include "server/server_fixture.h"

namespace hecnn::test {

struct HttpTest : ::testing::Test {
    static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }  // a refused upload closes the socket mid-send
    ScratchDir dir;
    Workflow w;
    std::unique_ptr<cli::Subprocess> server;
    std::string url;

    explicit HttpTest(Workflow served = Workflow{5, 40}) : w(std::move(served)) {
        std::ofstream(dir / "tiny.onnx", std::ios::binary) << w.onnx;
        io::save_plan(dir / "plan.json", w.plan);
    }
    ~HttpTest() override {
        if (server) server->signal(SIGKILL);
    }
    void start(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> argv = {HECNN_EXE, "serve", "--model", (dir / "tiny.onnx").string(), "--plan", (dir / "plan.json").string(),
                                          "--listen", "127.0.0.1:0", "--state-dir", (dir / "state").string(), "--insecure-test-params",
                                          "--threads", "1", "--drain-seconds", "60"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        server = std::make_unique<cli::Subprocess>(argv, true);
        url = cli::read_serve_url(*server, std::chrono::seconds(60));
        ASSERT_FALSE(url.empty()) << "hecnn serve did not start";
    }
    int stop() {
        server->signal(SIGTERM);
        const int rc = server->wait();
        server.reset();
        return rc;
    }
    int port() const { return std::stoi(url.substr(url.rfind(':') + 1)); }
    // Sends raw bytes over TCP; returns the answer's head (what arrives until a blank line, or 5 s).
    static std::string raw_request(int port, const std::string& bytes) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::string out;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) >= 0) {
            timeval tv{5, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            char buf[4096];
            for (ssize_t n; out.find("\r\n\r\n") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
                out.append(buf, static_cast<std::size_t>(n));
        }
        ::close(fd);
        return out;
    }
    std::string ca_cert;  // the clients' CA file (https)
    server::ServiceClient client(const std::string& token = "") {
        server::ClientOptions o;
        o.url = url;
        o.token = token;
        o.ca_cert = ca_cert;
        return server::ServiceClient(o);
    }
    std::string last_error;  // the message of the last refusal (shown when a check fails)
    int status_of(const std::function<void()>& f) {
        try {
            f();
        } catch (const server::ClientError& e) {
            last_error = e.what();
            return e.status();
        }
        return 0;
    }
};

}  // namespace hecnn::test
