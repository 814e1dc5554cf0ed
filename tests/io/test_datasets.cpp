// Data set loaders on small files the tests write themselves.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sys/resource.h>
#include <unistd.h>
#include <fstream>
// jpeglib.h needs size_t and FILE first.
#include <jpeglib.h>

#include "hecnn/io/dataset.h"

using namespace hecnn;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("hecnn_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    static inline int counter = 0;
};

void put_be32(std::string& s, uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void write_gz(const fs::path& p, const std::string& bytes) {
    gzFile f = gzopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
}

void write_idx(const fs::path& dir, uint32_t n, uint32_t h, uint32_t w, uint32_t label_count, uint32_t magic = 0x803) {
    std::string img, lab;
    put_be32(img, magic);
    put_be32(img, n);
    put_be32(img, h);
    put_be32(img, w);
    for (uint32_t i = 0; i < n * h * w; ++i) img.push_back(static_cast<char>(i % 251));
    put_be32(lab, 0x801);
    put_be32(lab, label_count);
    for (uint32_t i = 0; i < label_count; ++i) lab.push_back(static_cast<char>(i % 10));
    write_gz(dir / "train-images-idx3-ubyte.gz", img);
    write_gz(dir / "train-labels-idx1-ubyte.gz", lab);
    write_gz(dir / "t10k-images-idx3-ubyte.gz", img);
    write_gz(dir / "t10k-labels-idx1-ubyte.gz", lab);
}

void write_png(const fs::path& p, int w, int h, int channels, uint8_t base) {
    png_image img{};
    img.version = PNG_IMAGE_VERSION;
    img.width = w, img.height = h;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    std::vector<uint8_t> px(static_cast<size_t>(w * h * channels));
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(base + i % 7);
    ASSERT_TRUE(png_image_write_to_file(&img, p.c_str(), 0, px.data(), 0, nullptr));
}

void write_jpeg(const fs::path& p, int w, int h, uint8_t value) {
    FILE* f = std::fopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    jpeg_compress_struct c{};
    jpeg_error_mgr err{};
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    std::vector<uint8_t> row(static_cast<size_t>(w * 3), value);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    std::fclose(f);
}

}  // namespace

TEST(Idx, ReadsGzippedFilesAndValidates) {
    TempDir t;
    write_idx(t.path, 12, 3, 4, 12);
    io::Dataset d = io::load_fashion_mnist(true, t.path.string());
    ASSERT_EQ(d.size(), 12u);
    EXPECT_EQ(d.channels, 1);
    EXPECT_EQ(d.height, 3);
    EXPECT_EQ(d.width, 4);
    EXPECT_EQ(d.sample(2)[5], static_cast<uint8_t>((2 * 12 + 5) % 251));
    EXPECT_EQ(d.labels[11], 1);
    EXPECT_EQ(d.classes.size(), 10u);
    EXPECT_EQ(io::load_fashion_mnist(false, t.path.string(), 5).size(), 5u);

    write_idx(t.path, 12, 3, 4, 11);  // count mismatch
    EXPECT_THROW(io::load_fashion_mnist(true, t.path.string()), io::DatasetError);
    write_idx(t.path, 12, 3, 4, 12, 0x801);  // wrong magic
    EXPECT_THROW(io::load_fashion_mnist(true, t.path.string()), io::DatasetError);
    std::string img;  // truncated pixels
    put_be32(img, 0x803);
    put_be32(img, 100);
    put_be32(img, 28);
    put_be32(img, 28);
    img += std::string(50, 'x');
    write_gz(t.path / "train-images-idx3-ubyte.gz", img);
    std::string lab;
    put_be32(lab, 0x801);
    put_be32(lab, 100);
    lab += std::string(100, '\1');
    write_gz(t.path / "train-labels-idx1-ubyte.gz", lab);
    EXPECT_THROW(io::load_fashion_mnist(true, t.path.string()), io::DatasetError);
    EXPECT_THROW(io::load_fashion_mnist(true, (t.path / "missing").string()), io::DatasetError);
}

