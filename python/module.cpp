// The Python module `hecnn`: Plan, KeySet, Batch, Result, Client, infer. Like the command line,
// it only converts arguments and calls the library (io, he, server); long calls release the
// GIL; the library's exceptions arrive as Python exceptions with its message.
#include <pybind11/pybind11.h>

#include <cerrno>
#include <system_error>

#include "batch.h"
#include "client.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/io/dataset.h"
#include "hecnn/io/infer_job.h"
#include "hecnn/io/onnx.h"
#include "hecnn/server/client.h"
#include "keyset.h"
#include "plan.h"

namespace py = pybind11;

PYBIND11_MODULE(hecnn, m) {
    m.doc() = "Privacy-preserving CNN inference with homomorphic encryption (RNS-CKKS): plan a model, make keys, encrypt, infer "
              "on a service, decrypt. See docs/PYTHON.md.";
    // Refused input (a corrupt or foreign file, a bad field) is a ValueError; a service
    // that refused or could not be reached, a ConnectionError.
    static py::exception<hecnn::ckks::FormatError> format_error(m, "FormatError", PyExc_ValueError);
    static py::exception<hecnn::io::DatasetError> dataset_error(m, "DatasetError", PyExc_ValueError);
    static py::exception<hecnn::server::ClientError> client_error(m, "ClientError", PyExc_ConnectionError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const hecnn::ckks::FormatError& e) {
            format_error(e.what());
        } catch (const hecnn::io::OnnxError& e) {  // a model file that cannot be read as one
            format_error(e.what());
        } catch (const hecnn::io::DatasetError& e) {
            dataset_error(e.what());
        } catch (const hecnn::server::ClientError& e) {
            client_error(e.what());
        } catch (const std::system_error& e) {  // files: missing, unreadable
            const int code = e.code().value();
            PyErr_SetString(code == ENOENT ? PyExc_FileNotFoundError : code == EACCES ? PyExc_PermissionError : code == EEXIST ? PyExc_FileExistsError
                                                                                                                            : PyExc_OSError,
                            e.what());
        }
    });
    hecnn::python::bind_plan(m);
    hecnn::python::bind_batch(m);
    hecnn::python::bind_keyset(m);
    hecnn::python::bind_client(m);
}
