#include "plan.h"

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <optional>
#include <vector>

#include "arrays.h"
#include "hecnn/io/format.h"
#include "hecnn/io/planner.h"
#include "hecnn/io/plan_report.h"

namespace hecnn::python {
namespace py = pybind11;

namespace {

// A float or a sequence of floats (one per channel); None: not given.
std::optional<std::vector<double>> per_channel(const py::object& v, const char* name) {
    if (v.is_none()) return std::nullopt;
    if (py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v)) return std::vector<double>{v.cast<double>()};
    try {
        return v.cast<std::vector<double>>();
    } catch (const py::cast_error&) {
        throw py::type_error(std::string(name) + " must be a number or a sequence of numbers (one per channel)");
    }
}

Plan from_onnx(const std::filesystem::path& model, std::size_t batch, const py::object& calib, const py::object& mean, const py::object& std_,
               std::optional<double> scale, std::optional<std::vector<std::string>> classes, int log_n, std::size_t calib_samples, int threads,
               const py::object& memory, bool insecure) {
    io::PlanRequest req;
    req.preprocessing.mean = per_channel(mean, "mean");
    req.preprocessing.std = per_channel(std_, "std");
    req.preprocessing.scale = scale;
    req.preprocessing.classes = std::move(classes);
    req.calib_samples = calib_samples;
    std::optional<ImageArray> images;  // held while the GIL is released
    if (calib.is_none()) req.calib = {"random"};
    else if (py::isinstance<py::str>(calib)) req.calib = {calib.cast<std::string>()};
    else if (py::isinstance<py::list>(calib) || py::isinstance<py::tuple>(calib)) req.calib = calib.cast<std::vector<std::string>>();
    else {
        images = image_array(calib);
        req.calib_images = images->images;
    }
    auto& p = req.pipeline.params;
    p.batch = batch;
    p.log_n = log_n;
    if (insecure) p.insecure_test_only_allow_below_128_bits = true, p.min_log_n = 1;  // as `hecnn demo --insecure-test-params`
    req.server.threads = threads;
    if (py::isinstance<py::str>(memory)) req.server.memory = he::MemoryBudget::parse(memory.cast<std::string>());
    else if (!memory.is_none()) req.server.memory = he::MemoryBudget::of(memory.cast<std::size_t>());
    req.server.lazy_inputs = true;  // as `hecnn plan`: a server reads the uploaded batch as the schedule needs it
    py::gil_scoped_release release;
    const auto made = io::make_plan(model, req);
    return Plan{made.file, io::plan_report(made, req, model.string())};
}

}  // namespace

Plan Plan::of_file(io::PlanFile f) {
    const auto ctx = ckks::Context::create(f.params);
    std::string r = "plan        model " + (f.model_name.empty() ? std::string("(unnamed)") : f.model_name) + " (digest " + f.model_digest.substr(0, 16) +
                    "…): input " + nn::to_string(f.input_shape) + ", " + std::to_string(f.outputs) + " outputs, depth " + std::to_string(f.depth) + "\n";
    r += "parameters  " + ctx->describe() + (ctx->secure_128() ? "" : " — TEST-ONLY, below 128-bit security") + "\n";
    r += "batch       " + std::to_string(f.batch) + " images: upload " + io::human_bytes(static_cast<double>(f.batch_file_bytes)) + ", evaluation keys " +
         io::human_bytes(static_cast<double>(f.eval_keys_bytes)) + "\n";
    r += "predicted   server " + io::human_ms(f.predicted_server_seconds * 1e3) + ", peak " + io::human_bytes(static_cast<double>(f.predicted_peak_bytes)) +
         " of ciphertexts\n";
    return Plan{std::move(f), std::move(r)};
}

