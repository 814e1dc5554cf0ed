// What one step of a plan's evaluation does — one record type for the three parties that
// speak of it: the schedule predicts its memory, the simulator adds levels, scales,
// operation counts and time, the runtime fills the same fields from what it did. So a
// prediction and the run it predicts compare field by field (differences()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hecnn::he {

struct StepRecord {
    std::string kind, name;               // the plan step's (Step::kind_name, Step::name)
    // The step's outputs: lowest level, most polynomials, extreme exact scales, count.
    int level = -1;
    int size = 2;
    double min_scale = 0, max_scale = 0;
    std::size_t outputs = 0;
    // Memory (schedule.h says what is counted; bytes are in-memory bytes).
    std::size_t peak_bytes = 0;           // held + running wave's outputs, max over the step
    std::size_t live = 0, live_bytes = 0;  // held in memory after the step
    std::size_t spilled = 0;              // ciphertexts on disk after the step
    std::size_t spill_bytes = 0, load_bytes = 0;  // spilled / loaded back during the step
    std::size_t input_load_bytes = 0;     // lazy inputs fetched from the provider
    std::size_t drop_bytes = 0;           // bytes kept by early level drops
    std::int64_t spills = 0, loads = 0, drops = 0;
    std::int64_t input_loads = 0;         // lazy inputs fetched (each once, by the step that first reads it)
    std::size_t spill_file_bytes = 0;     // measured only: bytes written to spill files
    // Operations: ciphertext × scalar MACs, ciphertext × ciphertext products,
    // relinearisations, rescales.
    std::int64_t macs = 0, squares = 0, relins = 0, rescales = 0;
    double seconds = 0;
};

// One field in which a prediction and a measurement of a step differ.
struct FieldDifference {
    std::string field;
    double predicted = 0, measured = 0;
    std::string describe() const;  // "peak_bytes: predicted 1024, measured 2048"
};

// The fields a prediction makes and a run measures, compared: exactly, except the scales
// (relative 1e-12: the simulator multiplies them in another order). Not compared: kind
// and name (they name the step compared), seconds (a time, predicted from rates), and
// spill_file_bytes (measured only). Empty: the prediction was exact.
std::vector<FieldDifference> differences(const StepRecord& predicted, const StepRecord& measured);

}  // namespace hecnn::he
