// The client's key directory: creation (never overwriting a key without force) and loading
// with cross-checks.
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "container.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/io/keyset.h"

namespace hecnn::io {
namespace {

namespace fs = std::filesystem;
using detail::bad;

constexpr const char* kKeyFiles[] = {kParamsFile, kPlanCopyFile, kPublicKeyFile, kEvalKeysFile, kSecretKeyFile};

void write_new(const fs::path& path, std::span<const std::uint8_t> bytes, bool replace) {
    ckks::AtomicFileWriter w(path);
    w.write(bytes);
    w.commit(replace);
}

std::vector<std::uint8_t> read_in(const fs::path& dir, const char* name, std::size_t max_bytes) {
    const fs::path p = dir / name;
    std::error_code ec;
    if (!fs::exists(p, ec)) throw std::runtime_error(p.string() + " is missing: this is not a complete key directory (run `hecnn keygen`)");
    return ckks::read_file(p, max_bytes);
}

// Whether the relinearisation key was made with this secret key: b_j = −a_j·s + e_j +
// P·g_j·s² (keys.h), and on a modulus outside digit j's gadget (a special prime) the last
// term vanishes, so b_j + a_j·s = e_j there: a Gaussian error (σ 3.2, well below 2^20). For
// any other secret key it is a uniform residue, above 2^20 in all but a 2^-40 fraction of
// the coefficients: one limb per digit decides beyond doubt, for a few NTTs.
bool relin_key_matches(const ckks::SecretKey& sk, const ckks::RelinKey& rk) {
    const auto& ctx = *rk.context();
    const std::size_t n = ctx.n(), l1 = ctx.data_count(), alpha = static_cast<std::size_t>(ctx.digit_size());
    constexpr std::uint64_t kBound = std::uint64_t{1} << 20;
    std::vector<std::uint64_t> e(n);
    for (std::size_t j = 0; j < rk.digits(); ++j) {
        std::size_t i = 0;  // a limb where digit j's gadget is zero
        while (i < l1 && i / alpha == j) ++i;
        if (i >= rk.ext_limbs()) return true;  // no such limb (one digit, no special prime): nothing to check
        const auto& q = ctx.modulus(i);
        const std::uint64_t* a = rk.a(j, i);
        const std::uint64_t* b = rk.b(j, i);
        const std::uint64_t* s = sk.ntt_limb(i);
        for (std::size_t k = 0; k < n; ++k) e[k] = q.add(b[k], q.mul(a[k], s[k]));
        ctx.ntt(i).inverse(e.data());
        for (std::uint64_t v : e)
            if (std::min(v, q.value() - v) >= kBound) {
                sodium_memzero(e.data(), e.size() * sizeof(std::uint64_t));
                return false;
            }
    }
    sodium_memzero(e.data(), e.size() * sizeof(std::uint64_t));  // e_j is part of the key's secret
    return true;
}

// The directory a key set is written to: created (mode 0700) if missing; any key file in it
// refused unless `force`, and then the old secret key deleted first, so that an interrupted
// write leaves no secret key rather than one that does not match eval.keys (secret.key is
// always written last).
void prepare_key_dir(const fs::path& dir, bool force) {
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) throw std::runtime_error(dir.string() + " exists and is not a directory");
    if (!fs::exists(dir, ec)) {
        fs::create_directories(dir);
        fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);  // the secret key lives here
    }
    std::string existing;
    for (const char* name : kKeyFiles)
        if (fs::exists(dir / name, ec)) existing += (existing.empty() ? "" : ", ") + (dir / name).string();
    if (!existing.empty() && !force)
        throw std::runtime_error("refusing to overwrite " + existing + " (the keys there would be lost): choose another directory (--out), or force (--force)");
    if (force) fs::remove(dir / kSecretKeyFile);
}

}  // namespace

void copy_keyset(const fs::path& from, const fs::path& to, bool force) {
    std::error_code ec;
    if (fs::exists(to, ec) && fs::equivalent(from, to, ec)) throw std::runtime_error(to.string() + " is the key directory itself");
    load_client_keys(from, true);  // a complete, consistent set (the caller checked its parameters when it loaded it)
    prepare_key_dir(to, force);
    for (const char* name : kKeyFiles) {
        auto bytes = read_in(from, name, std::size_t{1} << 32);
        const bool secret = std::string_view(name) == kSecretKeyFile;
        try {
            write_new(to / name, bytes, force && !secret);
        } catch (...) {
            if (secret) sodium_memzero(bytes.data(), bytes.size());
            throw;
        }
        if (secret) sodium_memzero(bytes.data(), bytes.size());
    }
}

