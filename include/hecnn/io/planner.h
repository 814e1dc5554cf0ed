// Planning a model for encrypted inference, as every front end does it: resolve the
// preprocessing (the model's metadata, overridden by what the user gives), calibrate the
// value ranges on the user's data (calibration.h: training split), compile and choose the
// CKKS parameters (he::compile_for_batch), and report the calibrated range and headroom
// of every step. `hecnn bench infer` calls plan_model; `hecnn plan` and `hecnn demo` call
// make_plan, which goes on to the plan file (plan_file.h) with its predicted cost.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hecnn/he/compiler.h"
#include "hecnn/he/pipeline.h"
#include "hecnn/he/simulator.h"
#include "hecnn/io/calibration.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/nn/model.h"
#include "hecnn/nn/preprocessing.h"

namespace hecnn::io {

struct PlanRequest {
    nn::PreprocessingOverride preprocessing;     // over the model's own metadata
    std::vector<std::string> calib{"random"};    // "random", or images (calibration.h)
    std::size_t calib_samples = 256;
    std::optional<PixelImages> calib_images;     // set: calibrate on these (all of them) instead of `calib`
    he::PipelineOptions pipeline;                // compile and parameter options (params.batch 0: every slot)
    // make_plan only: the prediction stored in the plan file. The server's execution it
    // assumes (threads, budget — resolved once and recorded —, order, lazy inputs), and the
    // kernel rates for the ring chosen: a rates file (he::Rates::resolve; empty: this
    // machine's, measured by `hecnn bench rates`, else the built-in figures).
    he::ExecutionOptions server;
    std::string rates_file;
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

// A plan file made for a model file, with what it was made from and predicts.
struct ModelPlan {
    nn::Model model;            // as parsed from the file
    PlannedModel planned;
    ckks::ContextPtr context;   // of the chosen parameters
    he::Rates rates;            // the prediction's
    he::Prediction prediction;  // of one batch under request.server (resolved), of the plan the server will run:
    bool recomputed_first_layer = false;  // compiled.plan, or with its first layer recomputed (he/recompute.h)
    PlanFile file;              // named by the model's file name; save_plan writes it
};

// Reads and parses the ONNX file (at most kMaxOnnxBytes), plan_model, then the prediction
// and make_plan_file: "a plan file from a model and options", the one call `hecnn plan`
// and `hecnn demo` make. Throws as plan_model does, and ckks::FormatError / OnnxError for
// a file that cannot be read or parsed.
ModelPlan make_plan(const std::filesystem::path& onnx_path, const PlanRequest& request);

// The preprocessing a model is run with: `given` over the model's metadata, checked
// against its input channels and outputs. Class names in the metadata that do not fit the
// outputs are dropped (a model's metadata may be stale); given ones that do not fit are
// refused.
nn::Preprocessing resolve_preprocessing(const nn::Model& model, const nn::PreprocessingOverride& given);

}  // namespace hecnn::io
