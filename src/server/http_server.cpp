#include "hecnn/server/http_server.h"

#include <httplib.h>
#include <sodium.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "hecnn/server/tls.h"
#include "protocol.h"
#include "tls_context.h"

namespace hecnn::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kJson = "application/json";
const std::string kId = "([0-9a-f]{32})";

void answer(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), kJson);
}
void error(httplib::Response& res, int status, const std::string& what) { answer(res, status, {{"error", what}}); }

// Constant-time comparison of the bearer token (lengths are not secret).
bool token_ok(const httplib::Request& req, const std::string& token) {
    if (token.empty()) return true;
    const std::string want = "Bearer " + token;
    const std::string got = req.get_header_value("Authorization");
    return got.size() == want.size() && sodium_memcmp(got.data(), want.data(), want.size()) == 0;
}

// Receives a body into `path`, refusing beyond `limit` bytes. Returns false (with the
// response set) if the body was too large or the disk write failed.
bool too_large(const httplib::Request& req, std::size_t limit, httplib::Response& res) {
    // A declared length beyond the limit is refused before reading a byte of the body.
    if (!req.has_header("Content-Length")) return false;
    const auto declared = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
    if (declared <= limit) return false;
    error(res, 413, "upload of " + std::to_string(declared) + " bytes; this plan's uploads are at most " + std::to_string(limit) + " bytes");
    res.set_header("Connection", "close");
    return true;
}

bool receive_to_file(const httplib::Request& req, const httplib::ContentReader& reader, const fs::path& path, std::size_t limit,
                     httplib::Response& res) {
    if (too_large(req, limit, res)) return false;
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return error(res, 507, "the service cannot store the upload (disk)"), false;
    std::size_t n = 0;
    bool too_big = false, io_error = false;
    const bool ok = reader([&](const char* data, std::size_t len) {
        n += len;
        if (n > limit) return too_big = true, false;
        f.write(data, static_cast<std::streamsize>(len));
        if (!f) return io_error = true, false;
        return true;
    });
    f.close();
    if (too_big) return error(res, 413, "upload larger than " + std::to_string(limit) + " bytes, the most this plan needs"), false;
    if (io_error || !f) return error(res, 507, "the service cannot store the upload (disk full?)"), false;
    if (!ok) return error(res, 400, "the upload was interrupted"), false;
    return true;
}

}  // namespace

struct HttpServer::Impl {
    Service& svc;
    HttpOptions opt;
    std::unique_ptr<httplib::Server> http;  // an httplib::SSLServer with a certificate
    int port = -1;

