// The evaluation-key bundle: parameters + seeded relinearisation key, bound by a key set id.
#include "container.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/io/keyset.h"

namespace hecnn::io {
namespace {

using detail::bad;

constexpr const char* kWhat = "evaluation keys";

// A nested ckks object of the bundle; a secret key there is named as the mistake it is.
std::span<const std::uint8_t> nested(detail::ByteReader& r, ckks::ObjectKind want, const char* what, const std::string& name) {
    const std::uint64_t len = r.u64();
    if (len > r.left())
        bad(name + ": the " + what + " declares " + std::to_string(len) + " bytes, " + std::to_string(r.left()) + " remain");
    const auto bytes = r.take(len);
    if (bytes.size() >= ckks::kHeaderSize && ckks::peek_header(bytes).kind == ckks::ObjectKind::secret_key)
        bad(name + " holds a SECRET KEY where the " + what + " belongs — never send a secret key to a server");
    if (ckks::peek_header(bytes).kind != want)
        bad(name + ": expected the " + what + ", found a " + ckks::kind_name(ckks::peek_header(bytes).kind));
    return bytes;
}

}  // namespace

std::uint64_t keyset_id_of(const ckks::RelinKey& rk) { return detail::le_u64(detail::blake2b_256(ckks::serialize(rk, {.seeded = true}))); }

std::size_t eval_keys_bytes(const ckks::Context& ctx) {
    std::size_t ext = 0;  // one polynomial over every extended limb
    for (std::size_t i = 0; i < ctx.data_count() + ctx.special_count(); ++i)
        ext += (ctx.n() * static_cast<std::size_t>(ctx.modulus(i).bits()) + 7) / 8;
    const std::size_t D = static_cast<std::size_t>(ctx.dnum());
    const std::size_t params = ckks::kHeaderSize + 14 + 8 * (ctx.data_count() + ctx.special_count());
    const std::size_t relin = ckks::kHeaderSize + 2 + 32 * D + D * ext;  // seeded: b_j only
    return ckks::kHeaderSize + 8 + 8 + params + 8 + relin;
}

std::vector<std::uint8_t> serialize_eval_keys(const ckks::Context& ctx, const ckks::RelinKey& rk) {
    if (rk.context()->id() != ctx.id()) throw std::invalid_argument("serialize_eval_keys: the key belongs to other parameters");
    const auto params = ckks::serialize(ctx);
    const auto relin = ckks::serialize(rk, {.seeded = true});
    detail::ByteWriter w;
    w.u64(detail::le_u64(detail::blake2b_256(relin)));  // = keyset_id_of(rk), without serialising twice
    w.u64(params.size());
    w.bytes(params);
    w.u64(relin.size());
    w.bytes(relin);
    return detail::make_container(detail::FileKind::eval_keys, ctx.id(), w.out);
}

namespace {

// `name`: the file, or "evaluation keys" for bytes from elsewhere (an upload).
EvalKeys parse(std::span<const std::uint8_t> bytes, bool allow_insecure, const std::string& name) {
    std::span<const std::uint8_t> payload;
    const auto h = detail::open_container(bytes, detail::FileKind::eval_keys, name, payload);
    detail::ByteReader r(payload, name);
    EvalKeys k;
    const std::uint64_t id = r.u64();
    // The ckks loaders' messages, prefixed with where the bytes came from.
    auto named = [&](auto&& load) {
        try {
            return load();
        } catch (const ckks::FormatError& e) {
            bad(name + ": " + e.what());
        }
    };
    const auto params = nested(r, ckks::ObjectKind::parameters, "parameters", name);
    k.ctx = named([&] { return ckks::load_parameters(params, allow_insecure); });
    if (k.ctx->id() != h.params_id)
        bad(name + ": the header names parameters " + detail::hex64(h.params_id) + ", the bundle holds " + k.ctx->id_hex());
    const auto relin = nested(r, ckks::ObjectKind::relin_key, "relinearisation key", name);
    if (!ckks::peek_header(relin).seeded) bad(name + ": the relinearisation key must be in seeded form");
    k.relin = named([&] { return ckks::load_relin_key(k.ctx, relin); });
    if (r.left()) bad(name + ": " + std::to_string(r.left()) + " bytes after the relinearisation key");
    k.keyset_id = keyset_id_of(k.relin);
    if (k.keyset_id != id)
        bad(name + ": key set id " + detail::hex64(id) + " does not match the key it carries (" + detail::hex64(k.keyset_id) + ")");
    return k;
}

}  // namespace

EvalKeys load_eval_keys(std::span<const std::uint8_t> bytes, bool allow_insecure) { return parse(bytes, allow_insecure, kWhat); }

EvalKeys load_eval_keys_file(const std::filesystem::path& path, bool allow_insecure, std::size_t max_bytes) {
    return parse(ckks::read_file(path, max_bytes), allow_insecure, path.string());
}

}  // namespace hecnn::io
