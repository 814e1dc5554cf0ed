// Calibration inputs: the images a model's value ranges are measured on before parameters
// are chosen (he::compile_for_batch). One function for every front end (`hecnn plan`,
// `hecnn bench infer`, `hecnn demo`, the library), so that all calibrate alike: on the
// TRAINING part of the named images (images.h), preprocessed exactly as the client will
// preprocess its images.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hecnn/nn/preprocessing.h"
#include "hecnn/nn/tensor.h"

namespace hecnn::io {

struct Calibration {
    std::vector<double> inputs;  // samples × features, sample-major, preprocessed
    std::size_t samples = 0;
    std::string source;          // e.g. "256 fashion-mnist training images"
};

// spec: {"random"} (uniform values in [-3, 3], a standardised input's range; for a model
// without data), or an image spec as load_images takes (ImagePart::calibration). At most
// `samples` inputs (a stratified sample of a labelled set).
Calibration calibration_inputs(const std::vector<std::string>& spec, std::size_t samples, const nn::Shape& input_shape,
                               const nn::Preprocessing& preprocessing);

}  // namespace hecnn::io
