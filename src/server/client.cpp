#include "hecnn/server/client.h"

#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "hecnn/io/json.h"
#include "hecnn/server/tls.h"
#include "protocol.h"

namespace hecnn::server {
namespace fs = std::filesystem;
using nlohmann::json;

struct ServiceClient::Impl {
    ClientOptions opt;
    httplib::Client http;
    explicit Impl(ClientOptions o) : opt(std::move(o)), http(opt.url) {
        if (!http.is_valid()) throw ClientError(0, "not a server URL: \"" + opt.url + "\" (expected https://host:port or http://host:port)");
        const bool https = opt.url.rfind("https://", 0) == 0;
        if (!opt.ca_cert.empty()) {
            if (!https) throw ClientError(0, "a CA certificate was given for " + opt.url + ", which is plain HTTP: use https://");
            try {
                check_ca_file(opt.ca_cert);
            } catch (const std::exception& e) {
                throw ClientError(0, e.what());
            }
            http.set_ca_cert_path(opt.ca_cert);
        }
        http.enable_server_certificate_verification(true);  // never off: the token and ids depend on it
        http.set_connection_timeout(opt.connect_timeout_seconds, 0);
        http.set_read_timeout(opt.read_timeout_seconds, 0);
        http.set_write_timeout(opt.read_timeout_seconds, 0);
        if (!opt.token.empty()) http.set_bearer_token_auth(opt.token);
    }

    std::string transport_error(httplib::Error e) const {
        const std::string trust = opt.ca_cert.empty() ? "the system's trusted CAs" : "the CA file " + opt.ca_cert;
        switch (e) {
            case httplib::Error::SSLServerVerification:
                return "the TLS certificate of " + opt.url + " is not trusted: it is not signed by " + trust +
                       ", or not issued for this host name/address (--ca-cert FILE names the server's CA)";
            case httplib::Error::SSLLoadingCerts: return "cannot load " + trust + " to check the server's TLS certificate";
            case httplib::Error::SSLConnection:
                return "the TLS handshake with " + opt.url + " failed (a plain-HTTP server there? then use http://)";
            default:
                return "cannot reach " + opt.url + " (" + httplib::to_string(e) + "); is `hecnn serve` running there" +
                       (opt.url.rfind("http://", 0) == 0 ? ", and without TLS (an https:// server needs https://)?" : "?");
        }
    }

