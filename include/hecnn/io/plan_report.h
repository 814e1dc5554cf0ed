// The report of a plan made from a model: the model, the parameters chosen and why, the
// preprocessing clients will apply, the calibration, then one row per step (level, scale,
// calibrated range and headroom, memory held and spilled, MACs, predicted time) and the
// totals. `hecnn plan` prints it; the Python module's Plan.describe() returns it.
#pragma once

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "hecnn/he/network.h"
#include "hecnn/io/planner.h"

namespace hecnn::io {

// `request` is the one make_plan was given; `model_label` names the model (its path).
std::string plan_report(const ModelPlan& made, const PlanRequest& request, const std::string& model_label);
// The same plan and prediction as JSON (`hecnn plan --json`): parameters, preprocessing,
// calibration, one object per step and the totals.
nlohmann::json plan_json(const ModelPlan& made, const std::string& model_label);

// The plan spread over R ranks (he::predict_ranks, one rank per machine, each with the
// request's threads and the budget of the prediction), for each R of `ranks` (R = 1 added
// when missing: the speedups are against it) and each network: time per batch and per
// image, speedup, compute and exchange time, the fullest rank's peak memory and spill,
// bytes exchanged. The plan is the one `mpirun -np R hecnn infer` runs (compiled.plan:
// ranks do not recompute the first layer). Throws as predict_ranks does.
std::string ranks_report(const ModelPlan& made, const PlanRequest& request, std::span<const int> ranks, std::span<const he::Network> nets);

}  // namespace hecnn::io