    Impl(Service& s, HttpOptions o) : svc(s), opt(std::move(o)) {
        if (opt.tls_cert.empty() != opt.tls_key.empty())
            throw std::invalid_argument("TLS needs both a certificate and its key (--tls-cert and --tls-key)");
        if (opt.tls_cert.empty()) {
            http = std::make_unique<httplib::Server>();
            return;
        }
        // The files are checked here, so that a bad one is named before anything listens.
        std::string why;
        http = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
            try {
                use_tls_identity(ctx, opt.tls_cert, opt.tls_key);
                return true;
            } catch (const std::exception& e) {
                why = e.what();
                return false;
            }
        });
        if (!http->is_valid()) throw std::runtime_error(why.empty() ? "cannot set up TLS" : why);
    }

    // Every handler body runs inside this: authentication, then ServiceError → its status,
    // anything else → 500 without leaking internals beyond the message.
    template <class F>
    void guarded(const httplib::Request& req, httplib::Response& res, F&& f) {
        if (!token_ok(req, opt.token)) return error(res, 401, "missing or wrong bearer token (Authorization: Bearer <token>)");
        try {
            f();
        } catch (const ServiceError& e) {
            error(res, e.status(), e.what());
        } catch (const std::exception& e) {
            error(res, 500, std::string("internal error: ") + e.what());
        }
    }

    void routes() {
        const std::string v1 = protocol::kPrefix;
        http->Get(v1 + "/health", [this](const httplib::Request&, httplib::Response& res) {
            answer(res, svc.accepting() ? 200 : 503, protocol::to_json(svc.health()));
        });
        http->Get(v1 + "/plan", [this](const httplib::Request& req, httplib::Response& res) {
            guarded(req, res, [&] { res.set_content(svc.plan_json(), kJson); });
        });
        http->Post(v1 + "/sessions", [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
            guarded(req, res, [&] {
                std::vector<std::uint8_t> body;
                const std::size_t limit = svc.max_eval_keys_bytes();
                if (too_large(req, limit, res)) return;
                bool too_big = false;
                reader([&](const char* d, std::size_t n) {
                    if (body.size() + n > limit) return too_big = true, false;
                    body.insert(body.end(), d, d + n);
                    return true;
                });
                if (too_big) return error(res, 413, "evaluation keys larger than " + std::to_string(limit) + " bytes, this plan's size");
                const std::string sid = svc.open_session(body);
                answer(res, 201, {{"session", sid}});
            });
        });
        http->Delete(v1 + "/sessions/" + kId, [this](const httplib::Request& req, httplib::Response& res) {
            guarded(req, res, [&] {
                svc.close_session(req.matches[1]);
                answer(res, 200, {{"closed", std::string(req.matches[1])}});
            });
        });
        http->Post(v1 + "/sessions/" + kId + "/jobs",
                  [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                      guarded(req, res, [&] {
                          // The body is received before any refusal: a client still sending
                          // would otherwise see a reset instead of the answer. It is bounded.
                          const std::string sid = req.matches[1];
                          const fs::path spool = svc.new_spool_path();
                          if (!receive_to_file(req, reader, spool, svc.max_batch_bytes(), res)) {
                              std::error_code ec;
                              fs::remove(spool, ec);
                              return;
                          }
                          const std::string jid = svc.submit(sid, spool);  // consumes the spool file
                          answer(res, 202, {{"job", jid}});
                      });
                  });
        http->Get(v1 + "/sessions/" + kId + "/jobs", [this](const httplib::Request& req, httplib::Response& res) {
            guarded(req, res, [&] {
                json a = json::array();
                for (const auto& s : svc.jobs(req.matches[1])) a.push_back(protocol::to_json(s));
                answer(res, 200, {{"jobs", a}});
            });
        });
        http->Get(v1 + "/sessions/" + kId + "/jobs/" + kId, [this](const httplib::Request& req, httplib::Response& res) {
            guarded(req, res, [&] { answer(res, 200, protocol::to_json(svc.status(req.matches[1], req.matches[2]))); });
        });
        http->Get(v1 + "/sessions/" + kId + "/jobs/" + kId + "/result", [this](const httplib::Request& req, httplib::Response& res) {
            guarded(req, res, [&] {
                const fs::path p = svc.result_path(req.matches[1], req.matches[2]);
                auto f = std::make_shared<std::ifstream>(p, std::ios::binary);
                if (!*f) throw ServiceError(410, "the result file is gone; resubmit the batch");
                const auto size = static_cast<std::size_t>(fs::file_size(p));
                res.set_content_provider(size, "application/octet-stream",
                                         [f](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                             std::vector<char> buf(std::min<std::size_t>(length, 1 << 20));
                                             f->seekg(static_cast<std::streamoff>(offset));
                                             f->read(buf.data(), static_cast<std::streamsize>(buf.size()));
                                             const auto got = f->gcount();
                                             if (got <= 0) return false;
                                             return sink.write(buf.data(), static_cast<std::size_t>(got));
                                         });
            });
        });
        http->Delete(v1 + "/sessions/" + kId + "/jobs/" + kId, [this](const httplib::Request& req, httplib::Response& res) {
            guarded(req, res, [&] {
                svc.delete_job(req.matches[1], req.matches[2]);
                answer(res, 200, {{"deleted", std::string(req.matches[2])}});
            });
        });
        http->set_error_handler([](const httplib::Request&, httplib::Response& res) {
            if (res.body.empty()) {
                const char* what = res.status == 404   ? "no such route; see GET /v1/health and the protocol in docs/WORKFLOW.md"
                                   : res.status == 413 ? "request body too large for this plan"
                                                       : "request refused";
                error(res, res.status, what);
            }
        });
    }
};

HttpServer::HttpServer(Service& service, HttpOptions opt) : impl_(std::make_unique<Impl>(service, std::move(opt))) {
    auto& h = *impl_->http;
    const std::size_t threads = std::max<std::size_t>(1, impl_->opt.threads);
    h.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    h.set_read_timeout(impl_->opt.read_timeout_seconds, 0);
    h.set_write_timeout(impl_->opt.write_timeout_seconds, 0);
    h.set_keep_alive_timeout(5);
    // Beyond the larger of the two uploads, httplib answers 413 before the handler runs.
    h.set_payload_max_length(std::max(service.max_batch_bytes(), service.max_eval_keys_bytes()) + 4096);
    impl_->routes();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::bind() {
    auto& i = *impl_;
    if (i.opt.port == 0) i.port = i.http->bind_to_any_port(i.opt.host);
    else i.port = i.http->bind_to_port(i.opt.host, i.opt.port) ? i.opt.port : -1;
    if (i.port < 0)
        throw std::runtime_error("cannot listen on " + i.opt.host + ":" + std::to_string(i.opt.port) +
                                 " (address in use, or not an address of this machine)");
}

int HttpServer::port() const { return impl_->port; }
bool HttpServer::tls() const { return !impl_->opt.tls_cert.empty(); }
std::string HttpServer::url() const {
    const std::string& h = impl_->opt.host;
    const bool v6 = h.find(':') != std::string::npos && h.front() != '[';
    return std::string(tls() ? "https://" : "http://") + (v6 ? "[" + h + "]" : h) + ":" + std::to_string(impl_->port);
}
void HttpServer::run() { impl_->http->listen_after_bind(); }
void HttpServer::stop() {
    if (impl_) impl_->http->stop();
}

}  // namespace hecnn::server
