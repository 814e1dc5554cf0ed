#include "keyset.h"

#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <variant>

#include "arrays.h"
#include "batch.h"
#include "hecnn/ckks/serialize.h"
#include "plan.h"

namespace hecnn::python {
namespace py = pybind11;

namespace {

std::shared_ptr<KeySet> load(const std::filesystem::path& dir, bool insecure, TempDirPtr owner = nullptr) {
    auto k = std::make_shared<KeySet>();
    k->dir = dir;
    k->insecure = insecure;
    k->owner = std::move(owner);
    py::gil_scoped_release release;
    k->keys = io::load_client_keys(dir, insecure);
    return k;
}

std::shared_ptr<KeySet> generate(const Plan& plan, const std::optional<std::filesystem::path>& dir, bool force, bool insecure) {
    if (plan.file.insecure() && !insecure)
        throw py::value_error("the plan has TEST-ONLY parameters below 128-bit security: pass insecure_test_params=True (tests only)");
    TempDirPtr owner = dir ? nullptr : std::make_shared<TempDir>("hecnn-keys");
    const std::filesystem::path d = dir ? *dir : owner->path() / "keys";
    {
        py::gil_scoped_release release;
        io::create_keyset(plan.file, d, force);
    }
    return load(d, insecure, std::move(owner));
}

// Images preprocessed by the plan, encrypted into one batch file.
Batch encrypt(const KeySet& k, const py::object& images, const std::optional<std::filesystem::path>& path, bool force,
              const std::function<void(std::size_t, std::size_t)>& progress) {
    const auto im = image_array(images);
    const auto& plan = k.keys.plan;
    if (im.images.samples > plan.batch)
        throw py::value_error(std::to_string(im.images.samples) + " images: a batch holds at most " + std::to_string(plan.batch) +
                              " (the plan's batch); encrypt them in slices, or use Client.infer, which does");
    Batch b;
    static_cast<BatchFile&>(b) = place(path, "batch.hecnn");
    std::function<void(std::size_t, std::size_t)> report;
    if (progress)
        report = [&](std::size_t done, std::size_t total) {
            py::gil_scoped_acquire gil;
            progress(done, total);
        };
    py::gil_scoped_release release;
    const auto x = io::preprocess(im.images, plan.input_shape, plan.preprocessing);
    b.info = io::encrypt_batch_file(k.keys, x, im.images.samples, b.path, report, force || !path);
    return b;
}

py::array_t<double> decrypt(const KeySet& k, const std::filesystem::path& result) {
    io::DecryptedResult r;
    {
        py::gil_scoped_release release;
        r = io::decrypt_result_file(k.keys, result);
    }
    return logits_array(std::move(r.logits), r.info.samples, k.keys.plan.outputs);
}

[[noreturn]] void refuse_pickle() {
    throw py::type_error("a hecnn.KeySet holds a secret key and is never pickled or copied: save it with keys.save(DIR) "
                         "(mode 0600) and load it with KeySet.load(DIR); send only keys.eval_keys_bytes()");
}

}  // namespace

void bind_keyset(py::module_& m) {
    py::class_<KeySet, std::shared_ptr<KeySet>>(m, "KeySet",
                                               "The client's keys for one plan (`hecnn keygen`): the secret key stays here; "
                                               "eval_keys_bytes() is what the server gets.")
        .def_static("generate", &generate, py::arg("plan"), py::kw_only(), py::arg("dir") = py::none(), py::arg("force") = false,
                    py::arg("insecure_test_params") = false,
                    "Fresh keys from the OS CSPRNG for the plan's parameters, in `dir` (a key directory as `hecnn keygen --out` makes; "
                    "existing keys refused unless force) or in a temporary directory removed with the object.")
        .def_static(
            "load", [](const std::filesystem::path& dir, bool insecure) { return load(dir, insecure); }, py::arg("dir"), py::kw_only(),
            py::arg("insecure_test_params") = false, "Loads and cross-checks a key directory (`hecnn keygen --out`).")
        .def(
            "save",
            [](const KeySet& k, const std::filesystem::path& dir, bool force) {
                py::gil_scoped_release release;
                io::copy_keyset(k.dir, dir, force);
            },
            py::arg("dir"), py::kw_only(), py::arg("force") = false, "Copies the key directory to `dir` (secret.key mode 0600).")
        .def(
            "eval_keys_bytes",
            [](const KeySet& k) {
                std::vector<std::uint8_t> b;
                {
                    py::gil_scoped_release release;
                    b = ckks::read_file(k.dir / io::kEvalKeysFile, std::size_t{1} << 32);
                }
                return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
            },
            "The evaluation-key bundle (parameters + relinearisation key, no secret): what the server receives.")
        .def("encrypt", &encrypt, py::arg("images"), py::kw_only(), py::arg("path") = py::none(), py::arg("force") = false,
             py::arg("progress") = py::none(),
             "Preprocesses images (numpy array or torch tensor (B, C, H, W), pixel values 0 … 255) as the plan says and encrypts "
             "them into a batch file (`hecnn encrypt`'s format) at `path` (refused if it exists, unless force) or in a temporary "
             "file. progress(done, total) is called as ciphertexts are written.")
        .def(
            "decrypt", [](const KeySet& k, const Result& r) { return decrypt(k, r.path); }, py::arg("result"))
        .def("decrypt", &decrypt, py::arg("result"), "The logits of a result (a Result or a result file): numpy float64 (samples, outputs).")
        .def_property_readonly("plan", [](const KeySet& k) { return Plan::of_file(k.keys.plan); })
        .def_property_readonly("dir", [](const KeySet& k) { return k.dir; })
        .def_property_readonly("keyset_id", [](const KeySet& k) { return k.keys.keyset_id; })
        .def("__repr__", [](const KeySet& k) {
            char id[17];
            std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(k.keys.keyset_id));
            return "<hecnn.KeySet " + std::string(id) + " in " + k.dir.string() + (k.owner ? " (temporary)" : "") + ">";
        })
        .def("__reduce__", [](const KeySet&) -> py::object { refuse_pickle(); })
        .def("__reduce_ex__", [](const KeySet&, py::object) -> py::object { refuse_pickle(); })
        .def("__getstate__", [](const KeySet&) -> py::object { refuse_pickle(); })
        .def("__copy__", [](const KeySet&) -> py::object { refuse_pickle(); })
        .def("__deepcopy__", [](const KeySet&, py::object) -> py::object { refuse_pickle(); });
}

}  // namespace hecnn::python
