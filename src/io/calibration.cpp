// Calibration inputs from a data set's training split, or uniform random values.
#include "hecnn/io/calibration.h"

#include <random>

#include "hecnn/io/images.h"

namespace hecnn::io {

Calibration calibration_inputs(const std::vector<std::string>& spec, std::size_t samples, const nn::Shape& shape, const nn::Preprocessing& p) {
    if (samples == 0) throw std::invalid_argument("calibration needs at least one sample");
    const auto F = static_cast<std::size_t>(nn::element_count(shape));
    Calibration c;
    if (spec.size() == 1 && spec[0] == "random") {
        std::mt19937_64 rng(1);  // reproducible plans; nothing secret
        std::uniform_real_distribution<double> u(-3, 3);
        c.samples = samples;
        c.inputs.resize(samples * F);
        for (auto& v : c.inputs) v = u(rng);
        c.source = std::to_string(samples) + " uniform random inputs in [-3, 3]";
        return c;
    }
    const auto im = load_images(spec, shape, ImagePart::calibration, samples);
    c.samples = im.data.size();
    c.inputs = to_inputs(im.data, p, 0, c.samples);
    c.source = std::to_string(c.samples) + " " + (is_dataset_name(spec[0]) ? spec[0] + " training images" : std::string("image files"));
    return c;
}

}  // namespace hecnn::io
