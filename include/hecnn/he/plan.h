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
//  - a Product step (a Square step with `arity` 2): out_i = x_i·y_i of two wires
//    (multiply, relinearise, rescale), the ciphertext × ciphertext product of two branches
//    or of a wire and another's square. `inputs` holds the interleaved pairs
//    (x_0, y_0, x_1, y_1, …), operands(i) gives one pair; a square in such a step is the
//    pair (x, x). The higher operand is read at the lower one's level (limbs dropped from
//    a copy), so the output's depth is max(depth x, depth y) + 1 and its scale s_x·s_y/q.
//    `lazy_relin` applies as for squares (size 3, scale s_x·s_y, the consumer finishes).
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
    // Square (arity 1: inputs[i] is squared) and Product (arity 2: inputs holds the pairs)
    std::vector<int> inputs, outputs;
    int arity = 1;
    bool lazy_relin = false;  // outputs stay size 3 (relinearised after the consumer)

    // The operands of output i of a Square/Product step: {x} (arity 1) or {x, y}.
    std::span<const int> operands(std::size_t i) const {
        return std::span<const int>(inputs).subspan(i * static_cast<std::size_t>(arity), static_cast<std::size_t>(arity));
    }
    // The distinct wires output i reads: a square in a Product step, (x, x), reads one.
    std::span<const int> reads(std::size_t i) const {
        const auto op = operands(i);
        return op.size() == 2 && op[0] == op[1] ? op.first(1) : op;
    }
    const char* kind_name() const { return kind == Kind::Linear ? "linear" : arity == 2 ? "product" : "square"; }
    // Throws std::invalid_argument unless a Square/Product step's arity is 1 or 2 and its
    // inputs are arity × outputs wires.
    void check_arity() const;

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
    // Level at which a Square/Product step reads the operands of its output i: one above
    // the output's depth (the higher operand is dropped to it).
    int operand_level(const Step& st, std::size_t i, int top) const { return top - wire_depth[st.outputs.at(i)] + 1; }
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
