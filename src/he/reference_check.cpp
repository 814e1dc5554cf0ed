// Decrypted logits against the plaintext reference runner (reference_check.h).
#include "hecnn/he/reference_check.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "hecnn/nn/reference.h"

namespace hecnn::he {
namespace {

std::size_t argmax(const double* v, std::size_t n) { return static_cast<std::size_t>(std::max_element(v, v + n) - v); }

}  // namespace

ReferenceCheck check_against_reference(const nn::Model& model, std::span<const double> inputs, std::size_t samples,
                                       std::span<const double> logits, std::span<const int> labels, std::vector<double>* reference) {
    const auto F = static_cast<std::size_t>(nn::element_count(model.input_shape()));
    const auto K = static_cast<std::size_t>(nn::element_count(model.output_shape()));
    auto refuse = [&](const std::string& what, std::size_t got, std::size_t want) {
        throw std::invalid_argument("check_against_reference: " + std::to_string(got) + " " + what + ", expected " + std::to_string(want));
    };
    if (inputs.size() != samples * F) refuse("input values", inputs.size(), samples * F);
    if (logits.size() != samples * K) refuse("logits", logits.size(), samples * K);
    if (!labels.empty() && labels.size() != samples) refuse("labels", labels.size(), samples);

    const nn::ReferenceRunner ref(model);
    std::vector<double> want(samples * K);
#pragma omp parallel for schedule(dynamic, 16)
    for (std::size_t s = 0; s < samples; ++s) {
        const auto y = ref.run(inputs.subspan(s * F, F));
        std::copy(y.begin(), y.end(), want.begin() + static_cast<std::ptrdiff_t>(s * K));
    }

    ReferenceCheck c;
    c.samples = samples;
    for (std::size_t s = 0; s < samples; ++s) {
        const double* g = logits.data() + s * K;
        const double* w = want.data() + s * K;
        for (std::size_t k = 0; k < K; ++k) {
            c.max_abs_error = std::max(c.max_abs_error, std::fabs(g[k] - w[k]));
            c.max_abs_logit = std::max(c.max_abs_logit, std::fabs(w[k]));
        }
        const std::size_t ch = argmax(g, K), cr = argmax(w, K);
        c.agreements += ch == cr;
        if (!labels.empty()) {
            c.correct_he += static_cast<int>(ch) == labels[s];
            c.correct_ref += static_cast<int>(cr) == labels[s];
        }
    }
    c.disagreements = samples - c.agreements;
    c.agreement = samples ? static_cast<double>(c.agreements) / static_cast<double>(samples) : 1;
    if (!labels.empty() && samples) {
        c.accuracy_he = static_cast<double>(c.correct_he) / static_cast<double>(samples);
        c.accuracy_ref = static_cast<double>(c.correct_ref) / static_cast<double>(samples);
    }
    if (reference) *reference = std::move(want);
    return c;
}

}  // namespace hecnn::he
