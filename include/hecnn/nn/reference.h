// The plaintext reference runner: evaluates a Model in double precision, one sample at
// a time, exactly as the ONNX semantics say. It is the oracle the encrypted runtime and
// the training code are checked against, so it favours clarity over speed.
#pragma once

#include <span>
#include <vector>

#include "hecnn/nn/model.h"

namespace hecnn::nn {

class ReferenceRunner {
public:
    // The model must have passed infer_shapes().
    explicit ReferenceRunner(const Model& model);

    // One sample, laid out as model.input_shape() (row-major); returns the output.
    std::vector<double> run(std::span<const double> input) const;

    // Predicted class of each sample of a batch (samples × input size), over `threads`
    // threads (0: all cores).
    std::vector<int> classify(std::span<const double> batch, std::size_t samples, int threads = 1) const;
    // The outputs of every sample of a batch (samples × outputs, sample-major), as classify.
    std::vector<double> run_batch(std::span<const double> batch, std::size_t samples, int threads = 1) const;

private:
    const Model& model_;
    std::vector<int> last_use_;  // node index after which a value is no longer needed
};

}  // namespace hecnn::nn
