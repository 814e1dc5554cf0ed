// Ciphertexts against the fixed small parameters: mode byte (fuzz_common.h) ‖ object.
// Without kModeVariant: load_ciphertext (full or seeded; a seeded one comes back with c1
// expanded, so only the full form round-trips byte for byte). With kModeVariant:
// load_seeded_ciphertext (seeded only; exact round trip).
#include "fuzz_common.h"

using namespace hecnn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr auto kind = ckks::ObjectKind::ciphertext;
    if (size > 0 && (data[0] & fuzz::kModeVariant))
        return fuzz::fuzz_engine_object(data, size, kind, ckks::load_seeded_ciphertext,
                                        [](const ckks::SeededCiphertext& sct, bool) { return ckks::serialize(sct); });
    return fuzz::fuzz_engine_object(
        data, size, kind, ckks::load_ciphertext, [](const ckks::Ciphertext& ct, bool) { return ckks::serialize(ct); },
        /*keeps_seeded=*/false);
}
