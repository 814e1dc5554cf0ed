// Data set helpers shared by the loaders: subsets, stratified splits, normalisation.
#include <algorithm>
#include <cmath>
#include <random>

#include "hecnn/io/dataset.h"
#include "hecnn/io/pixels.h"

namespace hecnn::io {

Dataset Dataset::subset(const std::vector<size_t>& idx) const {
    Dataset d{channels, height, width, {}, {}, classes};
    const size_t s = static_cast<size_t>(sample_size());
    d.pixels.resize(idx.size() * s);
    d.labels.resize(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) {
        if (idx[k] >= size()) throw std::out_of_range("subset index out of range");
        std::copy_n(pixels.begin() + idx[k] * s, s, d.pixels.begin() + k * s);
        d.labels[k] = labels[idx[k]];
    }
    return d;
}

Dataset Dataset::slice(size_t begin, size_t end) const {
    if (begin > end || end > size()) throw std::out_of_range("slice out of range");
    std::vector<size_t> idx(end - begin);
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = begin + i;
    return subset(idx);
}

void Dataset::append(const Dataset& o) {
    if (o.channels != channels || o.height != height || o.width != width) throw DatasetError("cannot append images of another size");
    pixels.insert(pixels.end(), o.pixels.begin(), o.pixels.end());
    labels.insert(labels.end(), o.labels.begin(), o.labels.end());
}

std::vector<std::vector<size_t>> stratified_split(const std::vector<int32_t>& labels, const std::vector<double>& fractions, uint64_t seed) {
    double total = 0;
    for (double f : fractions) {
        if (!(f >= 0)) throw std::invalid_argument("split fractions must be non-negative");
        total += f;
    }
    if (total > 1 + 1e-9) throw std::invalid_argument("split fractions add up to more than 1");
    int32_t classes = 0;
    for (int32_t l : labels) classes = std::max(classes, l + 1);
    std::vector<std::vector<size_t>> by_class(static_cast<size_t>(classes)), out(fractions.size() + 1);
    for (size_t i = 0; i < labels.size(); ++i) by_class[static_cast<size_t>(labels[i])].push_back(i);
    std::mt19937_64 rng(seed);  // data shuffling only; nothing secret
    for (auto& members : by_class) {
        std::shuffle(members.begin(), members.end(), rng);
        size_t start = 0;
        double cum = 0;
        for (size_t f = 0; f < fractions.size(); ++f) {
            cum += fractions[f];
            const size_t end = std::min(members.size(), static_cast<size_t>(std::llround(cum * static_cast<double>(members.size()))));
            out[f].insert(out[f].end(), members.begin() + start, members.begin() + std::max(start, end));
            start = std::max(start, end);
        }
        out.back().insert(out.back().end(), members.begin() + start, members.end());
    }
    for (auto& v : out) std::sort(v.begin(), v.end());
    return out;
}

void channel_statistics(const Dataset& d, double scale, std::vector<double>& mean, std::vector<double>& std) {
    const int64_t C = d.channels, HW = d.height * d.width;
    mean.assign(static_cast<size_t>(C), 0.0);
    std.assign(static_cast<size_t>(C), 1.0);
    if (d.size() == 0) return;
    for (int64_t c = 0; c < C; ++c) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < d.size(); ++i) {
            const uint8_t* p = d.pixels.data() + i * d.sample_size() + c * HW;
            for (int64_t j = 0; j < HW; ++j) {
                const double v = p[j] * scale;
                s += v, s2 += v * v;
            }
        }
        const double n = static_cast<double>(d.size()) * static_cast<double>(HW);
        mean[c] = s / n;
        std[c] = std::sqrt(std::max(s2 / n - mean[c] * mean[c], 1e-12));
    }
}

namespace {
template <class T>
void to_input_impl(const Dataset& d, size_t i, const nn::Preprocessing& p, std::span<T> out) {
    if (static_cast<int64_t>(out.size()) != d.sample_size()) throw std::invalid_argument("input buffer size does not match the image");
    preprocess_image(d.sample(i), d.channels, p, out);
}
}  // namespace

void to_input(const Dataset& d, size_t i, const nn::Preprocessing& p, std::span<double> out) { to_input_impl(d, i, p, out); }
void to_input(const Dataset& d, size_t i, const nn::Preprocessing& p, std::span<float> out) { to_input_impl(d, i, p, out); }

std::vector<double> to_inputs(const Dataset& d, const nn::Preprocessing& p, size_t first, size_t count) {
    if (first > d.size() || count > d.size() - first)
        throw std::out_of_range("images " + std::to_string(first) + "+" + std::to_string(count) + " of " + std::to_string(d.size()));
    const auto F = static_cast<size_t>(d.sample_size());
    std::vector<double> x(count * F);
    for (size_t i = 0; i < count; ++i) to_input(d, first + i, p, std::span<double>(x.data() + i * F, F));
    return x;
}

Split load_dataset(const std::vector<std::string>& spec, const LoadOptions& opt) {
    if (spec.empty()) throw DatasetError("no data set named (fashion-mnist, cifar10 DIR or folder DIR)");
    const std::string& kind = spec[0];
    auto cap = [&](Dataset d) {
        if (opt.limit && d.size() > opt.limit) {
            // Keep a stratified sample, not the first images (which may be sorted by class).
            auto parts = stratified_split(d.labels, {static_cast<double>(opt.limit) / static_cast<double>(d.size())}, opt.seed);
            d = d.subset(parts[0]);
        }
        return d;
    };
    Split s;
    if (kind == "fashion-mnist" || kind == "cifar10") {
        if (kind == "cifar10" && spec.size() != 2) throw DatasetError("cifar10 needs its directory: --dataset cifar10 DIR");
        if (spec.size() > 2) throw DatasetError("too many words in the data set name");
        const std::string dir = spec.size() == 2 ? spec[1] : kFashionMnistDir;
        auto load = [&](bool train) { return kind == "cifar10" ? load_cifar10(dir, train) : load_fashion_mnist(train, dir); };
        s.test = cap(load(false));
        if (opt.need_train) {
            Dataset train = load(true);
            if (opt.val_fraction > 0) {
                auto parts = stratified_split(train.labels, {opt.val_fraction}, opt.seed);
                s.val = cap(train.subset(parts[0]));
                train = train.subset(parts[1]);
            }
            s.train = cap(std::move(train));
        }
    } else if (kind == "folder") {
        if (spec.size() != 2) throw DatasetError("folder needs its directory: --dataset folder DIR");
        s = load_image_folder(spec[1], opt.folder);
        s.train = cap(std::move(s.train)), s.val = cap(std::move(s.val)), s.test = cap(std::move(s.test));
    } else {
        throw DatasetError("unknown data set '" + kind + "' (fashion-mnist, cifar10 DIR or folder DIR)");
    }
    return s;
}

}  // namespace hecnn::io
