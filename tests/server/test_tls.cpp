// TLS end to end: a real `hecnn serve` process with a certificate on a loopback port and
// the client library against it, over real sockets. Certificates are made in the test:
// by hecnn's own helper (as `hecnn demo` does) and, independently, by the openssl command
// line (a CA and a certificate it signs). A full job over TLS gives the plaintext model's
// predictions; an untrusted certificate, a certificate for another address, plain HTTP to
// the TLS port and TLS to a plain port are all refused; unusable files are named.
#include <cstdlib>

#include <httplib.h>

#include "hecnn/server/http_server.h"
#include "hecnn/server/tls.h"
#include "server/http_fixture.h"

using namespace hecnn;
using namespace hecnn::test;
using server::JobState;

namespace {

struct TlsTest : HttpTest {
    fs::path cert(const std::string& name) const { return dir / (name + ".pem"); }
    fs::path key(const std::string& name) const { return dir / (name + ".key"); }
    void self_signed(const std::string& name, const std::vector<std::string>& hosts = {"127.0.0.1"}) {
        server::make_self_signed_certificate(cert(name), key(name), hosts);
    }
    void start_tls(const std::string& name) { start({"--tls-cert", cert(name).string(), "--tls-key", key(name).string()}); }
    // A command of the openssl tool in the scratch directory.
    void openssl(const std::string& args) const {
        const std::string cmd = "cd '" + dir.path().string() + "' && openssl " + args + " 2>openssl.log";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    // The message of the ClientError f throws (status 0: refused at the transport).
    std::string refusal(const std::function<void()>& f) {
        const int status = status_of(f);
        EXPECT_EQ(status, 0) << last_error;
        return status == 0 ? last_error : "";
    }
};

TEST_F(TlsTest, HandshakeAndAFullJobOverTls) {
    self_signed("srv");
    EXPECT_EQ(fs::status(key("srv")).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    start_tls("srv");
    ASSERT_EQ(url.rfind("https://127.0.0.1:", 0), 0u) << url;
    ca_cert = cert("srv").string();
    TestClient alice(w.plan, dir / "alice");
    auto c = client();
    EXPECT_TRUE(c.healthy());
    EXPECT_EQ(io::parse_plan(c.plan_json(), true).params_id, w.plan.params_id);
    const std::string sid = c.open_session(alice.eval_keys());
    const std::string jid = c.submit(sid, alice.encrypt("b", 21, 41));
    const auto st = c.wait(sid, jid, {}, 0.05);
    ASSERT_EQ(st.state, JobState::done) << st.error;
    c.download(sid, jid, alice.dir / "result");
    alice.expect_matches(w.model, "b", alice.dir / "result");
    c.close_session(sid);
    EXPECT_EQ(stop(), 0);
}

TEST_F(TlsTest, CertificateSignedByAnIndependentCa) {
    // The CA and the server's certificate from the openssl tool, not from hecnn.
    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=hecnn-test-ca");
    openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1");
    std::ofstream(dir / "ext") << "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
    openssl("x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 7 -days 2 -extfile ext -out srv.pem");
    start_tls("srv");
    ca_cert = cert("ca").string();
    EXPECT_TRUE(client().healthy());
    EXPECT_EQ(io::parse_plan(client().plan_json(), true).params_id, w.plan.params_id);
    // The server's own certificate is not a CA: trusting only the leaf's issuer matters.
    ca_cert = cert("srv").string();
    EXPECT_NE(refusal([&] { client().plan_json(); }).find("not trusted"), std::string::npos) << last_error;
    EXPECT_EQ(stop(), 0);
}

TEST_F(TlsTest, UntrustedCertificatesAreRefused) {
    self_signed("srv");
    self_signed("other");
    self_signed("elsewhere", {"192.0.2.7", "example.org"});
    start_tls("srv");
    ca_cert = cert("other").string();  // another CA
    EXPECT_NE(refusal([&] { client().plan_json(); }).find("not trusted"), std::string::npos) << last_error;
    EXPECT_FALSE(client().healthy());
    ca_cert.clear();  // the system's CAs do not know a self-signed certificate
    EXPECT_NE(refusal([&] { client().plan_json(); }).find("system's trusted CAs"), std::string::npos) << last_error;
    stop();
    start_tls("elsewhere");  // trusted, but issued for another address
    ca_cert = cert("elsewhere").string();
    EXPECT_NE(refusal([&] { client().plan_json(); }).find("not trusted"), std::string::npos) << last_error;
    EXPECT_EQ(stop(), 0);
}

TEST_F(TlsTest, PlainHttpToTheTlsPortIsRefused) {
    self_signed("srv");
    start_tls("srv");
    const std::string plain = "http://127.0.0.1:" + std::to_string(port());
    // Raw plain HTTP gets no HTTP answer; the client library gets a transport error.
    const std::string answer = raw_request(port(), "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
    httplib::Client raw(plain);
    EXPECT_FALSE(raw.Get("/v1/plan"));
    server::ClientOptions o;
    o.url = plain;
    EXPECT_EQ(status_of([&] { server::ServiceClient(o).plan_json(); }), 0);
    // The TLS service is unharmed.
    ca_cert = cert("srv").string();
    EXPECT_TRUE(client().healthy());
    EXPECT_EQ(stop(), 0);
}

TEST_F(TlsTest, TlsToAPlainPortIsRefused) {
    self_signed("srv");
    start();
    const std::string plain = url;
    url = "https://127.0.0.1:" + std::to_string(port());
    ca_cert = cert("srv").string();
    EXPECT_NE(refusal([&] { client().plan_json(); }).find("TLS handshake"), std::string::npos) << last_error;
    url = plain;
    ca_cert.clear();
    EXPECT_TRUE(client().healthy());
    EXPECT_EQ(stop(), 0);
}

TEST_F(TlsTest, UnusableFilesAreNamed) {
    self_signed("srv");
    self_signed("other");
    std::ofstream(dir / "junk.pem") << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    server::ServiceOptions so;
    so.state_dir = dir / "state";
    so.workers = 0;
    so.allow_insecure = true;
    server::Service svc(w.plan, compile_served(w), so);
    auto message = [&](const fs::path& c, const fs::path& k) -> std::string {
        server::HttpOptions ho;
        ho.port = 0;
        ho.tls_cert = c.string();
        ho.tls_key = k.string();
        try {
            server::HttpServer http(svc, ho);
        } catch (const std::exception& e) {
            return e.what();
        }
        return "accepted";
    };
    EXPECT_EQ(message(cert("srv"), key("srv")), "accepted");
    const std::string missing = message(dir / "nothing.pem", key("srv"));
    EXPECT_NE(missing.find("nothing.pem"), std::string::npos) << missing;
    const std::string junk = message(dir / "junk.pem", key("srv"));
    EXPECT_NE(junk.find("no PEM certificate"), std::string::npos) << junk;
    const std::string not_a_key = message(cert("srv"), cert("srv"));
    EXPECT_NE(not_a_key.find("not an unencrypted PEM private key"), std::string::npos) << not_a_key;
    const std::string mismatch = message(cert("srv"), key("other"));
    EXPECT_NE(mismatch.find("does not belong to the certificate"), std::string::npos) << mismatch;
    // The client checks its CA file before connecting, and wants https for it.
    server::ClientOptions co;
    co.url = "https://127.0.0.1:1";
    co.ca_cert = (dir / "junk.pem").string();
    EXPECT_EQ(status_of([&] { server::ServiceClient c(co); }), 0);
    EXPECT_NE(last_error.find("junk.pem"), std::string::npos) << last_error;
    co.url = "http://127.0.0.1:1";
    co.ca_cert = cert("srv").string();
    EXPECT_EQ(status_of([&] { server::ServiceClient c(co); }), 0);
    EXPECT_NE(last_error.find("use https://"), std::string::npos) << last_error;
    // And `hecnn serve` with such files exits with an error instead of listening.
    cli::Subprocess bad({HECNN_EXE, "serve", "--model", (dir / "tiny.onnx").string(), "--plan", (dir / "plan.json").string(), "--listen",
                         "127.0.0.1:0", "--state-dir", (dir / "state2").string(), "--insecure-test-params", "--tls-cert",
                         cert("srv").string(), "--tls-key", key("other").string()},
                        true);
    EXPECT_EQ(cli::read_serve_url(bad, std::chrono::seconds(60)), "");
    EXPECT_NE(bad.wait(), 0);
}

TEST(TlsHosts, LoopbackAddressesAreRecognised) {
    for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"})
        EXPECT_TRUE(server::is_loopback_host(h)) << h;
    for (const char* h : {"0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "128.0.0.1", "example.org", "", "localhost.example.org"})
        EXPECT_FALSE(server::is_loopback_host(h)) << h;
}

}  // namespace
