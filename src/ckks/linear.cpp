// The linear map: out_o = Σ_j W[o,j]·in_j + b_o for many outputs at once.
//
// Weights are quantised to signed integers at one weight scale, the same integers in
// every RNS limb, so each (polynomial, limb) pair is one exact modular matrix product
// OUT = W·IN (math::ModGemm) with every input read once for all outputs. The bias is a
// constant polynomial (no FFT). Each output is then rescaled once, in coefficient form
// (no NTT needed).
#include <cmath>
#include <stdexcept>
#include <string>

#include "hecnn/ckks/evaluator.h"
#include "hecnn/math/modgemm.h"
#include "poly_ops.h"

namespace hecnn::ckks {

std::vector<Ciphertext> Evaluator::linear(std::span<const Ciphertext> in, const LinearMap& map) const {
    std::vector<const Ciphertext*> ptrs;
    ptrs.reserve(in.size());
    for (auto& c : in) ptrs.push_back(&c);
    return linear(ptrs, map);
}

std::vector<Ciphertext> Evaluator::linear(std::span<const Ciphertext* const> in, const LinearMap& map) const {
    if (map.inputs == 0 || map.outputs == 0) throw std::invalid_argument("linear: the map has no inputs or no outputs");
    if (in.size() != map.inputs)
        throw std::invalid_argument("linear: " + std::to_string(in.size()) + " input ciphertexts for a map of " +
                                    std::to_string(map.inputs) + " inputs");
    if (map.weights.size() != map.outputs * map.inputs)
        throw std::invalid_argument("linear: weights must be outputs × inputs = " + std::to_string(map.outputs * map.inputs));
    if (!map.bias.empty() && map.bias.size() != map.outputs)
        throw std::invalid_argument("linear: bias must be empty or have one value per output");
    const Ciphertext& first = *in[0];
    for (std::size_t j = 0; j < in.size(); ++j) {
        if (!in[j]) throw std::invalid_argument("linear: null input " + std::to_string(j));
        check_mine("linear", *in[j]);
        if (in[j]->level() != first.level())
            throw std::invalid_argument("linear: input " + std::to_string(j) + " is at level " + std::to_string(in[j]->level()) +
                                        ", input 0 at level " + std::to_string(first.level()) + "; drop them to one level first");
        if (in[j]->size() != first.size() || in[j]->is_ntt() != first.is_ntt())
            throw std::invalid_argument("linear: input " + std::to_string(j) + " differs in size or form from input 0");
        if (!(in[j]->scale() > 0) || !std::isfinite(in[j]->scale()))
            throw std::invalid_argument("linear: input " + std::to_string(j) + " has no valid scale");
    }
    const int level = first.level();
    if (map.rescale && level == 0) throw std::invalid_argument("linear: inputs are at level 0, nothing left to rescale by");
    // Every output is Σ_j w_oj·in_j at one scale S before the rescale. Inputs may differ in
    // scale: input j's integer weights are quantised at S / scale_j, so each term lands at S.
    double pre_scale;
    if (map.rescale) {
        const double target = map.target_scale > 0 ? map.target_scale : first.scale();
        pre_scale = target * static_cast<double>(ctx_->modulus(level).value());
    } else {
        if (!(map.weight_scale > 0)) throw std::invalid_argument("linear: weight_scale must be positive when rescale is off");
        pre_scale = first.scale() * map.weight_scale;
    }

    // Integer weights; |w| < 2^62 keeps every kernel exact.
    std::vector<std::int64_t> w(map.weights.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        const double wscale = pre_scale / in[i % map.inputs]->scale();
        const double v = std::nearbyint(map.weights[i] * wscale);
        if (!std::isfinite(v) || std::fabs(v) >= 4.6e18)
            throw std::invalid_argument("linear: weight " + std::to_string(map.weights[i]) + " × weight scale 2^" +
                                        std::to_string(std::log2(wscale)) + " does not fit 62 bits; lower the scale");
        w[i] = static_cast<std::int64_t>(v);
    }
    const math::ModGemm gemm(w, map.outputs, map.inputs);

    const std::size_t n = ctx_->n(), limbs = first.limbs(), polys = first.size();
    std::vector<Ciphertext> out;
    out.reserve(map.outputs);
    for (std::size_t o = 0; o < map.outputs; ++o) out.emplace_back(ctx_, level, pre_scale, polys, first.is_ntt());

#pragma omp parallel for schedule(dynamic)
    for (std::size_t pi = 0; pi < polys * limbs; ++pi) {
        const std::size_t k = pi / limbs, i = pi % limbs;
        std::vector<const u64*> src(map.inputs);
        std::vector<u64*> dst(map.outputs);
        for (std::size_t j = 0; j < map.inputs; ++j) src[j] = in[j]->limb(k, i);
        for (std::size_t o = 0; o < map.outputs; ++o) dst[o] = out[o].limb(k, i);
        gemm.apply(ctx_->modulus(i), src.data(), dst.data(), n);
    }

    // Bias and rescale: one coarse parallel region over outputs (each output's rescale then
    // runs on one thread: nested regions are inactive), not one region per output.
#pragma omp parallel for schedule(dynamic)
    for (std::size_t o = 0; o < map.outputs; ++o) {
        if (!map.bias.empty() && map.bias[o] != 0) detail::add_constant(out[o], map.bias[o] * pre_scale);
        if (map.rescale) rescale_inplace(out[o]);
    }
    return out;
}

}  // namespace hecnn::ckks
