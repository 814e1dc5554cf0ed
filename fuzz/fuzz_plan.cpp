// io::parse_plan (PLAN.json): mode byte ‖ JSON text. Mode bits: kModeReseal = when the
// text is a JSON object, recompute "checksum" (BLAKE2b-128 of body.dump(), hex) so the
// fuzzer explores the body's validation; kModeHeader = also recompute "params_id" from
// body.parameters; kModeVariant = allow_insecure. It may only throw FormatError; a plan it
// accepts must serialise (io::plan_to_json) to JSON that parses to the same plan.
#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "hecnn/io/plan_file.h"

using namespace hecnn;
using namespace hecnn::fuzz;
using nlohmann::json;

namespace {

std::string hex(const std::uint8_t* p, std::size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += d[p[i] >> 4], s += d[p[i] & 15];
    return s;
}

// The fuzzer's own parse of the input: bounded nesting (nlohmann's destructor recurses).
std::optional<json> parse(std::string_view text) {
    int depth = 0;
    for (char c : text)
        if ((c == '{' || c == '[') && ++depth > 32) return std::nullopt;
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

void fix_params_id(json& top) {
    try {
        const json& p = top.at("body").at("parameters");
        ckks::ParametersLiteral lit;
        lit.log_n = p.at("log_n").get<int>();
        lit.data_primes = p.at("data_primes").get<std::vector<std::uint64_t>>();
        lit.special_primes = p.at("special_primes").get<std::vector<std::uint64_t>>();
        lit.dnum = p.at("dnum").get<int>();
        lit.digit_size = p.at("digit_size").get<int>();
        lit.log_scale = p.at("log_scale").get<double>();
        lit.insecure_test_only_allow_below_128_bits = p.at("insecure_test_only").get<bool>();
        if (lit.data_primes.size() > 64 || lit.special_primes.size() > 64) return;
        top["params_id"] = ckks::Context::create(lit)->id_hex();
    } catch (const std::exception&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (mode & (kModeReseal | kModeHeader))
        if (auto top = parse(text); top && top->contains("body")) {
            if (mode & kModeHeader) fix_params_id(*top);
            const std::string body = (*top)["body"].dump();
            std::uint8_t h[16];
            crypto_generichash(h, sizeof h, reinterpret_cast<const std::uint8_t*>(body.data()), body.size(), nullptr, 0);
            (*top)["checksum"] = hex(h, sizeof h);
            text = top->dump();
        }
    const bool insecure = mode & kModeVariant;
    io::PlanFile p;
    try {
        p = io::parse_plan(text, insecure);
    } catch (const ckks::FormatError& e) {
        refused(e);
        return 0;
    }
    accepted("plan");
    if (p.insecure() && !insecure) fail("a test-only plan accepted without consent");
    const std::string out = io::plan_to_json(p);
    const io::PlanFile p2 = io::parse_plan(out, insecure);
    if (io::plan_to_json(p2) != out) fail("a plan does not survive plan_to_json → parse_plan");
    return 0;
}
