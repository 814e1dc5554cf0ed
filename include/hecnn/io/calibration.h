// Model inputs from images named on a command line (images.h), preprocessed exactly as the
// client will preprocess its images: the calibration inputs a model's value ranges are
// measured on before parameters are chosen (he::compile_for_batch), and the batch an
// end-to-end run encrypts. One function each for every front end (`hecnn plan`, `hecnn
// bench infer`, `hecnn demo`, the library), so that all calibrate alike — on the TRAINING
// part of the named images — and all run on the same batch of a spec.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hecnn/io/pixels.h"
#include "hecnn/nn/preprocessing.h"
#include "hecnn/nn/tensor.h"

namespace hecnn::io {

struct ModelInputs {
    std::vector<double> inputs;  // samples × features, sample-major, preprocessed
    std::size_t samples = 0;
    std::vector<int> labels;     // one per sample; empty when no label is known
    std::string source;          // e.g. "256 fashion-mnist training images"
};
using Calibration = ModelInputs;

// spec: {"random"} (uniform values in [-3, 3], a standardised input's range; for a model
// without data), or an image spec as load_images takes (ImagePart::calibration). At most
// `samples` inputs (a stratified sample of a labelled set).
Calibration calibration_inputs(const std::vector<std::string>& spec, std::size_t samples, const nn::Shape& input_shape,
                               const nn::Preprocessing& preprocessing);

// Every one of the caller's images (a front end's array: pixels.h), preprocessed; the
// caller chose them, so they should come from the training data.
Calibration calibration_inputs(const PixelImages& images, const nn::Shape& input_shape, const nn::Preprocessing& preprocessing);

// The first `count` images of the spec's inference part (a data set's test split), or for
// {"random"} `count` inputs uniform in [-3, 3] (not the calibration's values), unlabelled.
// Throws DatasetError when the spec holds fewer than `count` images.
ModelInputs batch_inputs(const std::vector<std::string>& spec, std::size_t count, const nn::Shape& input_shape,
                         const nn::Preprocessing& preprocessing);

}  // namespace hecnn::io
