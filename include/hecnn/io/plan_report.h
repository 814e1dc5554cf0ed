// The report of a plan made from a model: the model, the parameters chosen and why, the
// preprocessing clients will apply, the calibration, then one row per step (level, scale,
// calibrated range and headroom, memory held and spilled, MACs, predicted time) and the
// totals. `hecnn plan` prints it; the Python module's Plan.describe() returns it.
#pragma once

#include <string>

#include "hecnn/io/planner.h"

namespace hecnn::io {

// `request` is the one make_plan was given; `model_label` names the model (its path).
std::string plan_report(const ModelPlan& made, const PlanRequest& request, const std::string& model_label);

}  // namespace hecnn::io
