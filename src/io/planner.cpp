// plan_model: preprocessing, calibration, compilation, parameters, headroom (planner.h).
#include "hecnn/io/planner.h"

namespace hecnn::io {

nn::Preprocessing resolve_preprocessing(const nn::Model& model, const nn::PreprocessingOverride& given) {
    const auto outputs = static_cast<std::size_t>(nn::element_count(model.output_shape()));
    nn::Preprocessing defaults = model.preprocessing;
    if (!defaults.classes.empty() && defaults.classes.size() != outputs) defaults.classes.clear();
    nn::Preprocessing p = given.over(defaults);
    p.check(model.input_shape().at(0), outputs);
    return p;
}

PlannedModel plan_model(const nn::Model& model, const PlanRequest& r) {
    PlannedModel out;
    out.preprocessing = resolve_preprocessing(model, r.preprocessing);
    const auto calib = calibration_inputs(r.calib, r.calib_samples, model.input_shape(), out.preprocessing);
    out.calib_source = calib.source;
    out.compiled = he::compile_for_batch(model, calib.inputs, calib.samples, r.pipeline);
    out.ranges = he::value_headroom(out.compiled.plan, out.compiled.wire_max_abs, out.compiled.choice);
    return out;
}

}  // namespace hecnn::io
