// Server side of channel-wise packing: runs a ChannelPlan on one image's ciphertexts with
// the relinearisation key and the Galois keys of exactly plan.rotation_steps().
//
// A linear step's masks are encoded once, in the constructor (they depend on the model and
// the parameters only), at the level and scale each input ciphertext is read at, so that
// every rescaled partial lands on the context's scale Δ exactly as the plan predicts; the
// baby rotations of an input are hoisted (Evaluator::rotate_many), converted to NTT form
// once and multiplied by every mask that reads them.
#pragma once

#include <cstddef>
#include <set>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/galois.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/he/channel_plan.h"

namespace hecnn::he {

class ChannelRuntime {
public:
    // Throws std::invalid_argument when the parameters have fewer levels than the plan's
    // depth or the key set lacks one of the plan's rotation steps.
    ChannelRuntime(const ChannelPlan& plan, ckks::ContextPtr ctx, const ckks::RelinKey& rk, const ckks::GaloisKeys& gk);

    // inputs: plan.input_cts ciphertexts at the top level and scale Δ (channel_packing.h);
    // returns the ciphertexts plan.output_cts, in order.
    std::vector<ckks::Ciphertext> run(std::vector<ckks::Ciphertext> inputs);

    // Every rotation step a run asked the engine for (sorted, distinct, nonzero): equal to
    // plan.rotation_steps() after a run (the tests check it).
    std::vector<int> steps_used() const { return {used_.begin(), used_.end()}; }
    std::size_t mask_bytes() const;  // the encoded masks held

private:
    struct Encoded {
        std::vector<std::vector<ckks::Plaintext>> blocks;  // per block, per diagonal
    };
    ckks::Ciphertext run_linear(const ChannelLinear& L, const Encoded& masks, const std::vector<ckks::Ciphertext>& cts);
    void note(int step);

    const ChannelPlan& plan_;
    ckks::ContextPtr ctx_;
    const ckks::RelinKey& rk_;
    const ckks::GaloisKeys& gk_;
    ckks::Encoder encoder_;
    ckks::Evaluator eval_;
    std::vector<double> scale_;             // predicted scale of every ciphertext
    std::vector<std::vector<Encoded>> masks_;  // per step, per ChannelLinear
    std::set<int> used_;
};

}  // namespace hecnn::he