    // A transport failure or an error status → ClientError with the server's message.
    const httplib::Response& check(const httplib::Result& r, const std::string& what) const {
        if (!r) throw ClientError(0, what + ": " + transport_error(r.error()));
        if (r->status >= 400) {
            std::string msg = r->body;
            try {
                msg = io::parse_json_bounded(r->body, "the server's error").at("error").get<std::string>();
            } catch (const std::exception&) {
            }
            throw ClientError(r->status, what + ": the server answered " + std::to_string(r->status) + ": " + msg);
        }
        return *r;
    }
    json json_of(const httplib::Result& r, const std::string& what) const {
        const auto& res = check(r, what);
        if (res.body.size() > protocol::kMaxJsonBytes) throw ClientError(0, what + ": answer too large");
        try {
            return io::parse_json_bounded(res.body, "the server's answer");
        } catch (const std::exception& e) {
            throw ClientError(0, what + ": the server's answer is not JSON (" + e.what() + ")");
        }
    }
    // Streams a file as the request body.
    httplib::Result post_file(const std::string& path, const fs::path& file) {
        auto f = std::make_shared<std::ifstream>(file, std::ios::binary);
        if (!*f) throw ClientError(0, "cannot read " + file.string());
        const auto size = static_cast<std::size_t>(fs::file_size(file));
        return http.Post(path, size,
                         [f](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                             std::vector<char> buf(std::min<std::size_t>(length, 1 << 20));
                             f->seekg(static_cast<std::streamoff>(offset));
                             f->read(buf.data(), static_cast<std::streamsize>(buf.size()));
                             const auto got = f->gcount();
                             return got > 0 && sink.write(buf.data(), static_cast<std::size_t>(got));
                         },
                         "application/octet-stream");
    }
    // The plan's exact upload sizes (GET /v1/plan, read once): a larger file is refused
    // here, because a server that refuses a body mid-upload resets the connection.
    std::size_t max_batch = 0, max_keys = 0;
    void check_size(const fs::path& file, bool keys) {
        if (!max_batch) {
            const auto r = http.Get(std::string(protocol::kPrefix) + "/plan");
            const auto& res = check(r, "fetching the plan");
            try {
                const auto sizes = io::parse_json_bounded(res.body, "the server's plan").at("body").at("sizes");
                max_batch = sizes.at("batch_file_bytes").get<std::size_t>();
                max_keys = sizes.at("eval_keys_bytes").get<std::size_t>();
            } catch (const std::exception& e) {
                throw ClientError(0, std::string("the server's plan is malformed: ") + e.what());
            }
        }
        const std::size_t limit = keys ? max_keys : max_batch, size = static_cast<std::size_t>(fs::file_size(file));
        if (size > limit)
            throw ClientError(413, file.filename().string() + " has " + std::to_string(size) + " bytes; the server's plan accepts at most " +
                                       std::to_string(limit) + (keys ? " for evaluation keys (keys of another plan?)" : " for a batch (a batch of another plan?)"));
    }
    static std::string job_path(const std::string& s, const std::string& j) {
        return std::string(protocol::kPrefix) + "/sessions/" + s + "/jobs/" + j;
    }
};

ServiceClient::ServiceClient(ClientOptions opt) : impl_(std::make_unique<Impl>(std::move(opt))) {}
ServiceClient::~ServiceClient() = default;

bool ServiceClient::healthy() {
    auto r = impl_->http.Get(std::string(protocol::kPrefix) + "/health");
    return r && r->status == 200;
}

std::string ServiceClient::plan_json() {
    return impl_->check(impl_->http.Get(std::string(protocol::kPrefix) + "/plan"), "fetching the plan").body;
}

std::string ServiceClient::open_session(const fs::path& eval_keys) {
    impl_->check_size(eval_keys, true);
    const auto j = impl_->json_of(impl_->post_file(std::string(protocol::kPrefix) + "/sessions", eval_keys), "opening a session");
    const auto sid = j.at("session").get<std::string>();
    if (!is_valid_id(sid)) throw ClientError(0, "the server answered a malformed session id");
    return sid;
}

void ServiceClient::close_session(const std::string& s) {
    impl_->check(impl_->http.Delete(std::string(protocol::kPrefix) + "/sessions/" + s), "closing the session");
}

std::string ServiceClient::submit(const std::string& s, const fs::path& batch) {
    impl_->check_size(batch, false);
    const auto j = impl_->json_of(impl_->post_file(std::string(protocol::kPrefix) + "/sessions/" + s + "/jobs", batch),
                                  "uploading " + batch.filename().string());
    const auto jid = j.at("job").get<std::string>();
    if (!is_valid_id(jid)) throw ClientError(0, "the server answered a malformed job id");
    return jid;
}

JobStatus ServiceClient::status(const std::string& s, const std::string& j) {
    const auto o = impl_->json_of(impl_->http.Get(Impl::job_path(s, j)), "reading the job status");
    try {
        return protocol::job_status_from_json(o);
    } catch (const std::exception& e) {
        throw ClientError(0, std::string("malformed job status from the server: ") + e.what());
    }
}

JobStatus ServiceClient::wait(const std::string& s, const std::string& j, const std::function<void(const JobStatus&)>& on_progress,
                              double poll_seconds) {
    for (;;) {
        const JobStatus st = status(s, j);
        if (on_progress) on_progress(st);
        if (st.state == JobState::done || st.state == JobState::failed) return st;
        std::this_thread::sleep_for(std::chrono::duration<double>(poll_seconds));
    }
}

std::size_t ServiceClient::download(const std::string& s, const std::string& j, const fs::path& out) {
    // Into a temporary file next to `out`, renamed over it only when complete.
    const fs::path tmp = out.string() + ".part-" + std::to_string(::getpid());
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw ClientError(0, "cannot write " + tmp.string());
    std::string error_body;
    int status = 0;
    std::size_t n = 0;
    auto r = impl_->http.Get(
        Impl::job_path(s, j) + "/result",
        [&](const httplib::Response& res) {
            status = res.status;
            return true;
        },
        [&](const char* d, std::size_t len) {
            if (status != 200) {
                if (error_body.size() < protocol::kMaxJsonBytes) error_body.append(d, len);
                return true;
            }
            f.write(d, static_cast<std::streamsize>(len));
            n += len;
            return static_cast<bool>(f);
        });
    f.close();
    std::error_code ec;
    if (!r || status != 200 || !f) {
        fs::remove(tmp, ec);
        if (r && status != 200) r->body = error_body;
        if (!f && r && status == 200) throw ClientError(0, "cannot write " + out.string() + " (disk full?)");
        impl_->check(r, "downloading the result");
        throw ClientError(0, "downloading the result failed");
    }
    fs::rename(tmp, out);
    return n;
}

void ServiceClient::delete_job(const std::string& s, const std::string& j) {
    impl_->check(impl_->http.Delete(Impl::job_path(s, j)), "deleting the job");
}

}  // namespace hecnn::server
