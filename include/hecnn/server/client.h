// The client end of the service protocol (http_server.h): open a session with the
// evaluation keys, upload batches (streamed from their files), poll, download results
// (written atomically). Only ciphertexts and evaluation keys ever leave the client.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "hecnn/server/service.h"

namespace hecnn::server {

// The server refused a request (status ≥ 400) or could not be reached (status 0).
class ClientError : public std::runtime_error {
public:
    ClientError(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

struct ClientOptions {
    std::string url = "http://127.0.0.1:8080";  // https://host:port (TLS) or http://host:port
    std::string ca_cert;                        // https: PEM file of the CA(s) to trust (empty: the system's)
    std::string token;                          // bearer token, if the server wants one
    int connect_timeout_seconds = 10;
    int read_timeout_seconds = 300;             // a download of a large result on a slow link
};

class ServiceClient {
public:
    explicit ServiceClient(ClientOptions opt);
    ~ServiceClient();

    bool healthy();                        // GET /v1/health answered 200
    std::string plan_json();               // GET /v1/plan
    std::string open_session(const std::filesystem::path& eval_keys);
    void close_session(const std::string& session);
    std::string submit(const std::string& session, const std::filesystem::path& batch);
    JobStatus status(const std::string& session, const std::string& job);
    // Polls until the job is done or failed; on_progress sees every status read.
    JobStatus wait(const std::string& session, const std::string& job,
                   const std::function<void(const JobStatus&)>& on_progress = {}, double poll_seconds = 0.5);
    // Writes the result atomically to `out`; never leaves a partial file there.
    std::size_t download(const std::string& session, const std::string& job, const std::filesystem::path& out);
    void delete_job(const std::string& session, const std::string& job);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hecnn::server
