#include "hecnn/nn/tensor.h"

#include <stdexcept>

namespace hecnn::nn {

int64_t element_count(const Shape& shape, int64_t limit) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) throw std::invalid_argument("negative dimension in shape " + to_string(shape));
        if (d != 0 && n > limit / d) throw std::invalid_argument("shape " + to_string(shape) + " has more than " + std::to_string(limit) + " elements");
        n *= d;
    }
    return n;
}

std::string to_string(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

Tensor::Tensor(Shape s, std::vector<double> d) : shape(std::move(s)), data(std::move(d)) {
    if (element_count(shape) != static_cast<int64_t>(data.size()))
        throw std::invalid_argument("tensor of shape " + to_string(shape) + " given " + std::to_string(data.size()) + " values");
}

Tensor::Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(element_count(shape)), 0.0) {}

}  // namespace hecnn::nn
