// Who makes and who reads each wire of a plan (internal): the index the plan passes
// (complete_squares.h, recompute.h) decide from.
#pragma once

#include <cstddef>
#include <vector>

#include "hecnn/he/plan.h"

namespace hecnn::he::detail {

struct WireReaders {
    struct Read {
        int step;
        std::size_t group, column;  // the group of a Linear step, and the wire's column in it
    };
    struct Made {
        int step = -1;  // −1: not a Linear output
        std::size_t group = 0, row = 0;
    };
    std::vector<Made> made;                 // per wire: where a Linear step makes it
    std::vector<std::vector<Read>> linear;  // per wire: the Linear groups reading it
    std::vector<int> square_reads;          // per wire: operand slots of Square/Product steps reading it
    std::vector<char> is_output;            // per wire: a plan output

    explicit WireReaders(const Plan& p) {
        const auto W = static_cast<std::size_t>(p.wire_count());
        made.resize(W), linear.resize(W), square_reads.assign(W, 0), is_output.assign(W, 0);
        for (int w : p.outputs) is_output[static_cast<std::size_t>(w)] = 1;
        for (std::size_t s = 0; s < p.steps.size(); ++s) {
            const Step& st = p.steps[s];
            if (st.kind == Step::Kind::Square) {
                for (int w : st.inputs) ++square_reads[static_cast<std::size_t>(w)];
                continue;
            }
            for (std::size_t gi = 0; gi < st.groups.size(); ++gi) {
                const LinearGroup& g = st.groups[gi];
                for (std::size_t j = 0; j < g.inputs.size(); ++j) linear[static_cast<std::size_t>(g.inputs[j])].push_back({static_cast<int>(s), gi, j});
                for (std::size_t o = 0; o < g.outputs.size(); ++o) made[static_cast<std::size_t>(g.outputs[o])] = {static_cast<int>(s), gi, o};
            }
        }
    }
};

}  // namespace hecnn::he::detail
