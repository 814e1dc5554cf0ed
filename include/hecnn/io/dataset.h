// Image data sets as 8-bit pixels with labels: Fashion-MNIST (gzipped IDX), CIFAR-10
// (binary batches), image folders (one sub-folder per class, PNG/JPEG). Every byte read
// is validated; errors name the file and say what is wrong.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "hecnn/nn/model.h"

namespace hecnn::io {

class DatasetError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Dataset {
    int64_t channels = 0, height = 0, width = 0;
    std::vector<uint8_t> pixels;  // samples × channels × height × width
    std::vector<int32_t> labels;
    std::vector<std::string> classes;

    size_t size() const { return labels.size(); }
    int64_t sample_size() const { return channels * height * width; }
    std::span<const uint8_t> sample(size_t i) const { return {pixels.data() + i * sample_size(), static_cast<size_t>(sample_size())}; }
    Dataset subset(const std::vector<size_t>& indices) const;
    Dataset slice(size_t begin, size_t end) const;  // samples [begin, end)
    void append(const Dataset& other);  // same geometry required
};

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Images (magic 0x803) and labels (magic 0x801) IDX files, gzipped or not (zlib's gzread
// reads both). `limit` > 0 keeps only the first `limit` samples.
Dataset load_idx(const std::string& images, const std::string& labels, size_t limit = 0);
Dataset load_fashion_mnist(bool train, const std::string& dir = kFashionMnistDir, size_t limit = 0);

// CIFAR-10 binary version: data_batch_1..5.bin (train) or test_batch.bin, records of one
// label byte and 3072 pixel bytes; class names from batches.meta.txt when present.
Dataset load_cifar10(const std::string& dir, bool train, size_t limit = 0);

// Image folder: DIR/<class>/*.png|*.jpg|*.jpeg, classes in sorted order, every image
// resized to size × size (bilinear) and converted to `channels` (grey → RGB replicated,
// RGB → grey by ITU-R BT.601 luma); channels 0: grey if every image is grey, else RGB.
struct FolderOptions {
    int64_t size = 32;
    int64_t channels = 0;           // 0, 1 or 3
    double train = 0.6, val = 0.1;  // the rest is the test split
    int augment = 0;                // extra augmented copies of each TRAINING image
    double rotate_degrees = 15, scale = 0.1, shift = 0.1;  // augmentation ranges (± each)
    uint64_t seed = 1;
};

struct Split {
    Dataset train, val, test;
};

Split load_image_folder(const std::string& dir, const FolderOptions& opt);

// Image files (.png, .jpg, .jpeg) in the given order, decoded, resized and converted
// exactly as a folder's images are (opt.size, opt.channels); labels −1 (unknown), no
// classes. Throws DatasetError naming the file.
Dataset load_image_files(const std::vector<std::string>& files, const FolderOptions& opt);

// Indices of a stratified split: for every class, its samples are shuffled (seeded) and
// cut by the fractions; returns one index list per fraction plus one for the rest.
std::vector<std::vector<size_t>> stratified_split(const std::vector<int32_t>& labels, const std::vector<double>& fractions, uint64_t seed);

// A random rotation/scale/shift of one image (bilinear, edges replicated).
std::vector<uint8_t> augment_image(std::span<const uint8_t> img, int64_t c, int64_t h, int64_t w, double angle_rad, double scale, double dx,
                                   double dy);

// Data set named on a command line: {"fashion-mnist"}, {"fashion-mnist", DIR},
// {"cifar10", DIR}, {"folder", DIR}. `val_fraction` of the training set (stratified,
// seeded) becomes the validation split for fashion-mnist and cifar10; folders use
// FolderOptions' fractions. `limit` > 0 caps each split (for tests and quick runs).
struct LoadOptions {
    double val_fraction = 0.0;
    uint64_t seed = 1;
    size_t limit = 0;
    bool need_train = true;
    FolderOptions folder;
};
Split load_dataset(const std::vector<std::string>& spec, const LoadOptions& opt);

// Per-channel mean and standard deviation of pixel·scale over a data set.
void channel_statistics(const Dataset& d, double scale, std::vector<double>& mean, std::vector<double>& std);

// Sample i as model input: (pixel·scale − mean[c]) / std[c] (mean/std may be empty or
// hold one value for all channels).
void to_input(const Dataset& d, size_t i, const nn::Preprocessing& p, std::span<double> out);
void to_input(const Dataset& d, size_t i, const nn::Preprocessing& p, std::span<float> out);
// Samples first … first+count−1 so, one after the other (count × sample size values,
// sample-major): the batch or calibration inputs a model is run on. Throws
// std::out_of_range when the range passes the end.
std::vector<double> to_inputs(const Dataset& d, const nn::Preprocessing& p, size_t first, size_t count);

}  // namespace hecnn::io
