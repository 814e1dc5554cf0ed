#include "hecnn/he/runtime.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

namespace hecnn::he {
namespace {

// A size-2 ciphertext as a size-3 one (third polynomial zero): same message.
ckks::Ciphertext to_size3(const ckks::Ciphertext& c) {
    ckks::Ciphertext r(c.context(), c.level(), c.scale(), 3, c.is_ntt());
    const std::size_t words = c.limbs() * c.n();
    std::copy(c.limb(0, 0), c.limb(0, 0) + 2 * words, r.limb(0, 0));
    std::fill(r.limb(2, 0), r.limb(2, 0) + words, 0);
    return r;
}

// Runs body(i) for i < n: across threads when n is large enough to occupy them (engine
// calls inside run single-threaded), else sequentially (the engine parallelises inside).
template <class F>
void for_each(std::size_t n, F body) {
    const int threads = omp_get_max_threads();
    if (n >= static_cast<std::size_t>(threads) * 2 && threads > 1) {
        std::exception_ptr err;
#pragma omp parallel for schedule(dynamic)
        for (std::size_t i = 0; i < n; ++i) {
            try {
                body(i);
            } catch (...) {
#pragma omp critical(hecnn_he_err)
                if (!err) err = std::current_exception();
            }
        }
        if (err) std::rethrow_exception(err);
    } else {
        for (std::size_t i = 0; i < n; ++i) body(i);
    }
}

}  // namespace

Runtime::Runtime(const Plan& plan, ckks::ContextPtr ctx, const ckks::RelinKey& rk)
    : plan_(plan), ctx_(std::move(ctx)), rk_(rk), eval_(ctx_) {
    if (rk_.context()->id() != ctx_->id()) throw std::invalid_argument("Runtime: relinearisation key belongs to other parameters");
    if (ctx_->max_level() < plan_.depth)
        throw std::invalid_argument("Runtime: the plan needs " + std::to_string(plan_.depth) + " levels, the parameters have " +
                                    std::to_string(ctx_->max_level()));
}

std::vector<ckks::Ciphertext> Runtime::run(std::vector<ckks::Ciphertext> inputs, std::vector<StepTrace>* trace,
                                           const std::function<void(std::size_t, const StepTrace&)>& progress) const {
    const auto& plan = plan_;
    if (inputs.size() != static_cast<std::size_t>(plan.input_count))
        throw std::invalid_argument("Runtime: " + std::to_string(inputs.size()) + " input ciphertexts, the plan expects " +
                                    std::to_string(plan.input_count));
    const int top = inputs.empty() ? 0 : inputs[0].level();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& c = inputs[i];
        if (c.empty() || c.context()->id() != ctx_->id()) throw std::invalid_argument("Runtime: input " + std::to_string(i) + " belongs to other parameters");
        if (c.level() != top || c.size() != 2) throw std::invalid_argument("Runtime: input " + std::to_string(i) + " differs in level or size from input 0");
    }
    if (top < plan.depth) throw std::invalid_argument("Runtime: inputs at level " + std::to_string(top) + " < plan depth " + std::to_string(plan.depth));
    for (auto& c : inputs)
        if (c.is_ntt()) eval_.to_coeff_inplace(c);

    std::vector<ckks::Ciphertext> wire(static_cast<std::size_t>(plan.wire_count()));
    for (std::size_t i = 0; i < inputs.size(); ++i) wire[i] = std::move(inputs[i]);
    inputs.clear();
    const auto last = plan.last_use();
    std::vector<std::vector<int>> dies(plan.steps.size() + 1);
    for (int w = 0; w < plan.wire_count(); ++w)
        if (last[w] >= 0) dies[last[w]].push_back(w);
        else if (w < plan.input_count) wire[w] = ckks::Ciphertext();  // unused input
    const double delta = ctx_->scale();

