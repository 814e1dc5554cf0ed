// hecnn.Client: the client end of `hecnn serve` (server::ServiceClient, server::run_batches):
// infer(keys, images) checks that the service's plan is the keys' plan, encrypts the images
// in batches of the plan's size, runs them on the service and returns the decrypted logits.
#pragma once

#include <pybind11/pybind11.h>

namespace hecnn::python {

void bind_client(pybind11::module_& m);

}  // namespace hecnn::python
