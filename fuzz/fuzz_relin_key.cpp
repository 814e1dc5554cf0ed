// load_relin_key (full and seeded form) against the fixed small parameters: mode byte
// (fuzz_common.h) ‖ object. A full key's a_j must be the expansion of its seed, so the
// round trip is exact in both forms.
#include "fuzz_common.h"

using namespace hecnn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::fuzz_engine_object(data, size, ckks::ObjectKind::relin_key, ckks::load_relin_key,
                                    [](const ckks::RelinKey& rk, bool seeded) { return ckks::serialize(rk, {.seeded = seeded}); });
}
