// A dense tensor of doubles with its shape: weights and constants of a model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hecnn::nn {

// One sample's shape (no batch dimension), or a constant's shape.
using Shape = std::vector<int64_t>;

// Number of elements of a shape; throws if a dimension is negative or the product
// exceeds `limit` (shapes come from files that may be hostile: never multiply blindly).
int64_t element_count(const Shape& shape, int64_t limit = int64_t{1} << 40);

std::string to_string(const Shape& shape);

// For every element of shape s (row-major), the index of the constant of shape k that
// broadcasts onto it, right-aligned as in ONNX (dimensions of size 1 in k repeat).
std::vector<std::size_t> broadcast_index(const Shape& s, const Shape& k);

struct Tensor {
    Shape shape;
    std::vector<double> data;  // row-major

    Tensor() = default;
    Tensor(Shape s, std::vector<double> d);
    explicit Tensor(Shape s);  // zeros
    bool empty() const { return data.empty(); }
    int64_t size() const { return static_cast<int64_t>(data.size()); }
};

}  // namespace hecnn::nn
