// io::load_cifar10 (test split; it reads a directory): input = u8 limit ‖ u16 n ‖ n bytes
// of batches.meta.txt (no file when n = 0) ‖ test_batch.bin. It may only throw
// DatasetError; what it returns must be consistent.
#include "fuzz_common.h"
#include "hecnn/io/dataset.h"

using namespace hecnn;
using namespace hecnn::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = two_files(data, size);
    if (!in) return 0;
    const std::size_t limit = in->limit;
    const auto dir = scratch_dir() / "cifar";
    std::filesystem::create_directories(dir);
    std::error_code ec;
    if (in->first.empty()) std::filesystem::remove(dir / "batches.meta.txt", ec);
    else write_file(dir / "batches.meta.txt", in->first);
    write_file(dir / "test_batch.bin", in->second);
    io::Dataset d;
    try {
        d = io::load_cifar10(dir.string(), false, limit);
    } catch (const io::DatasetError& e) {
        refused(e);
        return 0;
    }
    accepted("cifar10");
    if (d.channels != 3 || d.height != 32 || d.width != 32 || d.classes.size() != 10 || (limit && d.size() > limit))
        fail("load_cifar10: bad geometry, classes or count");
    if (d.pixels.size() != d.size() * 3072) fail("load_cifar10: pixel count disagrees with the records");
    for (auto l : d.labels)
        if (l < 0 || l > 9) fail("load_cifar10: label out of range");
    return 0;
}
