// PNG and JPEG decoding, reachable through io::load_image_folder: input = mode byte
// (bit 0: JPEG, else PNG; bit 1: 8×8 output, else 4×4; bit 2: one augmented copy; bit 3:
// decode images declaring more than 2^20 pixels too, see declared_pixels) ‖
// the image file, placed as the only image of class "a"; class "b" holds a fixed valid
// 2×2 grey PNG. It may only throw DatasetError; what it returns must be consistent.
#include <png.h>

#include "fuzz_common.h"
#include "hecnn/io/dataset.h"

using namespace hecnn;
using namespace hecnn::fuzz;

namespace {

const std::filesystem::path& folder() {
    static const std::filesystem::path dir = [] {
        const auto d = scratch_dir() / "images";
        std::filesystem::create_directories(d / "a");
        std::filesystem::create_directories(d / "b");
        png_image img{};
        img.version = PNG_IMAGE_VERSION;
        img.width = 2, img.height = 2, img.format = PNG_FORMAT_GRAY;
        const std::uint8_t px[4] = {0, 85, 170, 255};
        if (!png_image_write_to_file(&img, (d / "b" / "fixed.png").c_str(), 0, px, 0, nullptr)) fail("cannot write the fixed PNG");
        return d;
    }();
    return dir;
}

// The largest pixel count the image header declares (PNG IHDR, any JPEG SOFn marker).
// Images up to the reader's limit (2^27 pixels) decode in seconds from a few hundred
// bytes; one such input in the corpus slows the whole run down, so they are only decoded
// with mode bit 3 (and the fuzzer explores the header and limit paths quickly either way).
std::uint64_t declared_pixels(std::span<const std::uint8_t> b) {
    auto be = [&](std::size_t i, int n) {
        std::uint64_t v = 0;
        for (int k = 0; k < n; ++k) v = (v << 8) | b[i + k];
        return v;
    };
    std::uint64_t most = 0;
    if (b.size() >= 24 && b[0] == 0x89 && b[1] == 'P') most = be(16, 4) * be(20, 4);
    for (std::size_t i = 0; i + 9 <= b.size(); ++i)
        if (b[i] == 0xff && b[i + 1] >= 0xc0 && b[i + 1] <= 0xcf && b[i + 1] != 0xc4 && b[i + 1] != 0xc8 && b[i + 1] != 0xcc)
            most = std::max(most, be(i + 5, 2) * be(i + 7, 2));
    return most;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t mode = data[0];
    const auto& dir = folder();
    const bool jpeg = mode & 1;
    if (!(mode & 8) && declared_pixels({data + 1, size - 1}) > (1u << 20)) return 0;
    std::error_code ec;
    std::filesystem::remove(dir / "a" / (jpeg ? "x.png" : "x.jpg"), ec);
    write_file(dir / "a" / (jpeg ? "x.jpg" : "x.png"), {data + 1, size - 1});
    io::FolderOptions opt;
    opt.size = mode & 2 ? 8 : 4;
    opt.train = 1.0, opt.val = 0.0;
    opt.augment = mode & 4 ? 1 : 0;
    io::Split s;
    try {
        s = io::load_image_folder(dir.string(), opt);
    } catch (const io::DatasetError& e) {
        refused(e);
        return 0;
    }
    accepted("image");
    const std::size_t n = s.train.size() + s.val.size() + s.test.size();
    if (n != 2u + (opt.augment ? s.train.size() / 2 : 0) || s.train.classes.size() != 2) fail("load_image_folder: wrong count or classes");
    for (const io::Dataset* d : {&s.train, &s.val, &s.test})
        if (d->size() && (d->height != opt.size || d->width != opt.size || (d->channels != 1 && d->channels != 3) ||
                          d->pixels.size() != d->size() * static_cast<std::size_t>(d->sample_size())))
            fail("load_image_folder: bad geometry");
    return 0;
}
