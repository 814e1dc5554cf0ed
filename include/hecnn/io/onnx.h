// ONNX import and export of nn::Model (Debian's libonnx).
//
// Import accepts hecnn's own exports and what torch.onnx.export emits for such a model
// (Identity, Constant, Pad before AveragePool, Flatten/Reshape, Gemm with transposed
// weights, MatMul, batch norm, polynomial activations as Mul/Add/Sub/Neg/Div by a
// constant/Pow 2 — Sub, Neg and Div lowered to Add and Mul). Anything else — ReLU, MaxPool,
// any non-polynomial operator — is refused with an OnnxError naming the node, the operator
// and what to use instead. Files are treated as hostile: sizes are bounded before allocating.
//
// Input preprocessing lives in the model's metadata_props under these keys:
//   hecnn.preprocess.scale  "0.00392156862745098"  (pixel · scale, 1/255 by default)
//   hecnn.preprocess.mean   "0.2860"               (one per channel, or one for all; comma-separated)
//   hecnn.preprocess.std    "0.3530"
//   hecnn.classes           "T-shirt/top,Trouser,…" (comma-separated; index = label)
// Every other metadata_props entry is kept in Model::metadata.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "hecnn/nn/model.h"

namespace hecnn::io {

class OnnxError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

inline constexpr const char* kMetaScale = "hecnn.preprocess.scale";
inline constexpr const char* kMetaMean = "hecnn.preprocess.mean";
inline constexpr const char* kMetaStd = "hecnn.preprocess.std";
inline constexpr const char* kMetaClasses = "hecnn.classes";

// Largest file load_onnx reads.
inline constexpr std::size_t kMaxOnnxBytes = std::size_t{1} << 30;

nn::Model parse_onnx(std::string_view bytes, const nn::Limits& limits = {});
nn::Model load_onnx(const std::string& path, const nn::Limits& limits = {});

// Float32 weights, opset 13, batch dimension "N"; the ONNX checker runs on the result
// (throws OnnxError if it objects).
std::string serialize_onnx(const nn::Model& model);
void save_onnx(const nn::Model& model, const std::string& path);

// Comma-separated lists for the metadata and the command line.
std::vector<double> parse_doubles(const std::string& s);
std::vector<std::string> split_commas(const std::string& s);

}  // namespace hecnn::io
