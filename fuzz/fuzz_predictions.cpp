// The client's predictions files (`hecnn decrypt --out`, `hecnn eval --out`, read back by
// `decrypt --reference`): io::read_predictions on input = mode byte (bit 0: the file is
// named .json, else .csv) ‖ the file. It may only throw std::runtime_error; what it accepts
// must be consistent (counts, finite scores), and writing it again must give a file that
// reads back to the same predictions, bit for bit (the 17 digits of write_predictions).
#include <cmath>
#include <stdexcept>

#include "fuzz_common.h"
#include "hecnn/io/predictions.h"

using namespace hecnn;
using namespace hecnn::fuzz;

namespace {

bool same(const io::Predictions& a, const io::Predictions& b) {
    if (a.classes != b.classes || a.names != b.names || a.labels != b.labels || a.outputs != b.outputs || a.scores.size() != b.scores.size())
        return false;
    for (std::size_t i = 0; i < a.scores.size(); ++i)
        if (std::memcmp(&a.scores[i], &b.scores[i], sizeof(double)) != 0) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string ext = data[0] & 1 ? ".json" : ".csv";
    const auto in = scratch_dir() / ("in" + ext), again = scratch_dir() / ("again" + ext);
    write_file(in, {data + 1, size - 1});
    io::Predictions p;
    try {
        p = io::read_predictions(in);
    } catch (const std::runtime_error& e) {
        refused(e);
        return 0;
    }
    accepted("predictions");
    if (p.scores.size() != p.images() * p.outputs) fail("read_predictions: scores are not images × outputs");
    if (!p.labels.empty() && p.labels.size() != p.images()) fail("read_predictions: one label per image, or none");
    if (!p.classes.empty() && p.classes.size() != p.outputs) fail("read_predictions: one class name per output, or none");
    for (double s : p.scores)
        if (!std::isfinite(s)) fail("read_predictions: a score that is not finite");
    for (int l : p.labels)
        if (l < -1) fail("read_predictions: a label below −1");
    if (p.correct() > p.labelled() || p.labelled() > p.images()) fail("read_predictions: inconsistent counts");
    for (std::size_t i = 0; i < p.images(); ++i)
        if (p.outputs && (p.predicted(static_cast<std::size_t>(i)) < 0 || static_cast<std::size_t>(p.predicted(i)) >= p.outputs))
            fail("read_predictions: predicted class out of range");
    // Written again and read back: the same predictions.
    try {
        io::write_predictions(again, p, "fuzz", true);
    } catch (const std::exception& e) {
        fail(std::string("write_predictions refused what read_predictions accepted: ") + e.what());
    }
    io::Predictions back;
    try {
        back = io::read_predictions(again);
    } catch (const std::exception& e) {
        fail(std::string("read_predictions refused what write_predictions wrote: ") + e.what());
    }
    if (!same(p, back)) fail("write_predictions → read_predictions is not the identity");
    return 0;
}
