// Preprocessing of pixels held in memory (pixels.h); the data sets' to_input uses the same.
#include "hecnn/io/pixels.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace hecnn::io {
namespace {

template <class P, class T>
void preprocess_one(std::span<const P> px, std::int64_t C, const nn::Preprocessing& p, std::span<T> out) {
    if (px.size() != out.size() || C <= 0 || px.size() % static_cast<std::size_t>(C) != 0)
        throw std::invalid_argument("input buffer size does not match the image");
    try {
        p.check(C);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string(e.what()) + " (the images have " + std::to_string(C) + " channel(s))");
    }
    const std::size_t HW = px.size() / static_cast<std::size_t>(C);
    for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
        const double m = p.mean_of(c), s = p.std_of(c);
        for (std::size_t j = 0; j < HW; ++j) out[c * HW + j] = static_cast<T>((static_cast<double>(px[c * HW + j]) * p.scale - m) / s);
    }
}

}  // namespace

void preprocess_image(std::span<const std::uint8_t> px, std::int64_t C, const nn::Preprocessing& p, std::span<double> out) {
    preprocess_one(px, C, p, out);
}
void preprocess_image(std::span<const std::uint8_t> px, std::int64_t C, const nn::Preprocessing& p, std::span<float> out) {
    preprocess_one(px, C, p, out);
}

std::vector<double> preprocess(const PixelImages& im, const nn::Shape& input_shape, const nn::Preprocessing& p) {
    if (im.shape != input_shape)
        throw std::invalid_argument("the images are " + nn::to_string(im.shape) + ", the model takes " + nn::to_string(input_shape) +
                                    " (channels, height, width)");
    if (im.samples == 0) throw std::invalid_argument("no images");
    const auto F = static_cast<std::size_t>(nn::element_count(input_shape));
    std::vector<double> x(im.samples * F);
    std::visit(
        [&](auto px) {
            if (px.size() != im.samples * F)
                throw std::invalid_argument(std::to_string(px.size()) + " pixel values for " + std::to_string(im.samples) + " images of " +
                                            std::to_string(F));
            for (std::size_t i = 0; i < im.samples; ++i) {
                const auto one = px.subspan(i * F, F);
                for (const auto v : one)
                    if (!std::isfinite(static_cast<double>(v))) throw std::invalid_argument("image " + std::to_string(i) + " has a value that is not finite");
                preprocess_one(one, input_shape.at(0), p, std::span<double>(x.data() + i * F, F));
            }
        },
        im.pixels);
    return x;
}

}  // namespace hecnn::io