KeysetSummary create_keyset(const PlanFile& plan, const fs::path& dir, bool force) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto ctx = ckks::Context::create(plan.params);
    if (ctx->id() != plan.params_id) throw std::invalid_argument("create_keyset: the plan's params_id does not match its parameters");
    prepare_key_dir(dir, force);

    ckks::KeyGenerator keygen(ctx);
    KeysetSummary s;
    const auto params = ckks::serialize(*ctx);
    const std::string plan_json = plan_to_json(plan);
    const auto pub = ckks::serialize(keygen.create_public_key());
    std::vector<std::uint8_t> eval;
    {
        const auto rk = keygen.create_relin_key();
        s.keyset_id = keyset_id_of(rk);
        eval = serialize_eval_keys(*ctx, rk);
    }
    write_new(dir / kParamsFile, params, force);
    write_new(dir / kPlanCopyFile, {reinterpret_cast<const std::uint8_t*>(plan_json.data()), plan_json.size()}, force);
    write_new(dir / kPublicKeyFile, pub, force);
    write_new(dir / kEvalKeysFile, eval, force);
    auto secret = ckks::serialize(keygen.secret_key());
    try {
        write_new(dir / kSecretKeyFile, secret, false);  // AtomicFileWriter: mode 0600
    } catch (...) {
        sodium_memzero(secret.data(), secret.size());
        throw;
    }
    s.secret_bytes = secret.size();
    sodium_memzero(secret.data(), secret.size());
    s.public_bytes = pub.size();
    s.eval_keys_bytes = eval.size();
    s.params_bytes = params.size();
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
}

ClientKeys load_client_keys(const fs::path& dir, bool allow_insecure) {
    ClientKeys k;
    if (!fs::exists(dir / kPlanCopyFile)) throw std::runtime_error((dir / kPlanCopyFile).string() + " is missing: is " + dir.string() +
                                                                   " a key directory made by `hecnn keygen`?");
    k.plan = load_plan(dir / kPlanCopyFile, allow_insecure);
    try {
        k.ctx = ckks::load_parameters(read_in(dir, kParamsFile, 1 << 16), allow_insecure);
    } catch (const ckks::FormatError& e) {
        throw ckks::FormatError((dir / kParamsFile).string() + ": " + e.what());
    }
    if (k.ctx->id() != k.plan.params_id)
        bad((dir / kParamsFile).string() + " (parameters " + k.ctx->id_hex() + ") is not the parameters of " + (dir / kPlanCopyFile).string());

    const fs::path sk = dir / kSecretKeyFile;
    struct stat st;
    if (::stat(sk.c_str(), &st) != 0) throw std::runtime_error(sk.string() + " is missing: run `hecnn keygen` again (the key set is incomplete)");
    if (st.st_mode & 077) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        throw std::runtime_error(sk.string() + " is accessible to other users (mode " + mode + "): run `chmod 600 " + sk.string() + "`");
    }
    auto bytes = read_in(dir, kSecretKeyFile, ckks::kHeaderSize + k.ctx->n() / 4 + (1 << 16));
    try {
        k.secret = ckks::load_secret_key(k.ctx, bytes);
    } catch (const ckks::FormatError& e) {
        sodium_memzero(bytes.data(), bytes.size());
        throw ckks::FormatError(sk.string() + ": " + e.what());
    }
    sodium_memzero(bytes.data(), bytes.size());

    const auto eval = load_eval_keys_file(dir / kEvalKeysFile, allow_insecure, k.plan.eval_keys_bytes);
    if (eval.ctx->id() != k.ctx->id()) bad((dir / kEvalKeysFile).string() + " belongs to other parameters than " + (dir / kParamsFile).string());
    if (!relin_key_matches(k.secret, eval.relin))
        bad(sk.string() + " and " + (dir / kEvalKeysFile).string() +
            " do not belong together (the evaluation keys were made with another secret key: files of two `hecnn keygen` runs mixed?); "
            "results computed with these evaluation keys could not be decrypted: run `hecnn keygen` again");
    k.keyset_id = eval.keyset_id;
    return k;
}

}  // namespace hecnn::io
