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
