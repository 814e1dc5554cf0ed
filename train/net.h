// libtorch modules built from an nn::Arch: the ReLU teacher and the polynomial student
// share this code, so their parameter names match (the student starts from the
// teacher's weights by name). Only train/ includes this header (torch is expensive).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "hecnn/nn/arch.h"
#include "hecnn/nn/model.h"

namespace hecnn::train {

enum class Activation { Relu, Poly };
Activation parse_activation(const std::string& s);
const char* activation_name(Activation a);

// a·x² + b·x + c with coefficients of shape coefficient_shape(feature, granularity),
// broadcast over the batch. `ratio` r blends it with ReLU during the gradual switch:
// r·poly + (1−r)·ReLU. With Activation::Relu it is a plain ReLU without parameters.
struct PolyActImpl : torch::nn::Module {
    PolyActImpl(nn::Shape feature, Activation act, nn::Granularity g);
    torch::Tensor forward(const torch::Tensor& x);

    nn::Shape feature;
    Activation act;
    nn::Granularity granularity;
    torch::Tensor a, b, c;  // undefined for ReLU
    double ratio = 1.0;
    // Called with the pre-activation when set (coefficient initialisation from data).
    std::function<void(const torch::Tensor&)> observer;
};
TORCH_MODULE(PolyAct);

struct NetImpl : torch::nn::Module {
    NetImpl(nn::Arch arch, Activation act, nn::Granularity g);
    torch::Tensor forward(torch::Tensor x);

    // The activation layers in evaluation order.
    std::vector<PolyAct> activations() const;
    // Copies every parameter and buffer of `other` whose name and shape match; returns
    // how many tensors were copied.
    int copy_matching(const NetImpl& other);
    // The trained network as an hecnn model (evaluation mode: batch norm with running
    // statistics). Throws if an activation is still ReLU or blended.
    nn::Model to_model() const;

    nn::Arch arch;
    Activation act;
    nn::Granularity granularity;

private:
    struct Layer {
        nn::LayerSpec spec;
        torch::nn::Conv2d conv{nullptr}, expand1{nullptr}, expand3{nullptr};
        torch::nn::Linear dense{nullptr};
        torch::nn::BatchNorm2d bn{nullptr};
        PolyAct act{nullptr}, act2{nullptr};
    };
    std::vector<Layer> layers_;
};
TORCH_MODULE(Net);

// Checkpoints: the architecture and preprocessing travel with the weights, so that a
// teacher or an --init model can be loaded without restating how it was built.
struct CheckpointInfo {
    std::string arch;
    nn::Shape input;
    int64_t classes = 10;
    Activation act = Activation::Poly;
    nn::Granularity granularity = nn::Granularity::Element;
    nn::Preprocessing preprocessing;
    int epoch = 0;
};
void save_checkpoint(const Net& net, const CheckpointInfo& info, const std::string& path);
Net load_checkpoint(const std::string& path, CheckpointInfo& info);

// Least-squares fit of ReLU by a·x² + b·x + c on the pre-activations observed while
// `net` runs `inputs` (in batches) with ReLU everywhere; one fit per coefficient group
// of each activation (whole layer, channel or element). Sets the coefficients.
void fit_relu_coefficients(Net& net, const torch::Tensor& inputs, int64_t batch);

// Logits of `net` in evaluation mode, in batches, without gradients.
torch::Tensor predict(Net& net, const torch::Tensor& inputs, int64_t batch = 500);

}  // namespace hecnn::train

namespace hecnn::train {

// Knowledge-distillation loss (docs/TRAINING.md):
//   α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, labels),
// averaged over the batch. The T² keeps the soft term's gradient scale independent of T.
torch::Tensor kd_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits, const torch::Tensor& labels, double temperature,
                      double alpha);

}  // namespace hecnn::train
