// Planning a model for encrypted inference, as every front end does it: resolve the
// preprocessing (the model's metadata, overridden by what the user gives), calibrate the
// value ranges on the user's data (calibration.h: training split), compile and choose the
// CKKS parameters (he::compile_for_batch), and report the calibrated range and headroom
// of every step. `hecnn plan`, `hecnn bench infer` and `hecnn demo` call this; the plan
// file (plan_file.h) is made from its result.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hecnn/he/compiler.h"
#include "hecnn/he/pipeline.h"
#include "hecnn/io/calibration.h"
#include "hecnn/nn/model.h"
#include "hecnn/nn/preprocessing.h"

namespace hecnn::io {

struct PlanRequest {
    nn::PreprocessingOverride preprocessing;     // over the model's own metadata
    std::vector<std::string> calib{"random"};    // "random", or images (calibration.h)
    std::size_t calib_samples = 256;
    he::PipelineOptions pipeline;                // compile and parameter options
};

struct PlannedModel {
    nn::Preprocessing preprocessing;  // resolved and checked: what every client must apply
    std::string calib_source;         // Calibration::source
    he::CompiledModel compiled;
    std::vector<he::StepRange> ranges;  // per step (first: the inputs), he::value_headroom
};

// Throws std::invalid_argument for preprocessing that does not fit the model (the count
// of mean/std values, of class names), DatasetError for calibration data that cannot be
// read or does not fit, std::runtime_error when no parameters hold the plan.
PlannedModel plan_model(const nn::Model& model, const PlanRequest& request);

// The preprocessing a model is run with: `given` over the model's metadata, checked
// against its input channels and outputs. Class names in the metadata that do not fit the
// outputs are dropped (a model's metadata may be stale); given ones that do not fit are
// refused.
nn::Preprocessing resolve_preprocessing(const nn::Model& model, const nn::PreprocessingOverride& given);

}  // namespace hecnn::io
