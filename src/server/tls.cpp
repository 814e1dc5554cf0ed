#include "hecnn/server/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>

#include "hecnn/ckks/serialize.h"
#include "tls_context.h"

namespace hecnn::server {
namespace fs = std::filesystem;

namespace {

// PEM files of a certificate chain or a key are a few KiB; anything far larger is not one.
constexpr std::size_t kMaxPemBytes = 1 << 20;

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

// The oldest queued OpenSSL error, as text (the queue is cleared).
std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "no detail from OpenSSL";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// Never prompts on a terminal for a passphrase (OpenSSL's default callback does).
int no_passphrase(char*, int, int, void*) { return 0; }

Bio read_pem(const fs::path& p, const char* what) {
    std::vector<std::uint8_t> bytes;
    try {
        bytes = ckks::read_file(p, kMaxPemBytes);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(what) + " " + p.string() + ": " + e.what());
    }
    Bio b(BIO_new(BIO_s_mem()));
    if (!b || BIO_write(b.get(), bytes.data(), static_cast<int>(bytes.size())) != static_cast<int>(bytes.size()))
        throw std::runtime_error("out of memory reading " + p.string());
    return b;
}

// Every certificate of a PEM file, the first being the server's own.
std::vector<Cert> read_certs(const fs::path& p, const char* what) {
    Bio b = read_pem(p, what);
    std::vector<Cert> out;
    while (X509* x = PEM_read_bio_X509(b.get(), nullptr, no_passphrase, nullptr)) out.emplace_back(x);
    ERR_clear_error();  // the end of the file reads as an error
    if (out.empty())
        throw std::runtime_error(std::string(what) + " " + p.string() + " holds no PEM certificate (a \"-----BEGIN CERTIFICATE-----\" block)");
    return out;
}

Key read_key(const fs::path& p) {
    Bio b = read_pem(p, "TLS key");
    Key k(PEM_read_bio_PrivateKey(b.get(), nullptr, no_passphrase, nullptr));
    if (!k)
        throw std::runtime_error("TLS key " + p.string() + " is not an unencrypted PEM private key (" + openssl_error() +
                                 "); a passphrase-protected key must be decrypted first (openssl pkey -in KEY -out KEY2)");
    return k;
}

std::string asn1_time(const ASN1_TIME* t) {
    Bio b(BIO_new(BIO_s_mem()));
    ASN1_TIME_print(b.get(), t);
    char* data = nullptr;
    const long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

struct Identity {
    std::vector<Cert> chain;
    Key key;
};

Identity load_identity(const fs::path& cert, const fs::path& key) {
    Identity id{read_certs(cert, "TLS certificate"), read_key(key)};
    X509* leaf = id.chain.front().get();
    if (X509_check_private_key(leaf, id.key.get()) != 1) {
        ERR_clear_error();
        throw std::runtime_error("TLS key " + key.string() + " does not belong to the certificate " + cert.string() +
                                 " (the first certificate of the file must be the server's own)");
    }
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
        throw std::runtime_error("TLS certificate " + cert.string() + " expired on " + asn1_time(X509_get0_notAfter(leaf)));
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
        throw std::runtime_error("TLS certificate " + cert.string() + " is not valid before " + asn1_time(X509_get0_notBefore(leaf)));
    return id;
}

void add_ext(X509* x, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    Ext e(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!e || !X509_add_ext(x, e.get(), -1)) throw std::runtime_error(std::string("certificate extension ") + value + ": " + openssl_error());
}

std::vector<std::uint8_t> pem_bytes(const std::function<int(BIO*)>& write) {
    Bio b(BIO_new(BIO_s_mem()));
    if (!b || write(b.get()) != 1) throw std::runtime_error("writing PEM: " + openssl_error());
    char* data = nullptr;
    const long n = BIO_get_mem_data(b.get(), &data);
    return {reinterpret_cast<std::uint8_t*>(data), reinterpret_cast<std::uint8_t*>(data) + n};
}

}  // namespace

void check_tls_identity(const fs::path& cert, const fs::path& key) { load_identity(cert, key); }

void check_ca_file(const fs::path& ca) { read_certs(ca, "CA file"); }

void use_tls_identity(SSL_CTX& ctx, const fs::path& cert, const fs::path& key) {
    const Identity id = load_identity(cert, key);
    if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1 || SSL_CTX_use_certificate(&ctx, id.chain.front().get()) != 1 ||
        SSL_CTX_use_PrivateKey(&ctx, id.key.get()) != 1)
        throw std::runtime_error("cannot use " + cert.string() + " and " + key.string() + " for TLS: " + openssl_error());
    for (std::size_t i = 1; i < id.chain.size(); ++i)
        if (SSL_CTX_add1_chain_cert(&ctx, id.chain[i].get()) != 1)
            throw std::runtime_error("cannot use the intermediate certificates of " + cert.string() + ": " + openssl_error());
}

void make_self_signed_certificate(const fs::path& cert, const fs::path& key, const std::vector<std::string>& hosts, int days) {
    if (hosts.empty()) throw std::invalid_argument("make_self_signed_certificate: no host names");
    Key k(EVP_EC_gen("P-256"));
    Cert x(X509_new());
    if (!k || !x) throw std::runtime_error("cannot make a TLS key: " + openssl_error());
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) throw std::runtime_error("no randomness for a certificate serial: " + openssl_error());
    serial[0] &= 0x7f;  // a positive serial number
    std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> bn(BN_bin2bn(serial, sizeof serial, nullptr));
    std::string san;
    for (const auto& h : hosts) {
        unsigned char buf[16];
        const bool ip = inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
        if (!san.empty()) san += ',';
        san += ip ? "IP:" : "DNS:";
        san += h;
    }
    X509_NAME* name = X509_get_subject_name(x.get());
    if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) || X509_set_version(x.get(), 2) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x.get()), -300) || !X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400L * days) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(hosts[0].c_str()), -1, -1, 0) != 1 ||
        X509_set_issuer_name(x.get(), name) != 1 || X509_set_pubkey(x.get(), k.get()) != 1)
        throw std::runtime_error("cannot make a certificate: " + openssl_error());
    // Its own CA (what `openssl req -x509` makes), so that clients can trust it directly.
    add_ext(x.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(x.get(), NID_key_usage, "critical,digitalSignature,keyCertSign");
    add_ext(x.get(), NID_ext_key_usage, "serverAuth");
    add_ext(x.get(), NID_subject_key_identifier, "hash");
    add_ext(x.get(), NID_subject_alt_name, san.c_str());
    if (X509_sign(x.get(), k.get(), EVP_sha256()) <= 0) throw std::runtime_error("cannot sign the certificate: " + openssl_error());
    ckks::write_file_atomic(key, pem_bytes([&](BIO* b) { return PEM_write_bio_PrivateKey(b, k.get(), nullptr, nullptr, 0, nullptr, nullptr); }));
    ckks::write_file_atomic(cert, pem_bytes([&](BIO* b) { return PEM_write_bio_X509(b, x.get()); }));
}

bool is_loopback_host(const std::string& host) {
    std::string h = host;
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (h == "localhost") return true;
    unsigned char a[16];
    if (inet_pton(AF_INET, h.c_str(), a) == 1) return a[0] == 127;
    if (inet_pton(AF_INET6, h.c_str(), a) == 1) {
        static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return std::equal(a, a + 16, one) || (std::equal(a, a + 12, v4mapped) && a[12] == 127);
    }
    return false;
}

}  // namespace hecnn::server
