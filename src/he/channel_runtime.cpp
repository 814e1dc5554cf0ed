// Channel-wise evaluation of one image (channel_runtime.h).
#include "hecnn/he/channel_runtime.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

namespace hecnn::he {
namespace {

bool same_scale(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)); }

// A mask in NTT form: the ciphertexts it multiplies are in NTT form, so the product is one
// element-wise pass per limb with no transform of the mask at run time.
ckks::Plaintext encode_ntt(const ckks::Encoder& enc, const ckks::Context& ctx, const std::vector<std::pair<int, double>>& entries,
                           double scale, int level) {
    std::vector<double> v(ctx.slots(), 0.0);
    for (const auto& [s, c] : entries) v[static_cast<std::size_t>(s)] = c;
    ckks::Plaintext p = enc.encode(v, scale, level);
    for (std::size_t i = 0; i < p.limbs(); ++i) ctx.ntt(i).forward(p.limb(0, i));
    p.set_ntt(true);
    return p;
}

}  // namespace

ChannelRuntime::ChannelRuntime(const ChannelPlan& plan, ckks::ContextPtr ctx, const ckks::RelinKey& rk, const ckks::GaloisKeys& gk)
    : plan_(plan), ctx_(std::move(ctx)), rk_(rk), gk_(gk), encoder_(ctx_), eval_(ctx_) {
    const int top = ctx_->max_level();
    if (top < plan_.depth)
        throw std::invalid_argument("ChannelRuntime: the parameters have " + std::to_string(top) + " levels, the plan needs " +
                                    std::to_string(plan_.depth));
    if (plan_.slots != ctx_->slots())
        throw std::invalid_argument("ChannelRuntime: the plan is laid out for " + std::to_string(plan_.slots) + " slots, the parameters have " +
                                    std::to_string(ctx_->slots()));
    for (int r : plan_.rotation_steps())
        if (!gk_.has(ckks::galois_element(r, ctx_->n())))
            throw std::invalid_argument("ChannelRuntime: no Galois key for rotation step " + std::to_string(r));
    // Predicted scales: Δ for inputs and linear outputs (the masks are encoded so), s²/q_l
    // for a square of a ciphertext at level l.
    scale_.assign(static_cast<std::size_t>(plan_.ct_count()), ctx_->scale());
    for (const ChannelStep& st : plan_.steps)
        for (std::size_t i = 0; i < st.outputs.size(); ++i) {
            const int x = st.operands[i].first, l = top - plan_.ct_depth[x];
            scale_[st.outputs[i]] = scale_[x] * scale_[x] / static_cast<double>(ctx_->modulus(static_cast<std::size_t>(l)).value());
        }
    masks_.resize(plan_.steps.size());
    for (std::size_t si = 0; si < plan_.steps.size(); ++si)
        for (const ChannelLinear& L : plan_.steps[si].linear) {
            const int read = top - plan_.ct_depth[L.output] + 1;
            const double q = static_cast<double>(ctx_->modulus(static_cast<std::size_t>(read)).value());
            Encoded e;
            e.blocks.resize(L.blocks.size());
            for (std::size_t b = 0; b < L.blocks.size(); ++b) {
                const auto& diags = L.blocks[b].diagonals;
                // The product lands at Δ·q_read for every input, whatever its scale: the
                // partials of all inputs add before one rescale by q_read.
                const double scale = ctx_->scale() * q / scale_[L.blocks[b].input];
                e.blocks[b].resize(diags.size());
#pragma omp parallel for schedule(dynamic)
                for (std::size_t k = 0; k < diags.size(); ++k) e.blocks[b][k] = encode_ntt(encoder_, *ctx_, diags[k].entries, scale, read);
            }
            masks_[si].push_back(std::move(e));
        }
}

std::size_t ChannelRuntime::mask_bytes() const {
    std::size_t b = 0;
    for (const auto& st : masks_)
        for (const auto& e : st)
            for (const auto& blk : e.blocks)
                for (const auto& p : blk) b += p.byte_size();
    return b;
}

void ChannelRuntime::note(int step) {
    if (step != 0) used_.insert(step);
}

