// The HE plan: a compiled nn::Model as a sequence of steps on ciphertext "wires".
//
// Under element-wise packing every feature of the batch is one ciphertext, so a plan
// speaks only about ciphertexts: wire w is one ciphertext (one feature of every image of
// the batch). Wires 0..input_count-1 are the encrypted input features, in the model's
// input layout ([C,H,W] row-major). Every other wire is produced by exactly one step:
//
//  - a Linear step: groups of outputs, each group a dense map from a list of input wires
//    (out_o = Σ_j W[o,j]·in_j + bias_o) evaluated with ONE Evaluator::linear call and one
//    rescale per output. Every conv, dense, pooling, batch norm, polynomial coefficient,
//    constant add/mul, reshape, pad and concat between two squares is folded into the
//    weights of one Linear step (docs/INFERENCE.md lists the rules).
//  - a Square step: out_i = in_i² (square, relinearise, rescale). With `lazy_relin` the
//    relinearisation AND the rescale are deferred: the outputs stay size-3 ciphertexts at
//    the input's level and scale s² (NTT form), and the (only) Linear step that consumes
//    them relinearises its fewer outputs and then rescales them twice. Rescaling a size-3
//    ciphertext would round c2/q, an error that decrypts multiplied by s² (~√N times a
//    size-2 rescale's): deferring it keeps the scales exact and the error at the eager
//    level.
//
// Depth: each step adds one to the depth of its inputs; `depth` counts the rescales the
// wire has had or still owes, so a wire's level is top − depth(wire), plus one for a
// lazy square (its rescale is pending). A linear group's outputs are at
// top − depth(output); each input is read at that level + 1, a lazy square at + 2.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hecnn/nn/tensor.h"

namespace hecnn::he {

struct LinearGroup {
    std::vector<int> inputs;      // wire ids
    std::vector<int> outputs;     // wire ids (produced here)
    std::vector<double> weights;  // outputs × inputs, row-major
    std::vector<double> bias;     // one per output
};

struct Step {
    enum class Kind { Linear, Square };
    Kind kind = Kind::Linear;
    std::string name;  // model nodes it comes from
    // Linear
    std::vector<LinearGroup> groups;
    bool relin_outputs = false;  // inputs include size-3 wires: relinearise the outputs
    // Square
    std::vector<int> inputs, outputs;
    bool lazy_relin = false;  // outputs stay size 3 (relinearised after the consumer)

    std::size_t output_count() const;
    std::int64_t macs() const;  // ciphertext × scalar multiply-accumulates (Linear)
};

struct Plan {
    nn::Shape input_shape, output_shape;
    int input_count = 0;
    std::vector<int> wire_depth;  // per wire: steps between the input and the wire
    std::vector<int> wire_size;   // per wire: 2, or 3 for a lazily relinearised square
    std::vector<int> wire_step;   // per wire: producing step (−1 for inputs)
    std::vector<Step> steps;
    std::vector<int> outputs;     // wire id per output element (model output layout)
    int depth = 0;                // max wire depth = levels the plan consumes

    int wire_count() const { return static_cast<int>(wire_depth.size()); }
    // Level of wire w when it is produced, the inputs being at level `top`.
    int wire_level(int w, int top) const { return top - wire_depth[w] + (wire_size[w] == 3 ? 1 : 0); }
    // Output level of a linear group (all its outputs share one depth).
    int group_level(const LinearGroup& g, int top) const { return top - wire_depth[g.outputs.at(0)]; }
    // Level at which a linear group reads input wire w: one rescale above its outputs,
    // two for a lazy square (relinearised and rescaled twice inside the group).
    int read_level(const LinearGroup& g, int w, int top) const { return group_level(g, top) + (wire_size[w] == 3 ? 2 : 1); }
    // Step index after which the wire is no longer needed (outputs: steps.size()).
    std::vector<int> last_use() const;
    std::string summary() const;  // one line per step
};

// Evaluate the plan in double precision on `samples` samples (samples × input_count,
// sample-major); returns samples × outputs. Optionally records max |value| of every wire
// over the samples (calibration of the value ranges).
std::vector<double> run_plaintext(const Plan& plan, std::span<const double> batch, std::size_t samples,
                                  std::vector<double>* wire_max_abs = nullptr);

}  // namespace hecnn::he