// Found by fuzz/fuzz_idx: a 34-byte file declaring 10^7 images of 28×28 made load_idx
// allocate (and zero) the declared 7.8 GB before reading a pixel. Memory must follow the
// data actually present.
TEST(Idx, HugeDeclaredSizeIsNotAllocatedBeforeTheData) {
    TempDir t;
    std::string img, lab;
    put_be32(img, 0x803);
    put_be32(img, 10'000'000);
    put_be32(img, 28);
    put_be32(img, 28);
    img += std::string(16, 'x');
    put_be32(lab, 0x801);
    put_be32(lab, 10'000'000);
    lab += std::string(16, '\1');
    write_gz(t.path / "i.gz", img);
    write_gz(t.path / "l.gz", lab);
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    EXPECT_THROW(io::load_idx((t.path / "i.gz").string(), (t.path / "l.gz").string()), io::DatasetError);
    getrusage(RUSAGE_SELF, &after);
    EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 256 * 1024) << "peak RSS grew by " << (after.ru_maxrss - before.ru_maxrss) << " KiB";
}

TEST(Cifar, ReadsBinaryBatches) {
    TempDir t;
    std::string rec;
    for (int r = 0; r < 3; ++r) {
        rec.push_back(static_cast<char>(r * 3));
        for (int i = 0; i < 3072; ++i) rec.push_back(static_cast<char>((i + r) % 256));
    }
    std::ofstream(t.path / "test_batch.bin", std::ios::binary) << rec;
    io::Dataset d = io::load_cifar10(t.path.string(), false);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d.channels, 3);
    EXPECT_EQ(d.labels[2], 6);
    EXPECT_EQ(d.sample(1)[1024], static_cast<uint8_t>((1024 + 1) % 256));  // green plane
    EXPECT_EQ(d.classes[0], "airplane");
    std::ofstream(t.path / "test_batch.bin", std::ios::binary) << rec.substr(0, 3073 + 10);
    EXPECT_THROW(io::load_cifar10(t.path.string(), false), io::DatasetError);
    rec[0] = 12;  // label out of range
    std::ofstream(t.path / "test_batch.bin", std::ios::binary) << rec;
    EXPECT_THROW(io::load_cifar10(t.path.string(), false), io::DatasetError);
    EXPECT_THROW(io::load_cifar10(t.path.string(), true), io::DatasetError);  // no data_batch_*.bin
}

TEST(ImageFolder, ResizesSplitsStratifiedAndAugments) {
    TempDir t;
    fs::create_directories(t.path / "cats");
    fs::create_directories(t.path / "dogs");
    for (int i = 0; i < 10; ++i) write_png(t.path / "cats" / ("c" + std::to_string(i) + ".png"), 40, 30, 1, 10);
    for (int i = 0; i < 9; ++i) write_png(t.path / "dogs" / ("d" + std::to_string(i) + ".png"), 20, 50, 1, 200);
    write_jpeg(t.path / "dogs" / "d9.jpg", 33, 33, 128);  // colour JPEG → the whole set becomes RGB
    io::FolderOptions o;
    o.size = 16;
    o.seed = 7;
    io::Split s = io::load_image_folder(t.path.string(), o);
    EXPECT_EQ(s.train.channels, 3);
    EXPECT_EQ(s.train.height, 16);
    EXPECT_EQ(s.train.classes, (std::vector<std::string>{"cats", "dogs"}));
    // 60/10/30 per class: 6/1/3 of each class's 10 images.
    EXPECT_EQ(s.train.size(), 12u);
    EXPECT_EQ(s.val.size(), 2u);
    EXPECT_EQ(s.test.size(), 6u);
    int dogs_in_test = 0;
    for (int32_t l : s.test.labels) dogs_in_test += l;
    EXPECT_EQ(dogs_in_test, 3);
    // Grey PNG around 10..16 stays dark in all three channels; the JPEG is mid-grey.
    EXPECT_LT(s.train.sample(0)[0], 40);
    // Same seed → same split; augmentation only multiplies the training split.
    io::Split again = io::load_image_folder(t.path.string(), o);
    EXPECT_EQ(again.test.pixels, s.test.pixels);
    o.augment = 2;
    io::Split aug = io::load_image_folder(t.path.string(), o);
    EXPECT_EQ(aug.train.size(), 36u);
    EXPECT_EQ(aug.test.pixels, s.test.pixels);
    // A corrupt image is reported by name.
    std::ofstream(t.path / "dogs" / "broken.png") << "not a png";
    try {
        io::load_image_folder(t.path.string(), o);
        FAIL();
    } catch (const io::DatasetError& e) {
        EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos);
    }
}

