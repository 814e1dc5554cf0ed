// Image folders (one sub-folder per class): PNG via libpng's simplified API, JPEG via
// libjpeg; bilinear resize; stratified split first, then augmentation of the training
// split only (augmenting before the split would leak copies of test images into training).
#include <cstddef>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>

#include "hecnn/io/dataset.h"

namespace hecnn::io {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMaxPixels = uint64_t{1} << 27;  // refuse absurd image sizes before decoding

struct Image {
    int64_t c = 0, h = 0, w = 0;
    std::vector<uint8_t> px;  // planar c × h × w
};

Image from_interleaved(const uint8_t* data, int64_t c, int64_t h, int64_t w) {
    Image im{c, h, w, std::vector<uint8_t>(static_cast<size_t>(c * h * w))};
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
            for (int64_t k = 0; k < c; ++k) im.px[(k * h + y) * w + x] = data[(y * w + x) * c + k];
    return im;
}

Image read_png(const std::string& path) {
    png_image img{};
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path.c_str())) throw DatasetError("'" + path + "': " + img.message);
    if (uint64_t{img.width} * img.height > kMaxPixels) {
        png_image_free(&img);
        throw DatasetError("'" + path + "': image too large");
    }
    const bool grey = !(img.format & PNG_FORMAT_FLAG_COLOR);
    img.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    std::vector<uint8_t> buf(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, nullptr, buf.data(), 0, nullptr)) throw DatasetError("'" + path + "': " + img.message);
    return from_interleaved(buf.data(), grey ? 1 : 3, img.height, img.width);
}

struct JpegError {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

Image read_jpeg(const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw DatasetError("cannot open '" + path + "'");
    jpeg_decompress_struct cinfo{};
    JpegError err{};
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = [](j_common_ptr c) {
        auto* e = reinterpret_cast<JpegError*>(c->err);
        e->mgr.format_message(c, e->message);
        std::longjmp(e->jump, 1);
    };
    // Everything that needs destruction lives outside the setjmp region.
    std::vector<uint8_t> buf;
    JDIMENSION width = 0, height = 0;
    int comps = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        throw DatasetError("'" + path + "': " + err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f.get());
    jpeg_read_header(&cinfo, TRUE);
    // Before jpeg_start_decompress: for a progressive JPEG it allocates coefficient buffers
    // for the whole declared image (found by fuzz/fuzz_image: 600 bytes → gigabytes).
    if (uint64_t{cinfo.image_width} * cinfo.image_height > kMaxPixels) {
        jpeg_destroy_decompress(&cinfo);
        throw DatasetError("'" + path + "': image too large");
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    width = cinfo.output_width, height = cinfo.output_height, comps = cinfo.output_components;
    if (uint64_t{width} * height > kMaxPixels || (comps != 1 && comps != 3)) {
        jpeg_destroy_decompress(&cinfo);
        throw DatasetError("'" + path + "': image too large or unsupported colour format");
    }
    buf.resize(size_t{width} * height * static_cast<size_t>(comps));
    while (cinfo.output_scanline < height) {
        JSAMPROW row = buf.data() + size_t{cinfo.output_scanline} * width * static_cast<size_t>(comps);
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return from_interleaved(buf.data(), comps, height, width);
}

double sample(const uint8_t* plane, int64_t h, int64_t w, double y, double x) {
    y = std::clamp(y, 0.0, static_cast<double>(h - 1));
    x = std::clamp(x, 0.0, static_cast<double>(w - 1));
    const int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x);
    const int64_t y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
    const double fy = y - static_cast<double>(y0), fx = x - static_cast<double>(x0);
    return (1 - fy) * ((1 - fx) * plane[y0 * w + x0] + fx * plane[y0 * w + x1]) + fy * ((1 - fx) * plane[y1 * w + x0] + fx * plane[y1 * w + x1]);
}

// Bilinear resize to s × s (pixel centres aligned), converting to `channels` (1 or 3).
std::vector<uint8_t> resize(const Image& im, int64_t s, int64_t channels) {
    std::vector<uint8_t> out(static_cast<size_t>(channels * s * s));
    for (int64_t k = 0; k < channels; ++k)
        for (int64_t y = 0; y < s; ++y)
            for (int64_t x = 0; x < s; ++x) {
                const double sy = (y + 0.5) * static_cast<double>(im.h) / static_cast<double>(s) - 0.5;
                const double sx = (x + 0.5) * static_cast<double>(im.w) / static_cast<double>(s) - 0.5;
                double v;
                if (im.c == channels) v = sample(im.px.data() + k * im.h * im.w, im.h, im.w, sy, sx);
                else if (im.c == 1) v = sample(im.px.data(), im.h, im.w, sy, sx);  // grey → RGB
                else {  // RGB → grey (ITU-R BT.601 luma)
                    const double wts[3] = {0.299, 0.587, 0.114};
                    v = 0;
                    for (int j = 0; j < 3; ++j) v += wts[j] * sample(im.px.data() + j * im.h * im.w, im.h, im.w, sy, sx);
                }
                out[(k * s + y) * s + x] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
            }
    return out;
}

}  // namespace

std::vector<uint8_t> augment_image(std::span<const uint8_t> img, int64_t c, int64_t h, int64_t w, double angle, double scale, double dx, double dy) {
    std::vector<uint8_t> out(img.size());
    const double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0, ca = std::cos(angle), sa = std::sin(angle);
    for (int64_t k = 0; k < c; ++k)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x) {
                // Inverse map: output pixel → source position.
                const double u = (x - cx - dx) / scale, v = (y - cy - dy) / scale;
                const double sx = ca * u + sa * v + cx, sy = -sa * u + ca * v + cy;
                out[(k * h + y) * w + x] = static_cast<uint8_t>(std::clamp(std::lround(sample(img.data() + k * h * w, h, w, sy, sx)), 0L, 255L));
            }
    return out;
}

