// load_public_key against the fixed small parameters: mode byte (fuzz_common.h) ‖ object.
#include "fuzz_common.h"

using namespace hecnn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::fuzz_engine_object(data, size, ckks::ObjectKind::public_key, ckks::load_public_key,
                                    [](const ckks::PublicKey& pk, bool) { return ckks::serialize(pk); });
}
