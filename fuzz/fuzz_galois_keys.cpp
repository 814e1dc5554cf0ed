// load_galois_keys (full and seeded form) against the fixed small parameters: mode byte
// (fuzz_common.h) ‖ object. Elements, counts and digits are validated before the body; a
// full key's a must be the expansion of its seed, so the round trip is exact in both forms.
#include "fuzz_common.h"

using namespace hecnn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::fuzz_engine_object(data, size, ckks::ObjectKind::galois_keys, ckks::load_galois_keys,
                                    [](const ckks::GaloisKeys& gk, bool seeded) { return ckks::serialize(gk, {.seeded = seeded}); });
}
