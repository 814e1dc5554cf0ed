// io::load_eval_keys (the evaluation-key bundle a server receives): mode byte ‖ bundle.
// Mode bits (fuzz_common.h): kModeReseal / kModeHeader on the outer container (kind 256,
// the small parameters' id), kModeVariant = allow_insecure, kModeDeep = re-seal the two
// nested objects and recompute the key set id first, so the fuzzer gets past every
// checksum into the nested parsers. It may only throw FormatError; what it accepts must
// serialise back to the same bytes (nested objects uncompressed) or at least to a bundle
// that loads to the same keys.
#include "fuzz_common.h"
#include "hecnn/io/keyset.h"

using namespace hecnn;
using namespace hecnn::fuzz;

namespace {

constexpr std::uint16_t kEvalKeysKind = 256;

// The nested objects' spans, when the lengths fit: u64 id | u64 len | params | u64 len | relin.
struct Nested {
    std::span<std::uint8_t> params, relin;
};
std::optional<Nested> nested(Bytes& b) {
    std::vector<std::span<std::uint8_t>> parts;
    for_each_record(b, ckks::kHeaderSize + 8, 2, [&](std::span<std::uint8_t> o) { parts.push_back(o); });
    if (parts.size() != 2) return std::nullopt;
    return Nested{parts[0], parts[1]};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& ctx = small_context();
    auto in = container_input(data, size, kEvalKeysKind, ctx->id(), [](Bytes& b) {
        if (auto n = nested(b)) {
            reseal(n->params);
            reseal(n->relin);
            std::uint8_t h[32];  // the key set id: BLAKE2b-256 of the relinearisation key's bytes
            crypto_generichash(h, sizeof h, n->relin.data(), n->relin.size(), nullptr, 0);
            std::memcpy(b.data() + ckks::kHeaderSize, h, 8);
        }
    });
    if (!in) return 0;
    const bool insecure = in->variant;
    std::optional<io::EvalKeys> k;
    try {
        k.emplace(io::load_eval_keys(in->bytes, insecure));
    } catch (const ckks::FormatError& e) {
        refused(e);
        return 0;
    }
    accepted("eval keys");
    if (!insecure && !k->ctx->secure_128()) fail("evaluation keys under insecure parameters accepted without consent");
    if (k->keyset_id != io::keyset_id_of(k->relin)) fail("key set id does not match the key");
    const Bytes out = io::serialize_eval_keys(*k->ctx, k->relin);
    const auto n = nested(in->bytes);
    if (!n) fail("an accepted bundle has no nested objects");
    if (!compressed(Bytes(n->relin.begin(), n->relin.end())) && out != in->bytes) fail("an accepted bundle serialises to different bytes");
    const auto k2 = io::load_eval_keys(out, insecure);
    if (k2.keyset_id != k->keyset_id || k2.ctx->id() != k->ctx->id() || io::serialize_eval_keys(*k2.ctx, k2.relin) != out)
        fail("a re-serialised bundle does not load back to the same keys");
    return 0;
}
