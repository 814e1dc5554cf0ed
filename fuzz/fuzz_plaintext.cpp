// load_plaintext against the fixed small parameters: mode byte (fuzz_common.h) ‖ object.
#include "fuzz_common.h"

using namespace hecnn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::fuzz_engine_object(data, size, ckks::ObjectKind::plaintext, ckks::load_plaintext,
                                    [](const ckks::Plaintext& pt, bool) { return ckks::serialize(pt); });
}
