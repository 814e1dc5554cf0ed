// hecnn.Plan: a plan file (io::PlanFile), made from an ONNX model (io::make_plan, as `hecnn
// plan` does) or loaded from a file; its report is the table `hecnn plan` prints.
#pragma once

#include <pybind11/pybind11.h>

#include <filesystem>
#include <string>

#include "hecnn/io/plan_file.h"

namespace hecnn::python {

struct Plan {
    io::PlanFile file;
    std::string report;  // io::plan_report when made here; a summary of the file when loaded

    static Plan of_file(io::PlanFile f);  // the summary as report
};

void bind_plan(pybind11::module_& m);

}  // namespace hecnn::python
