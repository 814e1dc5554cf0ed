// The server end of TLS inside the server layer: a certificate chain and its key, loaded
// and checked once (tls.h's check_tls_identity), installed into cpp-httplib's SSL_CTX.
#pragma once

#include <openssl/ssl.h>

#include <filesystem>

namespace hecnn::server {

// Installs the chain and key of these PEM files into `ctx`, TLS 1.2 at least. Throws
// std::runtime_error with check_tls_identity's message when the files are not usable.
void use_tls_identity(SSL_CTX& ctx, const std::filesystem::path& cert, const std::filesystem::path& key);

}  // namespace hecnn::server
