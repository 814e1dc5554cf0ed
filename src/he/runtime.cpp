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

// One linear group. Inputs all at one level and size: one Evaluator::linear call with
// one rescale per output (size 3 inputs: relinearise at scale Δ·q_l, then rescale).
// Mixed inputs (e.g. lazily relinearised squares at level l, size 3, and the activation's
// linear term x at level l+1, size 2): one linear call per (level, size) class, each at
// its own level WITHOUT rescaling and with its weights quantised so that every partial
// output lands at exactly Δ·q_l; the partial outputs are dropped to level l (exact:
// residues are discarded) and added (a size-2 partial adds into the size-3 one), then
// relinearised if size 3 and rescaled. No input is ever copied, padded or dropped — the
// padded/dropped copies cost ~1 s and 1.3 GiB on the CryptoNets batch.
void Runtime::run_group(const LinearGroup& g, std::vector<ckks::Ciphertext>& wire, int top, double delta) const {
    int level = top;
    std::size_t size = 2;
    for (int w : g.inputs) level = std::min(level, wire[w].level()), size = std::max(size, wire[w].size());
    // Classes of inputs by (level, size), in order of first appearance.
    std::vector<std::pair<int, std::size_t>> keys;
    std::vector<std::vector<std::size_t>> members;
    for (std::size_t j = 0; j < g.inputs.size(); ++j) {
        const auto& c = wire[g.inputs[j]];
        const std::pair<int, std::size_t> k{c.level(), c.size()};
        auto it = std::find(keys.begin(), keys.end(), k);
        if (it == keys.end()) keys.push_back(k), members.emplace_back();
        members[static_cast<std::size_t>(std::find(keys.begin(), keys.end(), k) - keys.begin())].push_back(j);
    }
    const std::size_t O = g.outputs.size(), I = g.inputs.size();
    std::vector<ckks::Ciphertext> out;
    if (keys.size() == 1) {
        std::vector<const ckks::Ciphertext*> ptr(I);
        for (std::size_t j = 0; j < I; ++j) ptr[j] = &wire[g.inputs[j]];
        ckks::LinearMap map;
        map.inputs = I;
        map.outputs = O;
        map.weights = g.weights;
        map.bias = g.bias;
        if (size == 2) {
            map.rescale = true;
            map.target_scale = delta;
        } else {
            map.rescale = false;
            map.weight_scale = delta * static_cast<double>(ctx_->data_moduli()[level].value()) / ptr[0]->scale();
        }
        out = eval_.linear(std::span<const ckks::Ciphertext* const>(ptr), map);
        if (size == 3)
            for (auto& c : out) eval_.relinearize_inplace(c, rk_);
        if (size == 3 || !map.rescale)
            for (auto& c : out) eval_.rescale_inplace(c);
    } else {
        const double target = delta * static_cast<double>(ctx_->data_moduli()[level].value());  // Δ·q_l
        // Largest size first: the accumulator then never has to grow.
        std::vector<std::size_t> order(keys.size());
        for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys[a].second > keys[b].second; });
        for (std::size_t k : order) {
            const auto& idx = members[k];
            std::vector<const ckks::Ciphertext*> ptr(idx.size());
            ckks::LinearMap map;
            map.inputs = idx.size();
            map.outputs = O;
            map.weights.resize(O * idx.size());
            for (std::size_t o = 0; o < O; ++o)
                for (std::size_t j = 0; j < idx.size(); ++j) map.weights[o * idx.size() + j] = g.weights[o * I + idx[j]];
            for (std::size_t j = 0; j < idx.size(); ++j) ptr[j] = &wire[g.inputs[idx[j]]];
            if (out.empty()) map.bias = g.bias;
            map.rescale = false;
            map.weight_scale = target / ptr[0]->scale();
            auto part = eval_.linear(std::span<const ckks::Ciphertext* const>(ptr), map);
            for (std::size_t o = 0; o < O; ++o) {
                if (part[o].level() != level) eval_.drop_to_level_inplace(part[o], level);
                if (out.size() < O) continue;
                eval_.add_inplace(out[o], part[o]);
            }
            if (out.empty()) out = std::move(part);
        }
        for (auto& c : out) {
            if (c.size() == 3) eval_.relinearize_inplace(c, rk_);
            eval_.rescale_inplace(c);
        }
    }
    for (std::size_t o = 0; o < O; ++o) wire[g.outputs[o]] = std::move(out[o]);
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
            for_each(st.groups.size(), [&](std::size_t gi) { run_group(st.groups[gi], wire, top, delta); });
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
