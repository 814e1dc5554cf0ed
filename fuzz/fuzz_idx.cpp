// io::load_idx (it reads paths, gzipped or not): input = u8 limit ‖ u16 n ‖ n bytes of the
// labels file ‖ the images file, written to a scratch directory. It may only throw
// DatasetError; what it returns must be consistent.
#include "fuzz_common.h"
#include "hecnn/io/dataset.h"

using namespace hecnn;
using namespace hecnn::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = two_files(data, size);
    if (!in) return 0;
    const std::size_t limit = in->limit;
    const auto dir = scratch_dir();
    write_file(dir / "labels.idx", in->first);
    write_file(dir / "images.idx", in->second);
    io::Dataset d;
    try {
        d = io::load_idx((dir / "images.idx").string(), (dir / "labels.idx").string(), limit);
    } catch (const io::DatasetError& e) {
        refused(e);
        return 0;
    }
    accepted("idx");
    if (d.channels != 1 || d.height < 1 || d.width < 1 || (limit && d.size() > limit)) fail("load_idx: bad geometry or count");
    if (d.pixels.size() != d.size() * static_cast<std::size_t>(d.sample_size())) fail("load_idx: pixel count disagrees with the geometry");
    for (auto l : d.labels)
        if (l < 0 || static_cast<std::size_t>(l) >= d.classes.size()) fail("load_idx: label without a class");
    return 0;
}