    for (std::size_t si = 0; si < plan.steps.size(); ++si) {
        const Step& st = plan.steps[si];
        const auto t0 = std::chrono::steady_clock::now();
        if (st.kind == Step::Kind::Square) {
            for_each(st.inputs.size(), [&](std::size_t i) {
                const auto& x = wire[st.inputs[i]];
                if (st.lazy_relin) {
                    ckks::Ciphertext r = eval_.square(x);  // size 3, NTT form
                    eval_.to_coeff_inplace(r);
                    eval_.rescale_inplace(r);
                    wire[st.outputs[i]] = std::move(r);
                } else {
                    wire[st.outputs[i]] = eval_.square_relin_rescale(x, rk_);
                }
            });
        } else {
            for_each(st.groups.size(), [&](std::size_t gi) {
                const LinearGroup& g = st.groups[gi];
                int level = top;
                std::size_t size = 2;
                for (int w : g.inputs) level = std::min(level, wire[w].level()), size = std::max(size, wire[w].size());
                std::vector<ckks::Ciphertext> adjusted;  // dropped / padded copies
                adjusted.reserve(g.inputs.size());
                std::vector<const ckks::Ciphertext*> ptr(g.inputs.size());
                for (std::size_t j = 0; j < g.inputs.size(); ++j) {
                    const auto& c = wire[g.inputs[j]];
                    if (c.level() == level && c.size() == size) {
                        ptr[j] = &c;
                        continue;
                    }
                    ckks::Ciphertext d = c;
                    if (d.level() != level) eval_.drop_to_level_inplace(d, level);
                    if (d.size() != size) d = to_size3(d);
                    adjusted.push_back(std::move(d));
                    ptr[j] = &adjusted.back();
                }
                ckks::LinearMap map;
                map.inputs = g.inputs.size();
                map.outputs = g.outputs.size();
                map.weights = g.weights;
                map.bias = g.bias;
                if (size == 2) {
                    map.rescale = true;
                    map.target_scale = delta;
                } else {
                    // Deferred relinearisation: relinearise BEFORE the rescale, at scale
                    // Δ·q_l, so the rescale divides the key-switching error by q_l too.
                    map.rescale = false;
                    map.weight_scale = delta * static_cast<double>(ctx_->data_moduli()[level].value()) / ptr[0]->scale();
                }
                auto out = eval_.linear(std::span<const ckks::Ciphertext* const>(ptr), map);
                for (std::size_t o = 0; o < out.size(); ++o) {
                    if (out[o].size() == 3) {
                        eval_.relinearize_inplace(out[o], rk_);
                        eval_.rescale_inplace(out[o]);
                    }
                    wire[g.outputs[o]] = std::move(out[o]);
                }
            });
        }
        for (int w : dies[si]) wire[w] = ckks::Ciphertext();
        if (trace || progress) {
            StepTrace tr;
            tr.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            bool first = true;
            auto see = [&](int w) {
                const auto& c = wire[w];
                if (c.empty()) return;
                if (first) tr.level = c.level(), tr.size = static_cast<int>(c.size()), tr.min_scale = tr.max_scale = c.scale(), first = false;
                tr.level = std::min(tr.level, c.level());
                tr.size = std::max(tr.size, static_cast<int>(c.size()));
                tr.min_scale = std::min(tr.min_scale, c.scale());
                tr.max_scale = std::max(tr.max_scale, c.scale());
                ++tr.outputs;
            };
            if (st.kind == Step::Kind::Square)
                for (int w : st.outputs) see(w);
            else
                for (const auto& g : st.groups)
                    for (int w : g.outputs) see(w);
            for (const auto& c : wire)
                if (!c.empty()) ++tr.live, tr.live_bytes += c.byte_size();
            if (trace) trace->push_back(tr);
            if (progress) progress(si, tr);
        }
    }
    std::vector<ckks::Ciphertext> out(plan.outputs.size());
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = wire[plan.outputs[k]];  // copy: an output may repeat
    return out;
}

}  // namespace hecnn::he