// Found by fuzz/fuzz_image: a ~600-byte progressive JPEG declaring 65500×65500 pixels made
// jpeg_start_decompress allocate coefficient buffers for the whole image (gigabytes)
// before the size check. The declared size must be refused first.
TEST(ImageFolder, HugeProgressiveJpegIsRefusedBeforeDecoding) {
    TempDir t;
    fs::create_directories(t.path / "a");
    fs::create_directories(t.path / "b");
    write_png(t.path / "b" / "ok.png", 4, 4, 1, 0);
    jpeg_compress_struct c{};
    jpeg_error_mgr err{};
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* mem = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = 16, c.image_height = 16, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    std::vector<uint8_t> row(16 * 3, 99);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    std::string bytes(reinterpret_cast<const char*>(mem), size);
    jpeg_destroy_compress(&c);
    std::free(mem);
    const size_t sof = bytes.find("\xff\xc2");
    ASSERT_NE(sof, std::string::npos);
    bytes.replace(sof + 5, 4, "\xff\xdc\xff\xdc");  // height, width = 65500
    std::ofstream(t.path / "a" / "huge.jpg", std::ios::binary) << bytes;
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    try {
        io::load_image_folder(t.path.string(), io::FolderOptions{});
        FAIL() << "accepted";
    } catch (const io::DatasetError& e) {
        EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
    }
    getrusage(RUSAGE_SELF, &after);
    EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 256 * 1024) << "peak RSS grew by " << (after.ru_maxrss - before.ru_maxrss) << " KiB";
}

TEST(Augment, IdentityTransformKeepsTheImage) {
    std::vector<uint8_t> img(2 * 5 * 5);
    for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 5);
    EXPECT_EQ(io::augment_image(img, 2, 5, 5, 0, 1, 0, 0), img);
    auto r = io::augment_image(img, 2, 5, 5, std::acos(-1.0), 1, 0, 0);  // 180°: reversed per plane
    EXPECT_EQ(r[0], img[24]);
    EXPECT_EQ(r[25], img[49]);
}

TEST(Split, StratifiedAndDeterministic) {
    std::vector<int32_t> labels;
    for (int i = 0; i < 100; ++i) labels.push_back(i % 4);
    auto a = io::stratified_split(labels, {0.6, 0.1}, 3), b = io::stratified_split(labels, {0.6, 0.1}, 3), c = io::stratified_split(labels, {0.6, 0.1}, 4);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_EQ(a[0].size() + a[1].size() + a[2].size(), 100u);
    for (int cls = 0; cls < 4; ++cls) {
        int n = 0;
        for (size_t i : a[0]) n += labels[i] == cls;
        EXPECT_EQ(n, 15);
    }
}

// to_inputs: samples first … first+count−1, each pixel (pixel·scale − mean[c]) / std[c],
// one sample after the other; a range past the end refused.
TEST(Dataset, ToInputsStandardisesTheSamplesInOrder) {
    io::Dataset d;
    d.channels = 2, d.height = 1, d.width = 2;
    d.labels = {0, 1, 2};
    d.pixels = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110};  // sample s, channel c, pixel j: 40 s + 20 c + 10 j
    nn::Preprocessing p;
    p.scale = 0.5;
    p.mean = {1, 2};
    p.std = {4, 8};
    const auto x = io::to_inputs(d, p, 1, 2);
    ASSERT_EQ(x.size(), 8u);
    for (std::size_t s = 0; s < 2; ++s)
        for (std::size_t c = 0; c < 2; ++c)
            for (std::size_t j = 0; j < 2; ++j) {
                const double px = static_cast<double>(40 * (s + 1) + 20 * c + 10 * j);
                EXPECT_DOUBLE_EQ(x[s * 4 + c * 2 + j], (px * 0.5 - p.mean[c]) / p.std[c]);
            }
    EXPECT_TRUE(io::to_inputs(d, p, 3, 0).empty());
    EXPECT_THROW(io::to_inputs(d, p, 2, 2), std::out_of_range);
    EXPECT_THROW(io::to_inputs(d, p, 4, 0), std::out_of_range);
}