void bind_plan(py::module_& m) {
    py::class_<Plan>(m, "Plan", "A plan: the contract between a client and the service that runs a model for it (`hecnn plan`).")
        .def_static("from_onnx", &from_onnx, py::arg("model"), py::kw_only(), py::arg("batch") = 0, py::arg("calib") = py::none(),
                    py::arg("mean") = py::none(), py::arg("std") = py::none(), py::arg("scale") = py::none(), py::arg("classes") = py::none(),
                    py::arg("log_n") = 0, py::arg("calib_samples") = 256, py::arg("threads") = 1, py::arg("memory") = py::none(),
                    py::arg("insecure_test_params") = false,
                    "Compiles an ONNX model and chooses its parameters (128-bit security unless insecure_test_params). calib: images "
                    "(B, C, H, W) of the training data as pixel values 0 … 255, a data set as `hecnn plan --calib` names it "
                    "(\"fashion-mnist\", [\"cifar10\", DIR]), or None (uniform random inputs). mean, std, scale: the preprocessing "
                    "clients will apply, over the model's metadata. threads, memory (bytes, \"8G\", \"unlimited\"; default 60 % of "
                    "MemAvailable now): the server's, for the predicted time and memory.")
        .def_static(
            "load",
            [](const std::filesystem::path& path, bool insecure) {
                py::gil_scoped_release release;
                return Plan::of_file(io::load_plan(path, insecure));
            },
            py::arg("path"), py::kw_only(), py::arg("insecure_test_params") = false, "Reads and validates a plan file (`hecnn plan --out`).")
        .def(
            "save", [](const Plan& p, const std::filesystem::path& path) { io::save_plan(path, p.file); }, py::arg("path"),
            "Writes the plan file (atomically): what `hecnn keygen --plan` and `hecnn serve --plan` read.")
        .def("describe", [](const Plan& p) { return p.report; }, "The table `hecnn plan` prints (a summary for a loaded plan).")
        .def("to_json", [](const Plan& p) { return io::plan_to_json(p.file); })
        .def_property_readonly("batch", [](const Plan& p) { return p.file.batch; })
        .def_property_readonly("input_shape", [](const Plan& p) { return py::tuple(py::cast(p.file.input_shape)); })
        .def_property_readonly("outputs", [](const Plan& p) { return p.file.outputs; })
        .def_property_readonly("depth", [](const Plan& p) { return p.file.depth; })
        .def_property_readonly("log_n", [](const Plan& p) { return p.file.params.log_n; })
        .def_property_readonly("classes", [](const Plan& p) { return p.file.preprocessing.classes; })
        .def_property_readonly("mean", [](const Plan& p) { return p.file.preprocessing.mean; })
        .def_property_readonly("std", [](const Plan& p) { return p.file.preprocessing.std; })
        .def_property_readonly("scale", [](const Plan& p) { return p.file.preprocessing.scale; })
        .def_property_readonly("insecure", [](const Plan& p) { return p.file.insecure(); })
        .def_property_readonly("model_digest", [](const Plan& p) { return p.file.model_digest; })
        .def_property_readonly("predicted_server_seconds", [](const Plan& p) { return p.file.predicted_server_seconds; })
        .def_property_readonly("batch_file_bytes", [](const Plan& p) { return p.file.batch_file_bytes; })
        .def_property_readonly("eval_keys_bytes", [](const Plan& p) { return p.file.eval_keys_bytes; })
        .def("__repr__", [](const Plan& p) {
            return "<hecnn.Plan " + p.file.model_name + ": input " + nn::to_string(p.file.input_shape) + ", batch " + std::to_string(p.file.batch) +
                   ", N=2^" + std::to_string(p.file.params.log_n) + ", depth " + std::to_string(p.file.depth) + (p.file.insecure() ? ", INSECURE" : "") + ">";
        })
        // Nothing secret in a plan: it pickles as its file (validated again when unpickled).
        .def(py::pickle([](const Plan& p) { return py::make_tuple(io::plan_to_json(p.file), p.report); },
                        [](const py::tuple& t) {
                            auto f = io::parse_plan(t[0].cast<std::string>(), true);
                            return Plan{std::move(f), t[1].cast<std::string>()};
                        }));
}

}  // namespace hecnn::python
