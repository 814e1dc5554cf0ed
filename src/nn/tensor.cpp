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

std::vector<std::size_t> broadcast_index(const Shape& s, const Shape& k) {
    const std::size_t r = s.size(), kr = k.size();
    // Stride of each dimension of s in the constant (0 where the constant has size 1).
    std::vector<int64_t> kstride(r, 0);
    int64_t acc = 1;
    for (std::size_t i = 0; i < kr && i < r; ++i) {
        const std::size_t kd = kr - 1 - i, xd = r - 1 - i;
        kstride[xd] = k[kd] == 1 ? 0 : acc;
        acc *= k[kd];
    }
    std::vector<std::size_t> out(static_cast<std::size_t>(element_count(s)));
    std::vector<int64_t> idx(r, 0);
    int64_t koff = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<std::size_t>(koff);
        for (std::size_t d = r; d-- > 0;) {  // odometer increment
            ++idx[d];
            koff += kstride[d];
            if (idx[d] < s[d]) break;
            koff -= kstride[d] * s[d];
            idx[d] = 0;
        }
    }
    return out;
}

}  // namespace hecnn::nn
