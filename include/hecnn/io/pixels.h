// Images a caller holds in memory (a Python array, a tensor's buffer) rather than in files:
// pixel values on the 0 … 255 scale the data sets use, samples × C × H × W, sample-major,
// preprocessed by a plan exactly as a data set's images are (nn::Preprocessing: value ·
// scale, minus the channel's mean, over its std). The front ends hand their buffers in as
// spans (no copy); only the preprocessed inputs are new.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "hecnn/nn/preprocessing.h"
#include "hecnn/nn/tensor.h"

namespace hecnn::io {

struct PixelImages {
    std::variant<std::span<const std::uint8_t>, std::span<const float>, std::span<const double>> pixels;
    std::size_t samples = 0;
    nn::Shape shape;  // one image, [C,H,W]
};

// One image (C × HW values) into `out`: (pixel·scale − mean_of(c)) / std_of(c). Throws
// std::invalid_argument for preprocessing that does not fit C channels.
void preprocess_image(std::span<const std::uint8_t> pixels, std::int64_t channels, const nn::Preprocessing& p, std::span<double> out);
void preprocess_image(std::span<const std::uint8_t> pixels, std::int64_t channels, const nn::Preprocessing& p, std::span<float> out);

// Every image, as the model of `input_shape` takes them (samples × features, sample-major).
// Throws std::invalid_argument when the images' shape is not input_shape (naming both),
// the span's length is not samples × features, there are no images, or a value is not
// finite (naming the image).
std::vector<double> preprocess(const PixelImages& images, const nn::Shape& input_shape, const nn::Preprocessing& p);

}  // namespace hecnn::io
