#include "batch.h"

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <mutex>
#include <optional>
#include <variant>

#include "hecnn/he/compiler.h"
#include "hecnn/he/process.h"
#include "hecnn/io/infer_job.h"
#include "hecnn/io/keyset.h"

namespace hecnn::python {
namespace py = pybind11;

BatchFile place(const std::optional<std::filesystem::path>& path, const char* name) {
    BatchFile f;
    if (path) {
        f.path = *path;
    } else {
        f.owner = std::make_shared<TempDir>("hecnn-py");
        f.path = f.owner->path() / name;
    }
    return f;
}

namespace {

// hecnn.infer(model, eval_keys, batch): what `hecnn infer` does, in this process.
Result infer(const std::filesystem::path& model, const std::variant<py::bytes, std::filesystem::path>& eval_keys,
             const std::variant<Batch, std::filesystem::path>& batch, const std::optional<std::filesystem::path>& out, int threads, bool force,
             bool insecure) {
    std::string key_bytes;
    std::filesystem::path key_path;
    if (const auto* b = std::get_if<py::bytes>(&eval_keys)) key_bytes = *b;
    else key_path = std::get<std::filesystem::path>(eval_keys);
    const std::filesystem::path in = std::holds_alternative<Batch>(batch) ? std::get<Batch>(batch).path : std::get<std::filesystem::path>(batch);
    Result r;
    static_cast<BatchFile&>(r) = place(out, "result.hecnn");
    py::gil_scoped_release release;
    static std::once_flag started;  // process.h: once per process, before the first job
    std::call_once(started, [&] {
        he::ExecutionOptions start;
        start.threads = threads;
        he::start_inference_process(start);
    });
    const auto keys = key_path.empty()
                          ? io::load_eval_keys({reinterpret_cast<const std::uint8_t*>(key_bytes.data()), key_bytes.size()}, insecure)
                          : io::load_eval_keys_file(key_path, insecure);
    he::CompileOptions copt;  // as `hecnn infer`: the levels the client's parameters have
    copt.level_budget = keys.ctx->max_level();
    const auto served = io::load_served_model(model, copt);
    io::JobOptions jo;
    jo.model_id = served.model_id;  // a batch encrypted for another model is refused
    jo.replace_result = force || !out;
    jo.exec.threads = threads;
    r.info = io::infer_batch_file(served.plan, keys, in, r.path, jo).result;
    return r;
}

template <class T>
void file_properties(py::class_<T>& c) {
    c.def_property_readonly("path", [](const T& b) { return b.path; })
        .def_property_readonly("samples", [](const T& b) { return b.info.samples; })
        .def_property_readonly("ciphertexts", [](const T& b) { return b.info.count; })
        .def_property_readonly("level", [](const T& b) { return b.info.level; })
        .def_property_readonly("keyset_id", [](const T& b) { return b.info.keyset_id; })
        .def_property_readonly("file_bytes", [](const T& b) { return b.info.file_bytes; })
        .def("__fspath__", [](const T& b) { return b.path.string(); })
        .def("__repr__", [](const T& b) {
            return std::string("<hecnn.") + (b.info.is_result ? "Result " : "Batch ") + b.path.string() + ": " + std::to_string(b.info.samples) +
                   " images, " + std::to_string(b.info.count) + " ciphertexts>";
        });
}

}  // namespace

void bind_batch(py::module_& m) {
    py::class_<Batch> batch(m, "Batch", "An encrypted batch file (`hecnn encrypt`'s format): what the client uploads.");
    file_properties(batch);
    py::class_<Result> result(m, "Result", "An encrypted result file (`hecnn infer`'s format): only the key owner can decrypt it.");
    file_properties(result);
    m.def("infer", &infer, py::arg("model"), py::arg("eval_keys"), py::arg("batch"), py::kw_only(), py::arg("out") = py::none(),
          py::arg("threads") = 0, py::arg("force") = false, py::arg("insecure_test_params") = false,
          "Server side, in this process (`hecnn infer`): runs the ONNX model on an encrypted batch (a Batch or a batch file) with "
          "the client's evaluation keys only (KeySet.eval_keys_bytes() or an eval.keys file). Returns the encrypted Result, written "
          "to `out` (refused if it exists, unless force) or to a temporary file.");
}

}  // namespace hecnn::python
