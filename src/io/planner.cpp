// plan_model: preprocessing, calibration, compilation, parameters, headroom (planner.h).
#include "hecnn/io/planner.h"

#include "hecnn/ckks/serialize.h"
#include "hecnn/he/recompute.h"
#include "hecnn/io/onnx.h"

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
    const auto calib = r.calib_images ? calibration_inputs(*r.calib_images, model.input_shape(), out.preprocessing)
                                      : calibration_inputs(r.calib, r.calib_samples, model.input_shape(), out.preprocessing);
    out.calib_source = calib.source;
    out.compiled = he::compile_for_batch(model, calib.inputs, calib.samples, r.pipeline);
    out.ranges = he::value_headroom(out.compiled.plan, out.compiled.wire_max_abs, out.compiled.choice);
    return out;
}

ModelPlan make_plan(const std::filesystem::path& onnx_path, const PlanRequest& r) {
    const auto onnx = ckks::read_file(onnx_path, kMaxOnnxBytes);
    const std::string_view onnx_bytes(reinterpret_cast<const char*>(onnx.data()), onnx.size());
    ModelPlan out;
    out.model = parse_onnx(onnx_bytes);
    auto req = r;
    req.pipeline.exec = r.server;  // the pools are chosen for the server's execution (compile_for_batch)
    out.planned = plan_model(out.model, req);
    const auto& compiled = out.planned.compiled;
    out.context = ckks::Context::create(compiled.choice.literal);
    he::SimulateOptions so;
    so.exec = r.server.resolved();
    out.rates = he::Rates::resolve(r.rates_file, out.context->log_n(), so.exec.threads);  // recorded in the plan file: the budget the prediction assumed
    const auto chosen = he::choose_execution_plan(compiled.plan, *out.context, out.rates, so);  // as the server will
    out.prediction = chosen.prediction;
    out.recomputed_first_layer = chosen.recomputed;
    out.file = make_plan_file(out.planned.preprocessing, onnx_bytes, compiled, r.pipeline.params.batch, &out.prediction);
    out.file.model_name = onnx_path.filename().string();  // ≤ 255 bytes (NAME_MAX), within the plan file's name limit
    return out;
}

}  // namespace hecnn::io
