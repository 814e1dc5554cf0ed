// CIFAR-10 binary batches: records of 1 label byte + 3×32×32 pixel bytes (R, G, B planes).
#include <filesystem>
#include <fstream>

#include "hecnn/io/dataset.h"

namespace hecnn::io {

Dataset load_cifar10(const std::string& dir, bool train, size_t limit) {
    constexpr size_t kRecord = 1 + 3072;
    Dataset d;
    d.channels = 3, d.height = 32, d.width = 32;
    std::vector<std::string> files;
    if (train)
        for (int i = 1; i <= 5; ++i) files.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
    else
        files.push_back(dir + "/test_batch.bin");
    for (const auto& path : files) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (ec) throw DatasetError("cannot open '" + path + "' (CIFAR-10 binary version expected in " + dir + ")");
        if (size % kRecord != 0 || size > (uint64_t{1} << 32))
            throw DatasetError("'" + path + "' is not a CIFAR-10 binary batch (size " + std::to_string(size) + " is not a multiple of 3073)");
        std::ifstream f(path, std::ios::binary);
        std::vector<uint8_t> rec(kRecord);
        for (uint64_t r = 0; r < size / kRecord && (!limit || d.size() < limit); ++r) {
            if (!f.read(reinterpret_cast<char*>(rec.data()), kRecord)) throw DatasetError("cannot read '" + path + "'");
            if (rec[0] > 9) throw DatasetError("'" + path + "': label " + std::to_string(rec[0]) + " out of range (0-9)");
            d.labels.push_back(rec[0]);
            d.pixels.insert(d.pixels.end(), rec.begin() + 1, rec.end());
        }
    }
    d.classes = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
    std::ifstream meta(dir + "/batches.meta.txt");
    std::vector<std::string> names;
    for (std::string line; std::getline(meta, line) && names.size() < 10;)
        if (!line.empty()) names.push_back(line);
    if (names.size() == 10) d.classes = names;
    return d;
}

}  // namespace hecnn::io
