// --scale, --mean, --std, --classes: a model's preprocessing given on the command line
// (nn::PreprocessingOverride), for `hecnn eval`, `hecnn plan` and `hecnn bench infer`.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "hecnn/io/onnx.h"
#include "hecnn/nn/preprocessing.h"

namespace hecnn::cli {

// Comma-separated numbers; "a/b" for one fraction (--scale 1/255).
inline std::vector<double> parse_numbers(const std::string& option, const std::string& text) {
    try {
        if (const auto slash = text.find('/'); slash != std::string::npos) {
            const auto num = io::parse_doubles(text.substr(0, slash)), den = io::parse_doubles(text.substr(slash + 1));
            if (num.size() == 1 && den.size() == 1 && den[0] != 0) return {num[0] / den[0]};
        } else if (auto v = io::parse_doubles(text); !v.empty()) {
            return v;
        }
    } catch (const std::exception&) {
    }
    throw CLI::ValidationError(option, "expected a number or comma-separated numbers (or a/b), got '" + text + "'");
}

// `what`: where the given values go ("stored in the plan: …"), or empty.
inline void add_preprocessing_options(CLI::App* cmd, nn::PreprocessingOverride& o, const std::string& what) {
    const std::string tail = " (default: the model's metadata, else ";
    cmd->add_option_function<std::string>(
        "--scale",
        [&o](const std::string& s) {
            const auto v = parse_numbers("--scale", s);
            if (v.size() != 1 || !(v[0] > 0)) throw CLI::ValidationError("--scale", "one positive number, e.g. 1/255 or 0.00392");
            o.scale = v[0];
        },
        "Pixel scale: input = (pixel·scale − mean) / std for pixels 0…255" + tail + "1/255)" + (what.empty() ? "" : "; " + what));
    cmd->add_option_function<std::string>(
        "--mean", [&o](const std::string& s) { o.mean = parse_numbers("--mean", s); },
        "Input mean after scaling: one value, or one per channel comma-separated" + tail + "0)");
    cmd->add_option_function<std::string>(
        "--std", [&o](const std::string& s) { o.std = parse_numbers("--std", s); },
        "Input standard deviation after scaling: one value, or one per channel" + tail + "1)");
    cmd->add_option_function<std::string>(
        "--classes", [&o](const std::string& s) { o.classes = io::split_commas(s); },
        "Class names, one per output, comma-separated" + tail + "none: outputs are numbered)");
}

}  // namespace hecnn::cli
