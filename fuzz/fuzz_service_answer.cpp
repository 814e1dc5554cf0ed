// What the client reads from a service (a hostile server is outside too): a JSON answer
// through io::parse_json_bounded, then the job status decoder of the protocol. Only
// ckks::FormatError (bad JSON, nesting), nlohmann's exceptions (missing or mistyped
// fields) or std::runtime_error (unknown state) may come out — the client turns each into
// a ClientError; anything else (a crash, a sanitizer report) is a finding. A decoded
// status must encode back to JSON that decodes to the same fields.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "hecnn/ckks/serialize.h"
#include "hecnn/io/json.h"
#include "server/protocol.h"

using namespace hecnn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    server::JobStatus st;
    try {
        st = server::protocol::job_status_from_json(io::parse_json_bounded(text, "answer"));
    } catch (const ckks::FormatError&) {
        return 0;
    } catch (const nlohmann::json::exception&) {
        return 0;
    } catch (const std::runtime_error&) {
        return 0;
    }
    const auto again = server::protocol::job_status_from_json(server::protocol::to_json(st));
    if (again.id != st.id || again.state != st.state || again.step != st.step || again.steps != st.steps || again.error != st.error)
        std::abort();
    return 0;
}
