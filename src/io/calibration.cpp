// Calibration inputs from a data set's training split, the batch from its test split, or
// uniform random values (calibration.h).
#include "hecnn/io/calibration.h"

#include <random>

#include "hecnn/io/images.h"

namespace hecnn::io {
namespace {

bool is_random(const std::vector<std::string>& spec) { return spec.size() == 1 && spec[0] == "random"; }

// `samples` inputs uniform in [-3, 3] from a fixed seed (reproducible plans; nothing secret).
ModelInputs random_inputs(std::size_t samples, std::size_t features, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-3, 3);
    ModelInputs m;
    m.samples = samples;
    m.inputs.resize(samples * features);
    for (auto& v : m.inputs) v = u(rng);
    m.source = std::to_string(samples) + " uniform random inputs in [-3, 3]";
    return m;
}

}  // namespace

Calibration calibration_inputs(const std::vector<std::string>& spec, std::size_t samples, const nn::Shape& shape, const nn::Preprocessing& p) {
    if (samples == 0) throw std::invalid_argument("calibration needs at least one sample");
    if (is_random(spec)) return random_inputs(samples, static_cast<std::size_t>(nn::element_count(shape)), 1);
    const auto im = load_images(spec, shape, ImagePart::calibration, samples);
    Calibration c;
    c.samples = im.data.size();
    c.inputs = to_inputs(im.data, p, 0, c.samples);
    c.source = std::to_string(c.samples) + " " + (is_dataset_name(spec[0]) ? spec[0] + " training images" : std::string("image files"));
    return c;
}

Calibration calibration_inputs(const PixelImages& images, const nn::Shape& shape, const nn::Preprocessing& p) {
    Calibration c;
    c.inputs = preprocess(images, shape, p);
    c.samples = images.samples;
    c.source = std::to_string(c.samples) + " images given by the caller";
    return c;
}

ModelInputs batch_inputs(const std::vector<std::string>& spec, std::size_t count, const nn::Shape& shape, const nn::Preprocessing& p) {
    if (is_random(spec)) return random_inputs(count, static_cast<std::size_t>(nn::element_count(shape)), 2);  // not the calibration's (seed 1)
    const auto d = load_images(spec, shape, ImagePart::inference).data;
    if (d.size() < count) throw DatasetError("only " + std::to_string(d.size()) + " images for a batch of " + std::to_string(count));
    ModelInputs m;
    m.samples = count;
    m.inputs = to_inputs(d, p, 0, count);
    for (std::size_t i = 0; i < count && m.labels.empty(); ++i)
        if (d.labels[i] >= 0) m.labels.assign(d.labels.begin(), d.labels.begin() + static_cast<std::ptrdiff_t>(count));
    const bool split = is_dataset_name(spec[0]) && spec[0] != "folder";  // a folder's inference part is every image
    m.source = "the first " + std::to_string(count) + " " + (split ? spec[0] + " test images" : std::string("images"));
    return m;
}

}  // namespace hecnn::io
