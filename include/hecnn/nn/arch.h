// The architectures hecnn trains, described without any framework: the training code
// builds its modules from an Arch, and `hecnn describe` prints each layer's output shape,
// multiplicative depth and the counts of Table 3 of the BEAA paper (docs/BASELINES.md) from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hecnn/nn/tensor.h"

namespace hecnn::nn {

// How many (a,b,c) triples an activation layer of shape [C,H,W] (or [F]) has: one,
// one per channel (C, or F for a flat feature vector), or one per element.
enum class Granularity { Layer, Channel, Element };
const char* granularity_name(Granularity g);
Granularity parse_granularity(const std::string& s);  // "layer", "channel", "element"

// Shape of the coefficient tensors of an activation on `feature` for a granularity:
// [1], [C,1,1] / [F], or the feature shape itself.
Shape coefficient_shape(const Shape& feature, Granularity g);

struct LayerSpec {
    enum class Kind { Conv, Act, BatchNorm, AvgPool, GlobalAvgPool, Flatten, Dense, Fire };
    Kind kind{};
    std::string name;
    int64_t out = 0;                  // Conv/Dense: output channels/features
    int64_t kernel = 1, stride = 1, pad = 0;
    int64_t squeeze = 0, expand1 = 0, expand3 = 0;  // Fire
};

struct Arch {
    std::string name;
    Shape input;  // [C,H,W]
    int64_t classes = 10;
    std::vector<LayerSpec> layers;
};

// "cnn": the CryptoNets-scale CNN of the SEAL baseline, docs/BASELINES.md (conv 1→6 5×5/2,
// act, avgpool 2×2, dense →48, act, dense →classes). "squeezenet": the optimized SqueezeNet
// of the BEAA paper for [3,32,32] (CIFAR-10, OCTID) or its variant for [1,28,28] (Fashion-MNIST).
// Throws std::invalid_argument naming what does not fit.
Arch make_arch(const std::string& name, const Shape& input, int64_t classes);
std::vector<std::string> arch_names();

// One row per layer (a Fire module's inner layers are rows of their own).
struct LayerInfo {
    std::string name, kind;
    Shape output;
    int depth = 0;                 // levels consumed (see describe())
    int64_t weights = 0;           // conv/dense/BN parameters
    int64_t macs = 0;              // plaintext multiply-accumulates per sample
    int64_t act_params = 0;        // polynomial coefficients (Table 3, "parameters")
    int64_t act_evals_channel_packed = 0;  // activation evaluations, one ciphertext per channel
    int64_t act_evals_element_packed = 0;  // activation evaluations, one ciphertext per element
};

// Depth model: a conv/dense layer costs one level (one rescale per output),
// an activation one level (square; its coefficients and batch norm fold into the
// neighbouring linear layers), pooling and batch norm none.
std::vector<LayerInfo> describe(const Arch& arch, Granularity g);

// The table printed by `hecnn describe` / `hecnn-train --describe`.
std::string describe_table(const Arch& arch, Granularity g);

}  // namespace hecnn::nn
