// hecnn.Batch and hecnn.Result: an encrypted batch file (what a client uploads) and a result
// file (what the server returns), the same files `hecnn encrypt` / `hecnn infer` write; a
// file the caller did not name lives in a temporary directory as long as the object.
// hecnn.infer: the server side for tests and notebooks (`hecnn infer` in-process).
#pragma once

#include <pybind11/pybind11.h>

#include <filesystem>
#include <optional>

#include "hecnn/io/batch_file.h"
#include "temp_dir.h"

namespace hecnn::python {

struct BatchFile {
    std::filesystem::path path;
    io::BatchInfo info;
    TempDirPtr owner;  // set: the file is removed with the last object holding it
};
struct Batch : BatchFile {};
struct Result : BatchFile {};

// `path`, or a fresh file in its own temporary directory (named `name`).
BatchFile place(const std::optional<std::filesystem::path>& path, const char* name);

void bind_batch(pybind11::module_& m);

}  // namespace hecnn::python