ckks::Ciphertext ChannelRuntime::run_linear(const ChannelLinear& L, const Encoded& masks, const std::vector<ckks::Ciphertext>& cts) {
    const int out_level = ctx_->max_level() - plan_.ct_depth[L.output], read = out_level + 1;
    std::map<int, ckks::Ciphertext> acc;  // giant step → Σ mask ⊙ baby rotation (NTT form, at Δ·q_read)
    for (std::size_t b = 0; b < L.blocks.size(); ++b) {
        const DiagonalBlock& blk = L.blocks[b];
        ckks::Ciphertext x = cts.at(static_cast<std::size_t>(blk.input));
        if (x.level() > read) eval_.drop_to_level_inplace(x, read);  // fewer limbs to rotate
        const std::vector<int> babies = blk.babies();
        std::vector<ckks::Ciphertext> rot = eval_.rotate_many(x, babies, gk_);
        for (std::size_t i = 0; i < babies.size(); ++i) {
            note(babies[i]);
            eval_.to_ntt_inplace(rot[i]);
        }
        for (std::size_t k = 0; k < blk.diagonals.size(); ++k) {
            const auto& dg = blk.diagonals[k];
            const auto i = static_cast<std::size_t>(std::lower_bound(babies.begin(), babies.end(), dg.baby) - babies.begin());
            ckks::Ciphertext t = rot[i];
            eval_.multiply_plain_inplace(t, masks.blocks[b][k]);
            auto it = acc.find(dg.giant);
            if (it == acc.end()) acc.emplace(dg.giant, std::move(t));
            else eval_.add_inplace(it->second, t);
        }
    }
    if (acc.empty()) throw std::invalid_argument("ChannelRuntime: linear output ciphertext " + std::to_string(L.output) + " reads nothing");
    ckks::Ciphertext y;
    for (auto& [giant, a] : acc) {
        eval_.to_coeff_inplace(a);
        eval_.rescale_inplace(a);
        if (giant != 0) {
            a = eval_.rotate(a, giant, gk_);
            note(giant);
        }
        if (y.empty()) y = std::move(a);
        else eval_.add_inplace(y, a);
    }
    // The hybrid method: every block of `period` slots adds onto the outputs.
    for (int f : L.folds) {
        eval_.add_inplace(y, eval_.rotate(y, f, gk_));
        note(f);
    }
    if (!L.bias.empty()) {
        std::vector<double> v(ctx_->slots(), 0.0);
        for (const auto& [s, c] : L.bias) v[static_cast<std::size_t>(s)] = c;
        eval_.add_plain_inplace(y, encoder_.encode(v, y.scale(), y.level()));
    }
    return y;
}

std::vector<ckks::Ciphertext> ChannelRuntime::run(std::vector<ckks::Ciphertext> inputs) {
    const int top = ctx_->max_level();
    if (static_cast<int>(inputs.size()) != plan_.input_cts)
        throw std::invalid_argument("ChannelRuntime::run: " + std::to_string(inputs.size()) + " input ciphertexts, the plan takes " +
                                    std::to_string(plan_.input_cts));
    std::vector<ckks::Ciphertext> cts(static_cast<std::size_t>(plan_.ct_count()));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].level() != top || inputs[i].size() != 2 || !same_scale(inputs[i].scale(), ctx_->scale()))
            throw std::invalid_argument("ChannelRuntime::run: input " + std::to_string(i) + " is not a fresh ciphertext at the top level and scale");
        cts[i] = std::move(inputs[i]);
    }
    const std::vector<int> last = plan_.last_use();
    auto check = [&](int c) {
        if (cts[c].level() != top - plan_.ct_depth[c] || !same_scale(cts[c].scale(), scale_[c]))
            throw std::logic_error("ChannelRuntime: ciphertext " + std::to_string(c) + " is not at its predicted level and scale");
    };
    for (std::size_t si = 0; si < plan_.steps.size(); ++si) {
        const ChannelStep& st = plan_.steps[si];
        for (std::size_t k = 0; k < st.linear.size(); ++k) {
            const int c = st.linear[k].output;
            cts[c] = run_linear(st.linear[k], masks_[si][k], cts);
            check(c);
        }
        for (std::size_t i = 0; i < st.outputs.size(); ++i) {
            cts[st.outputs[i]] = eval_.square_relin_rescale(cts[st.operands[i].first], rk_);
            check(st.outputs[i]);
        }
        for (int c = 0; c < plan_.ct_count(); ++c)
            if (last[c] == static_cast<int>(si)) cts[c] = ckks::Ciphertext();
    }
    std::vector<ckks::Ciphertext> out;
    for (int c : plan_.output_cts) out.push_back(std::move(cts[c]));
    return out;
}

}  // namespace hecnn::he
