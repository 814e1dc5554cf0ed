// The HTTP transport of the inference service (cpp-httplib). Protocol v1, JSON answers,
// binary uploads and downloads as application/octet-stream:
//
//   GET    /v1/health                                  no authentication; liveness + counts
//   GET    /v1/plan                                    the plan JSON (parameters, input shape, sizes)
//   POST   /v1/sessions                 body: eval keys  → 201 {"session", "keyset_id"}
//   DELETE /v1/sessions/<sid>
//   POST   /v1/sessions/<sid>/jobs      body: a batch    → 202 {"job"}
//   GET    /v1/sessions/<sid>/jobs                     statuses of the session's jobs
//   GET    /v1/sessions/<sid>/jobs/<jid>               status + progress
//   GET    /v1/sessions/<sid>/jobs/<jid>/result        the encrypted result (when done)
//   DELETE /v1/sessions/<sid>/jobs/<jid>
//
// Errors are {"error": "..."} with a 4xx status for the client's mistakes (400 malformed,
// 401 token, 404 unknown id, 409 state/parameter mismatch, 413 too large, 429 busy) and
// 503 while shutting down. Uploads are streamed to disk and bounded by the plan's exact
// sizes before a byte is buffered; the connection's read/write timeouts bound slow peers.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "hecnn/server/service.h"

namespace hecnn::server {

struct HttpOptions {
    std::string host = "127.0.0.1";
    int port = 8080;             // 0: any free port (see HttpServer::port())
    std::string token;           // non-empty: every /v1 route but /v1/health needs "Authorization: Bearer <token>"
    std::size_t threads = 8;     // connections served at once
    int read_timeout_seconds = 60, write_timeout_seconds = 60;
    // Both set: HTTPS only (TLS 1.2+), from PEM files: the certificate chain (the server's
    // own first) and its unencrypted private key. Both empty: plain HTTP (loopback only).
    std::string tls_cert, tls_key;
};

class HttpServer {
public:
    // Throws std::runtime_error naming the file when the TLS certificate or key is unusable.
    HttpServer(Service& service, HttpOptions opt);
    ~HttpServer();
    // Binds the socket (throws std::runtime_error naming the address if it cannot).
    void bind();
    int port() const;  // after bind()
    bool tls() const;
    std::string url() const;  // http(s)://host:port, after bind()
    void run();        // serves until stop(); bind() first
    void stop();       // thread-safe

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hecnn::server
