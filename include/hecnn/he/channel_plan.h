// Channel-wise packing of one image (the latency mode): where each wire of a compiled
// he::Plan lives in a few ciphertexts, and how every step is computed with rotations.
//
// The plan is the element-wise compiler's (compile(), with lazy_relin off): it already
// folds pools, batch norms, biases and the activations' coefficients into its linear
// steps. Here a wire is one SLOT of a ciphertext, not a ciphertext:
//  - inputs: wire i at slot i ([C,H,W] row-major: the channels in blocks of H·W slots);
//  - a Square step squares whole ciphertexts: out_i stays in its input's slot (a Product
//    step multiplies two ciphertexts whose operands share slots);
//  - a Linear step is y = Σ_d mask_d ⊙ rot(x, d) over the input ciphertexts (the diagonal
//    method: diagonal d of the map from input slots to output slots, as in Gazelle and
//    Halevi–Shoup), evaluated with baby-step giant-step (d = q·G + r: the baby rotations
//    by r hoisted, one rotation by q·G per giant step, the masks pre-rotated by −q·G);
//    a layer with few outputs (a dense layer) may instead use Gazelle's hybrid method:
//    `period` P ≥ outputs, diagonals d < P, then log2(slots/P) rotate-and-add steps
//    fold the blocks of P slots onto the outputs.
// Output slots of a linear step: a conv-like step (one group per output position) puts
// output m of the group at position p at anchor(p) + m·B, anchor(p) = the group's lowest
// input slot and B a power of two above the anchors' span, so that one diagonal serves
// every position (the image stays on its grid, a stride leaves gaps); a stride needs no
// special case. A step with one group (dense) puts its outputs at slots 0..M−1. Either
// falls back to consecutive slots when it does not fit. Slots no wire names hold junk
// that no mask reads.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "hecnn/he/plan.h"

namespace hecnn::he {

struct SlotRef {
    int ct = -1;    // ciphertext id of the channel plan
    int slot = -1;  // 0 ≤ slot < slots
};

// The diagonals of one (input ciphertext → output ciphertext) map: out[s] += coef·in[s + d]
// for each (s, coef) of diagonal d = q·G + r; entries are stored pre-rotated by −q·G.
struct DiagonalBlock {
    int input = -1;  // ciphertext id
    struct Diagonal {
        int baby = 0, giant = 0;  // r and q·G
        std::vector<std::pair<int, double>> entries;  // (slot, coefficient), slot pre-rotated
    };
    std::vector<Diagonal> diagonals;  // sorted by (giant, baby)
    std::vector<int> babies() const;  // distinct baby steps, sorted (0 included if used)
};

// One output ciphertext of a linear step.
struct ChannelLinear {
    int output = -1;        // ciphertext id
    int giant_step = 0;     // G (slots: no giant steps)
    int period = 0;         // 0: diagonal method; else the hybrid method's fold period P
    std::vector<DiagonalBlock> blocks;      // one per input ciphertext read
    std::vector<std::pair<int, double>> bias;  // (slot, value) added after the rescale
    std::vector<int> folds;                 // hybrid: rotate-and-add by P, 2P, 4P, … < slots
    std::vector<int> giants() const;        // distinct q·G (0 included if used)
};

struct ChannelStep {
    int plan_step = -1;
    Step::Kind kind = Step::Kind::Linear;
    std::vector<ChannelLinear> linear;             // Linear
    std::vector<std::pair<int, int>> operands;     // Square/Product: per output ct, its operand cts
    std::vector<int> outputs;                      // Square/Product: output ct ids
};

struct ChannelPlan {
    std::size_t slots = 0;
    int inputs = 0;               // input wires (the model's input elements)
    int input_cts = 0;            // ciphertexts 0 … input_cts−1 carry the inputs
    std::vector<int> ct_depth;    // per ciphertext: rescales between the inputs and it
    std::vector<SlotRef> wire;    // per plan wire
    std::vector<ChannelStep> steps;
    std::vector<SlotRef> outputs;  // per model output element
    std::vector<int> output_cts;   // the distinct ciphertexts holding outputs, in order
    int depth = 0;

    int ct_count() const { return static_cast<int>(ct_depth.size()); }
    // The distinct non-zero left-rotation steps the plan uses: the only Galois keys needed.
    std::vector<int> rotation_steps() const;
    // Rotations one run performs: {hoisted (baby steps), single (giant and fold steps)}.
    std::pair<std::size_t, std::size_t> rotation_counts() const;
    std::size_t masks() const;  // plaintext masks (diagonals) over all linear steps
    // Step index after which ciphertext c is no longer read (outputs: steps.size()).
    std::vector<int> last_use() const;
    std::string summary() const;  // one line per step
};

// Lays the plan out in ciphertexts of `slots` slots. Throws std::invalid_argument for a
// plan with lazy squares (compile with lazy_relin = false) or a product whose operands do
// not share a slot.
ChannelPlan make_channel_plan(const Plan& plan, std::size_t slots);

}  // namespace hecnn::he