namespace {

std::string lower_extension(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return ext;
}

bool image_extension(const fs::path& p) {
    const auto ext = lower_extension(p);
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

Image read_image(const fs::path& p) { return lower_extension(p) == ".png" ? read_png(p.string()) : read_jpeg(p.string()); }

void check_geometry(const FolderOptions& opt) {
    if (opt.size < 4 || opt.size > 1024) throw DatasetError("image size must be 4 to 1024");
    if (opt.channels != 0 && opt.channels != 1 && opt.channels != 3)
        throw DatasetError("images can be made grey (1 channel) or RGB (3 channels), not " + std::to_string(opt.channels) + " channels");
}

// Every image resized to the options' size and converted to their channels (0: grey if all
// are grey, else RGB), labels as given.
Dataset to_dataset(const std::vector<Image>& images, std::vector<int32_t> labels, const FolderOptions& opt) {
    int64_t channels = opt.channels;
    if (channels == 0) {
        channels = 1;
        for (const auto& im : images) channels = im.c == 3 ? 3 : channels;
    }
    Dataset all;
    all.channels = channels, all.height = all.width = opt.size;
    for (const auto& im : images) {
        auto px = resize(im, opt.size, channels);
        all.pixels.insert(all.pixels.end(), px.begin(), px.end());
    }
    all.labels = std::move(labels);
    return all;
}

}  // namespace

Dataset load_image_files(const std::vector<std::string>& files, const FolderOptions& opt) {
    check_geometry(opt);
    std::vector<Image> images;
    for (const auto& f : files) {
        if (!image_extension(f)) throw DatasetError("'" + f + "': not a .png, .jpg or .jpeg file");
        std::error_code ec;
        if (!fs::is_regular_file(f, ec)) throw DatasetError("'" + f + "': no such image file");
        images.push_back(read_image(f));
    }
    return to_dataset(images, std::vector<int32_t>(files.size(), -1), opt);
}

Split load_image_folder(const std::string& dir, const FolderOptions& opt) {
    check_geometry(opt);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw DatasetError("'" + dir + "' is not a directory (one sub-folder per class expected)");
    std::vector<std::string> classes;
    for (const auto& e : fs::directory_iterator(dir)) if (e.is_directory()) classes.push_back(e.path().filename().string());
    std::sort(classes.begin(), classes.end());
    if (classes.size() < 2) throw DatasetError("'" + dir + "' needs at least two class sub-folders");
    std::vector<Image> images;
    std::vector<int32_t> labels;
    for (size_t c = 0; c < classes.size(); ++c) {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(fs::path(dir) / classes[c]))
            if (e.is_regular_file() && image_extension(e.path())) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        if (files.empty()) throw DatasetError("class folder '" + classes[c] + "' holds no PNG or JPEG image");
        for (const auto& p : files) {
            images.push_back(read_image(p));
            labels.push_back(static_cast<int32_t>(c));
        }
    }
    Dataset all = to_dataset(images, std::move(labels), opt);
    all.classes = classes;
    auto parts = stratified_split(all.labels, {opt.train, opt.val}, opt.seed);
    Split s{all.subset(parts[0]), all.subset(parts[1]), all.subset(parts[2])};
    if (opt.augment > 0) {
        std::mt19937_64 rng(opt.seed ^ 0x9e3779b97f4a7c15ull);
        std::uniform_real_distribution<double> u(-1.0, 1.0);
        const double pi = std::acos(-1.0);
        Dataset extra{s.train.channels, s.train.height, s.train.width, {}, {}, s.train.classes};
        for (int a = 0; a < opt.augment; ++a)
            for (size_t i = 0; i < s.train.size(); ++i) {
                const double angle = u(rng) * opt.rotate_degrees * pi / 180, scale = 1 + u(rng) * opt.scale;
                const double dx = u(rng) * opt.shift * static_cast<double>(opt.size), dy = u(rng) * opt.shift * static_cast<double>(opt.size);
                auto px = augment_image(s.train.sample(i), s.train.channels, s.train.height, s.train.width, angle, scale, dx, dy);
                extra.pixels.insert(extra.pixels.end(), px.begin(), px.end());
                extra.labels.push_back(s.train.labels[i]);
            }
        s.train.append(extra);
    }
    return s;
}

}  // namespace hecnn::io
