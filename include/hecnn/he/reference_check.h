// Decrypted logits against the plaintext model: the check every end-to-end run makes
// (he::run_pipeline, `hecnn bench infer`, `hecnn demo`, a client holding its plaintext
// model). The reference runner (nn/reference.h, double precision) is run on the same
// preprocessed inputs the encrypted ones were made from; the classes, the logits and, with
// labels, the accuracies of both are compared.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "hecnn/nn/model.h"

namespace hecnn::he {

struct ReferenceCheck {
    std::size_t samples = 0;
    std::size_t agreements = 0, disagreements = 0;  // images whose predicted class is / is not the reference's
    double agreement = 0;                         // agreements / samples (1 for no samples)
    double max_abs_error = 0;                     // max |logit − reference logit| over all images and outputs
    double max_abs_logit = 0;                     // max |reference logit|: the scale max_abs_error is read against
    std::size_t correct_he = 0, correct_ref = 0;  // images classified as their label (0 without labels)
    double accuracy_he = -1, accuracy_ref = -1;   // correct / samples; −1: no labels
};

// `inputs`: samples × the model's input size (sample-major, preprocessed); `logits`:
// samples × the model's outputs; `labels`: one per sample, or empty. The predicted class
// is the first largest logit. The reference logits are written to `reference` when it is
// given (samples × outputs). The reference runs in parallel (OpenMP). Throws
// std::invalid_argument when a size does not fit.
ReferenceCheck check_against_reference(const nn::Model& model, std::span<const double> inputs, std::size_t samples,
                                       std::span<const double> logits, std::span<const int> labels,
                                       std::vector<double>* reference = nullptr);

}  // namespace hecnn::he
