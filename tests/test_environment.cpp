// Linked into every test executable (cmake/targets.cmake): the environment each test process
// and the hecnn processes it starts run under, set before any test.
//  - HECNN_RATES names a file that does not exist, so that no test predicts with the rates
//    `hecnn bench rates` stored for the user: he::Rates::for_machine gives the built-in
//    figures everywhere, and a test that wants a rates file names it. A value set by the
//    caller is kept.
#include <cstdlib>

namespace {

const bool environment_set = [] {
    setenv("HECNN_RATES", "/nonexistent/hecnn-tests-use-no-rates-file.json", 0);
    return true;
}();

}  // namespace
