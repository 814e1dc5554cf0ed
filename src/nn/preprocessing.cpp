// Preprocessing: per-channel lookup with its defaults, validation, overrides.
#include "hecnn/nn/preprocessing.h"

#include <cmath>
#include <stdexcept>

namespace hecnn::nn {
namespace {

double pick(const std::vector<double>& v, std::size_t c, double none) {
    if (v.empty()) return none;
    if (v.size() == 1) return v[0];
    if (c >= v.size()) throw std::invalid_argument("preprocessing gives " + std::to_string(v.size()) + " values, no value for channel " + std::to_string(c));
    return v[c];
}

}  // namespace

double Preprocessing::mean_of(std::size_t c) const { return pick(mean, c, 0.0); }
double Preprocessing::std_of(std::size_t c) const { return pick(std, c, 1.0); }

void Preprocessing::check(std::int64_t channels, std::size_t outputs) const {
    if (!std::isfinite(scale) || !(scale > 0)) throw std::invalid_argument("preprocessing: scale must be a positive number, got " + std::to_string(scale));
    for (const auto* v : {&mean, &std}) {
        const char* name = v == &mean ? "mean" : "std";
        if (v->size() > 1 && static_cast<std::int64_t>(v->size()) != channels)
            throw std::invalid_argument(std::string("preprocessing: ") + name + " gives " + std::to_string(v->size()) + " values for " +
                                        std::to_string(channels) + " input channel(s): give one value, or one per channel");
        for (double x : *v)
            if (!std::isfinite(x) || (v == &std && !(x > 0)))
                throw std::invalid_argument(std::string("preprocessing: ") + name + " must hold finite" + (v == &std ? " positive" : "") +
                                            " numbers, got " + std::to_string(x));
    }
    if (outputs && !classes.empty() && classes.size() != outputs)
        throw std::invalid_argument("preprocessing: " + std::to_string(classes.size()) + " class names for a model of " + std::to_string(outputs) +
                                    " outputs");
}

Preprocessing PreprocessingOverride::over(const Preprocessing& defaults) const {
    Preprocessing p = defaults;
    if (scale) p.scale = *scale;
    if (mean) p.mean = *mean;
    if (std) p.std = *std;
    if (classes) p.classes = *classes;
    return p;
}

}  // namespace hecnn::nn
