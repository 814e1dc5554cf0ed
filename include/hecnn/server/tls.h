// TLS for the service (OpenSSL, through cpp-httplib): checking the files an operator
// names before anything listens, and a self-signed certificate for a loopback service
// (`hecnn demo`, the tests, the load test) made without the openssl command line.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace hecnn::server {

// Throws std::runtime_error naming the file and the problem (missing, not PEM, not a
// certificate / private key, key does not match the certificate, certificate expired).
void check_tls_identity(const std::filesystem::path& cert, const std::filesystem::path& key);
// Throws std::runtime_error unless `ca` is a PEM file holding at least one certificate.
void check_ca_file(const std::filesystem::path& ca);

// A new P-256 key (written atomically, mode 0600) and a self-signed certificate for
// `hosts` (IP addresses or DNS names, in subjectAltName), valid for `days`. Clients trust
// it by passing the certificate itself as their CA file.
void make_self_signed_certificate(const std::filesystem::path& cert, const std::filesystem::path& key,
                                  const std::vector<std::string>& hosts, int days = 30);

// True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost): the ones
// where a plain-HTTP service exposes no token or id on a network.
bool is_loopback_host(const std::string& host);

}  // namespace hecnn::server
