#include "client.h"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <string>

#include "arrays.h"
#include "batch.h"
#include "hecnn/server/client.h"
#include "hecnn/server/remote.h"
#include "keyset.h"
#include "plan.h"

namespace hecnn::python {
namespace py = pybind11;

namespace {

struct Client {
    std::unique_ptr<server::ServiceClient> svc;
    bool insecure = false;
};

py::dict status_dict(std::size_t k, std::size_t batches, const server::JobStatus& s) {
    py::dict d;
    d["batch"] = k;
    d["batches"] = batches;
    d["state"] = server::to_string(s.state);
    d["step"] = s.step;
    d["steps"] = s.steps;
    d["units"] = s.units;              // how far the job is: units run of units_total
    d["units_total"] = s.units_total;
    d["elapsed"] = s.elapsed;
    d["remaining"] = s.remaining;
    d["server_seconds"] = s.server_seconds;        // a finished job's run time
    d["predicted_seconds"] = s.predicted_seconds;
    return d;
}

py::array_t<double> infer(Client& c, const KeySet& k, const py::object& images, const py::object& progress, double poll_seconds) {
    const auto im = image_array(images);
    const auto& plan = k.keys.plan;
    const std::size_t n = im.images.samples, B = plan.batch, files = (n + B - 1) / B, F = plan.features(), K = plan.outputs;
    server::RemoteCallbacks cb;
    if (!progress.is_none())
        cb.status = [&](std::size_t b, const server::JobStatus& s) {
            py::gil_scoped_acquire gil;
            progress(status_dict(b, files, s));
        };
    const TempDir work("hecnn-client");
    std::vector<double> logits(n * K);
    {
        py::gil_scoped_release release;
        server::service_plan(*c.svc, c.insecure, &plan, "the keys");  // before encrypting with the keys' copy of the plan
        const auto x = io::preprocess(im.images, plan.input_shape, plan.preprocessing);
        std::vector<std::filesystem::path> batches, results;
        for (std::size_t f = 0; f < files; ++f) {
            const std::size_t first = f * B, count = std::min(B, n - first);
            batches.push_back(work.path() / ("batch-" + std::to_string(f + 1) + ".hecnn"));
            results.push_back(work.path() / ("result-" + std::to_string(f + 1) + ".hecnn"));
            io::encrypt_batch_file(k.keys, std::span<const double>(x.data() + first * F, count * F), count, batches.back());
        }
        cb.done = [&](const server::RemoteJob& r, std::size_t f) {
            const auto d = io::decrypt_result_file(k.keys, r.result);
            if (d.info.samples != std::min(B, n - f * B)) throw std::runtime_error("the service returned a result for another batch");
            std::copy(d.logits.begin(), d.logits.end(), logits.begin() + static_cast<std::ptrdiff_t>(f * B * K));
        };
        server::run_batches(*c.svc, k.dir / io::kEvalKeysFile, batches, results, cb, false, poll_seconds);
    }
    return logits_array(std::move(logits), n, K);
}

}  // namespace

void bind_client(py::module_& m) {
    py::class_<Client>(m, "Client", "The client end of `hecnn serve` (HTTPS or loopback HTTP).")
        .def(py::init([](const std::string& url, const std::string& token, const std::string& ca_cert, bool insecure, int timeout) {
                 server::ClientOptions o;
                 o.url = url;
                 o.token = token;
                 o.ca_cert = ca_cert;
                 o.read_timeout_seconds = timeout;
                 return Client{std::make_unique<server::ServiceClient>(o), insecure};
             }),
             py::arg("url"), py::kw_only(), py::arg("token") = "", py::arg("ca_cert") = "", py::arg("insecure_test_params") = false,
             py::arg("timeout") = 300,
             "url: https://host:port or http://127.0.0.1:port; token: the service's bearer token; ca_cert: PEM file of the CA(s) "
             "the server's certificate must chain to (default: the system's).")
        .def(
            "healthy", [](Client& c) { return c.svc->healthy(); }, py::call_guard<py::gil_scoped_release>())
        .def(
            "plan",
            [](Client& c) {
                io::PlanFile f;
                {
                    py::gil_scoped_release release;
                    f = server::service_plan(*c.svc, c.insecure);
                }
                return Plan::of_file(std::move(f));
            },
            "The service's plan (GET /v1/plan): make keys for it with KeySet.generate(client.plan()).")
        .def("infer", &infer, py::arg("keys"), py::arg("images"), py::kw_only(), py::arg("progress") = py::none(), py::arg("poll_seconds") = 0.5,
             "Encrypts the images (numpy array or torch tensor (B, C, H, W), pixel values 0 … 255) in batches of the plan's size, "
             "runs them on the service, and returns the decrypted logits (numpy float64 (B, outputs)). progress(status) sees every "
             "job status read: a dict of batch, batches, state, step, steps, elapsed, remaining, server_seconds, "
             "predicted_seconds (seconds).");
}

}  // namespace hecnn::python
