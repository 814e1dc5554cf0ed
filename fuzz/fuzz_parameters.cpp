// load_parameters: mode byte (fuzz_common.h) ‖ parameters object. kModeVariant allows
// insecure test parameters; without it, anything accepted must be 128-bit secure.
#include "fuzz_common.h"

using namespace hecnn;
using namespace hecnn::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = object_input(data, size, ckks::ObjectKind::parameters, 0);
    if (!in) return 0;
    const bool insecure = in->variant;
    check_roundtrip(
        in->bytes,
        [&](const Bytes& b) {
            ckks::ContextPtr ctx = ckks::load_parameters(b, insecure);
            if (!ctx) fail("load_parameters returned null");
            if (!insecure && !ctx->secure_128()) fail("parameters below 128-bit security accepted without consent");
            return ctx;
        },
        [](const ckks::ContextPtr& ctx, bool) { return ckks::serialize(*ctx); });
    return 0;
}
