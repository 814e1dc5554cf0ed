// peek_header on raw bytes: it may only throw FormatError, and what it returns must agree
// with the bytes (hecnn/ckks/serialize.h, header layout).
#include "fuzz_common.h"

using namespace hecnn;
using namespace hecnn::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ckks::ObjectInfo info;
    try {
        info = ckks::peek_header({data, size});
    } catch (const ckks::FormatError& e) {
        refused(e);
        return 0;
    }
    accepted("peek_header");
    if (size < ckks::kHeaderSize || std::memcmp(data, "HECNN", 5) != 0) fail("peek_header accepted a short or foreign header");
    const auto kind = static_cast<std::uint16_t>(info.kind);
    if (info.version != ckks::kFormatVersion || info.version != get_le(data + 5, 2) || kind < 1 || kind > 7 || kind != get_le(data + 7, 2))
        fail("peek_header: version or kind disagree with the bytes");
    if (info.flags != get_le(data + 9, 2) || (info.flags & ~(ckks::kFlagSeeded | ckks::kFlagZstd)) ||
        info.seeded != bool(info.flags & ckks::kFlagSeeded) || info.compressed != bool(info.flags & ckks::kFlagZstd))
        fail("peek_header: flags disagree with the bytes");
    if (info.params_id != get_le(data + 11, 8) || info.payload_bytes != get_le(data + 19, 8)) fail("peek_header: id or length disagree with the bytes");
    const std::uint64_t total = info.payload_bytes + ckks::kHeaderSize;
    if (info.total_bytes != (total < info.payload_bytes ? ~std::uint64_t{0} : total)) fail("peek_header: total_bytes is wrong");
    (void)ckks::kind_name(info.kind);
    return 0;
}
