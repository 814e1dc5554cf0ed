// How raw pixels become a model's input, and the names of its outputs: the one type every
// path uses (the reference runner's data, calibration, the plan file, the client's
// encryption), so that a model is always run on the inputs it was trained on.
//
// A model made by `hecnn train` carries its preprocessing in its ONNX metadata; a model
// made elsewhere (a plain torch.onnx.export) carries none, and the user says it on the
// command line (PreprocessingOverride). Defaults, resolved here only: scale 1/255, mean 0,
// std 1, no class names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hecnn::nn {

// x = (pixel·scale − mean_of(c)) / std_of(c), for pixels 0 … 255 of channel c.
struct Preprocessing {
    double scale = 1.0 / 255.0;
    std::vector<double> mean, std;     // per channel, or one value for all, or empty (0 / 1)
    std::vector<std::string> classes;  // class names, index = output (empty: none)

    double mean_of(std::size_t channel) const;  // mean[c], mean[0], or 0
    double std_of(std::size_t channel) const;   // std[c], std[0], or 1
    // Throws std::invalid_argument naming the field: scale and std must be finite and
    // positive, mean finite, mean and std hold 0, 1 or `channels` values, classes none or
    // one per output (outputs = 0: not checked).
    void check(std::int64_t channels, std::size_t outputs = 0) const;
};

// What a user gives on a command line: every field present replaces the default's.
struct PreprocessingOverride {
    std::optional<double> scale;
    std::optional<std::vector<double>> mean, std;
    std::optional<std::vector<std::string>> classes;

    bool empty() const { return !scale && !mean && !std && !classes; }
    Preprocessing over(const Preprocessing& defaults) const;
};

}  // namespace hecnn::nn
