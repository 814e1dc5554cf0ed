// IDX files (MNIST / Fashion-MNIST), read through zlib so that .gz and plain files both work.
#include <zlib.h>

#include <memory>

#include "hecnn/io/dataset.h"

namespace hecnn::io {
namespace {

struct GzCloser {
    void operator()(gzFile_s* f) const { gzclose(f); }
};
using Gz = std::unique_ptr<gzFile_s, GzCloser>;

Gz open(const std::string& path) {
    Gz f(gzopen(path.c_str(), "rb"));
    if (!f) throw DatasetError("cannot open '" + path + "'");
    return f;
}

void read_exact(gzFile f, void* dst, size_t n, const std::string& path) {
    auto* p = static_cast<unsigned char*>(dst);
    while (n > 0) {
        const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
        const int got = gzread(f, p, chunk);
        if (got <= 0) throw DatasetError("'" + path + "' is truncated or corrupt");
        p += got, n -= static_cast<size_t>(got);
    }
}

// Appends exactly n bytes, growing the buffer as the data arrives (one 1 MiB chunk at a
// time): a hostile header alone never makes us allocate the size it declares.
void read_append(gzFile f, std::vector<uint8_t>& out, size_t n, const std::string& path) {
    constexpr size_t kChunk = size_t{1} << 20;
    for (size_t left = n; left > 0;) {
        const size_t k = std::min(kChunk, left);
        out.resize(out.size() + k);
        read_exact(f, out.data() + out.size() - k, k, path);
        left -= k;
    }
}

uint32_t be32(gzFile f, const std::string& path) {
    unsigned char b[4];
    read_exact(f, b, 4, path);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

}  // namespace

Dataset load_idx(const std::string& images, const std::string& labels, size_t limit) {
    Gz fi = open(images), fl = open(labels);
    if (be32(fi.get(), images) != 0x803) throw DatasetError("'" + images + "' is not an IDX image file (magic 0x00000803)");
    if (be32(fl.get(), labels) != 0x801) throw DatasetError("'" + labels + "' is not an IDX label file (magic 0x00000801)");
    const uint32_t n = be32(fi.get(), images), h = be32(fi.get(), images), w = be32(fi.get(), images);
    const uint32_t nl = be32(fl.get(), labels);
    if (n != nl) throw DatasetError("'" + images + "' holds " + std::to_string(n) + " images but '" + labels + "' " + std::to_string(nl) + " labels");
    if (h < 1 || w < 1 || h > 4096 || w > 4096) throw DatasetError("'" + images + "': image size " + std::to_string(h) + "×" + std::to_string(w) + " out of range");
    if (n > 10'000'000 || uint64_t{n} * h * w > (uint64_t{1} << 33)) throw DatasetError("'" + images + "': too many images");
    const size_t count = limit ? std::min<size_t>(limit, n) : n;
    Dataset d;
    d.channels = 1, d.height = h, d.width = w;
    read_append(fi.get(), d.pixels, count * h * w, images);
    std::vector<uint8_t> l;
    read_append(fl.get(), l, count, labels);
    d.labels.resize(count);
    uint8_t maxl = 0;
    for (size_t i = 0; i < count; ++i) {
        if (l[i] > 254) throw DatasetError("'" + labels + "': label " + std::to_string(l[i]) + " out of range");
        d.labels[i] = l[i];
        maxl = std::max(maxl, l[i]);
    }
    for (int c = 0; c <= maxl; ++c) d.classes.push_back(std::to_string(c));
    return d;
}

Dataset load_fashion_mnist(bool train, const std::string& dir, size_t limit) {
    const std::string p = dir + (train ? "/train" : "/t10k");
    Dataset d = load_idx(p + "-images-idx3-ubyte.gz", p + "-labels-idx1-ubyte.gz", limit);
    d.classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    for (int32_t l : d.labels)
        if (l >= 10) throw DatasetError("Fashion-MNIST label " + std::to_string(l) + " out of range");
    return d;
}

}  // namespace hecnn::io
