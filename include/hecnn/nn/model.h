// hecnn's own model representation: a validated graph of the few operators an
// HE-friendly CNN needs (all linear or the square, nothing else), with the shape of every
// intermediate value inferred. ONNX import/export (io layer) and the training code
// (train/) produce it; the reference runner and the encrypted runtime consume it.
//
// Values are activations of ONE sample: the batch dimension is implicit (under
// element-wise packing the batch lives in the ciphertext slots), so a Conv input has
// shape [C,H,W] and a Gemm input [K].
#pragma once

#include <array>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "hecnn/nn/preprocessing.h"
#include "hecnn/nn/tensor.h"

namespace hecnn::nn {

// A model that breaks a rule (bad shape, unknown value, operator misuse). The message
// names the node and its operator.
class ModelError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class Op {
    Conv,               // weight [M, C/group, kh, kw], bias [M] or empty
    Gemm,               // y = weight·x + bias, weight [M, K] (out × in), bias [M] or empty
    Add,                // x + y (two values of equal shape) or x + constant (broadcast)
    Mul,                // x · y (two values of equal shape; x·x is the square) or x · constant
    AveragePool,        // kernel, stride, pads, count_include_pad
    GlobalAveragePool,  // [C,H,W] → [C,1,1]
    Concat,             // along `axis` of the sample shape
    BatchNorm,          // inference form: weight = scale, bias, mean, var, epsilon
    Reshape,            // to `target` (same element count); Flatten is a Reshape to [n]
    Pad,                // zero padding of the two spatial dimensions of [C,H,W]
};

const char* op_name(Op op);

struct Node {
    Op op{};
    std::string name;
    std::vector<int> inputs;  // value ids (activations)
    int output = -1;          // value id

    // Parameters; which ones are used depends on `op` (see Op).
    Tensor weight, bias, mean, var;
    std::array<int64_t, 2> kernel{0, 0}, stride{1, 1}, dilation{1, 1};
    std::array<int64_t, 4> pads{0, 0, 0, 0};  // top, left, bottom, right
    int64_t group = 1;
    bool count_include_pad = false;
    double epsilon = 1e-5;
    int64_t axis = 0;  // Concat: axis of the sample shape
    Shape target;      // Reshape
};

struct Value {
    std::string name;
    Shape shape;  // of one sample
};

// Limits that keep a hostile model from exhausting memory or time.
struct Limits {
    int64_t max_nodes = 10000;
    int64_t max_value_elements = int64_t{1} << 24;        // one sample's feature map
    int64_t max_weight_elements = int64_t{1} << 26;       // all constants together
    int64_t max_macs_per_sample = int64_t{1} << 34;
};

class Model {
public:
    std::vector<Value> values;
    std::vector<Node> nodes;  // in evaluation (topological) order
    int input = -1;
    int output = -1;
    Preprocessing preprocessing;
    std::map<std::string, std::string> metadata;  // free-form, kept through ONNX

    // Adds a value; returns its id.
    int add_value(std::string name, Shape shape = {});
    int find_value(const std::string& name) const;  // −1 if absent

    // Checks every node (ids, parameter shapes, attributes, limits) and infers the
    // shape of every value from the input's. Throws ModelError naming the node.
    void infer_shapes(const Limits& limits = {});

    const Shape& input_shape() const { return values.at(input).shape; }
    const Shape& output_shape() const { return values.at(output).shape; }

    // Plaintext multiply-accumulates per sample (Conv, Gemm), for reports.
    int64_t macs_per_sample() const;
};

// The inputs an AveragePool node averages at output (c, oh, ow): their row-major indices
// into the [C,H,W] input `in` (cleared and filled in kernel order), and the divisor ONNX
// uses — padded positions count (as zeros) only with count_include_pad; positions beyond
// the padding never do. Shared by the reference runner and the HE compiler's folding.
int64_t average_pool_window(const Node& n, const Shape& in, int64_t c, int64_t oh, int64_t ow, std::vector<std::size_t>& members);

}  // namespace hecnn::nn
