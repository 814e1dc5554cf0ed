// The training loop behind `hecnn train` (torch stays in trainer.cpp and net.cpp: this
// header is plain C++ so that the command line does not compile torch headers).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hecnn/io/dataset.h"

namespace hecnn::train {

// Raised when the loss or a weight becomes NaN/inf or explodes; the message says what
// to change. Nothing is exported after it (the last good epoch's checkpoint remains).
class Diverged : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct TrainOptions {
    std::vector<std::string> dataset{"fashion-mnist"};
    std::string arch = "cnn";
    std::string activation = "poly";      // relu | poly
    std::string granularity = "element";  // layer | channel | element
    std::string output = "model.onnx";    // poly: OUTPUT.onnx + OUTPUT.pt; relu: OUTPUT.pt

    // The methodology of "A methodology for training homomorphic encryption friendly
    // neural networks" (docs/BASELINES.md).
    std::string init;                // checkpoint to start from (the teacher's weights)
    std::string teacher;             // knowledge-distillation teacher checkpoint (any arch)
    double temperature = 4.0, alpha = 0.5;
    int ramp_epochs = -1;            // gradual ReLU→poly switch; −1: 1 with --init, else 0
    std::string ramp_order = "last"; // which activation layer switches first: first | last
    std::string poly_init = "auto";  // fit (least squares on ReLU, needs --init) | fixed | auto
    std::vector<double> poly_coeffs{0.1, 0.5, 0.0};  // a, b, c for --poly-init fixed
    int64_t fit_images = 2048;
    double clip = 1.0;               // gradient-norm clipping (0: off)
    bool standardize = true;         // inputs (pixel/255 − mean) / std from the training set

    // Optimiser: Nesterov SGD, cosine learning-rate decay.
    double lr = 0.01, momentum = 0.9, weight_decay = 5e-4, poly_weight_decay = 5e-4;
    std::string schedule = "cosine";  // cosine | constant
    int epochs = 10;
    int64_t batch = 64;
    uint64_t seed = 1;
    int threads = 1;

    double val_fraction = 0.0;  // stratified hold-out of the training set (fashion-mnist, cifar10)
    size_t limit = 0;           // cap each split (quick runs, tests)
    io::FolderOptions folder;
    int64_t bn_recalibrate_images = 4096;  // batch-norm statistics re-estimated after each epoch (0: off)
    int64_t roundtrip_images = 512;  // torch ↔ reference-runner check after export
    bool progress = true;
    bool checkpoints = true;  // OUTPUT.epochN.pt after every epoch
};

struct TrainResult {
    double train_accuracy = 0, val_accuracy = -1, test_accuracy = 0;
    double seconds_per_epoch = 0;
    double roundtrip_max_abs_diff = -1;  // torch logits vs reference runner on the ONNX file
    double reference_accuracy = -1;      // reference runner on the round-trip images
    double torch_accuracy_roundtrip = -1;  // torch on the same images
    std::string onnx_path, checkpoint_path;
};

TrainResult run_training(const TrainOptions& opt);

// `--describe`: the architecture table for the data set's input shape.
std::string describe(const TrainOptions& opt);

}  // namespace hecnn::train
