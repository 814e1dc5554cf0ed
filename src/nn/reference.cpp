// Direct loops in double precision: the semantics of each operator, spelled out.
#include "hecnn/nn/reference.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace hecnn::nn {
namespace {

using Vec = std::vector<double>;

Vec conv(const Node& n, const Shape& s, const Vec& x, const Shape& o) {
    const int64_t C = s[0], H = s[1], W = s[2], M = o[0], OH = o[1], OW = o[2];
    const auto& w = n.weight;
    const int64_t Cg = w.shape[1], KH = w.shape[2], KW = w.shape[3], Mg = M / n.group;
    Vec y(static_cast<size_t>(M * OH * OW));
    for (int64_t m = 0; m < M; ++m) {
        const int64_t c0 = (m / Mg) * Cg;
        const double b = n.bias.empty() ? 0.0 : n.bias.data[m];
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
                double acc = b;
                for (int64_t c = 0; c < Cg; ++c)
                    for (int64_t kh = 0; kh < KH; ++kh) {
                        const int64_t ih = oh * n.stride[0] - n.pads[0] + kh * n.dilation[0];
                        if (ih < 0 || ih >= H) continue;
                        for (int64_t kw = 0; kw < KW; ++kw) {
                            const int64_t iw = ow * n.stride[1] - n.pads[1] + kw * n.dilation[1];
                            if (iw < 0 || iw >= W) continue;
                            acc += w.data[((m * Cg + c) * KH + kh) * KW + kw] * x[((c0 + c) * H + ih) * W + iw];
                        }
                    }
                y[(m * OH + oh) * OW + ow] = acc;
            }
    }
    (void)C;
    return y;
}

Vec avgpool(const Node& n, const Shape& s, const Vec& x, const Shape& o) {
    const int64_t C = s[0], OH = o[1], OW = o[2];
    Vec y(static_cast<size_t>(C * OH * OW));
    std::vector<size_t> members;
    for (int64_t c = 0; c < C; ++c)
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t count = average_pool_window(n, s, c, oh, ow, members);
                double acc = 0;
                for (size_t j : members) acc += x[j];
                y[(c * OH + oh) * OW + ow] = count ? acc / static_cast<double>(count) : 0.0;
            }
    return y;
}

// Elementwise op with a constant broadcast right-aligned against shape s.
template <class F>
Vec with_constant(const Shape& s, const Vec& x, const Tensor& k, F f) {
    const std::vector<size_t> kidx = broadcast_index(s, k.shape);
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = f(x[i], k.data[kidx[i]]);
    return y;
}

}  // namespace

ReferenceRunner::ReferenceRunner(const Model& model) : model_(model), last_use_(model.values.size(), -1) {
    for (size_t i = 0; i < model.nodes.size(); ++i)
        for (int id : model.nodes[i].inputs) last_use_[id] = static_cast<int>(i);
    last_use_[model.output] = static_cast<int>(model.nodes.size());
}

std::vector<double> ReferenceRunner::run(std::span<const double> input) const {
    const auto& m = model_;
    if (static_cast<int64_t>(input.size()) != element_count(m.input_shape()))
        throw std::invalid_argument("input has " + std::to_string(input.size()) + " values, the model expects " + to_string(m.input_shape()));
    std::vector<Vec> v(m.values.size());
    v[m.input].assign(input.begin(), input.end());
    for (size_t i = 0; i < m.nodes.size(); ++i) {
        const Node& n = m.nodes[i];
        const Shape& s = m.values[n.inputs[0]].shape;
        const Shape& o = m.values[n.output].shape;
        const Vec& x = v[n.inputs[0]];
        Vec y;
        switch (n.op) {
            case Op::Conv: y = conv(n, s, x, o); break;
            case Op::Gemm: {
                const int64_t M = n.weight.shape[0], K = n.weight.shape[1];
                y.assign(static_cast<size_t>(M), 0.0);
                for (int64_t r = 0; r < M; ++r) {
                    double acc = n.bias.empty() ? 0.0 : n.bias.data[r];
                    for (int64_t k = 0; k < K; ++k) acc += n.weight.data[r * K + k] * x[k];
                    y[r] = acc;
                }
                break;
            }
            case Op::Add:
            case Op::Mul: {
                const bool add = n.op == Op::Add;
                if (n.inputs.size() == 2) {
                    const Vec& z = v[n.inputs[1]];
                    y.resize(x.size());
                    for (size_t j = 0; j < x.size(); ++j) y[j] = add ? x[j] + z[j] : x[j] * z[j];
                } else if (add) {
                    y = with_constant(s, x, n.weight, [](double a, double b) { return a + b; });
                } else {
                    y = with_constant(s, x, n.weight, [](double a, double b) { return a * b; });
                }
                break;
            }
            case Op::AveragePool: y = avgpool(n, s, x, o); break;
            case Op::GlobalAveragePool: {
                const int64_t C = s[0], HW = s[1] * s[2];
                y.assign(static_cast<size_t>(C), 0.0);
                for (int64_t c = 0; c < C; ++c) {
                    double acc = 0;
                    for (int64_t j = 0; j < HW; ++j) acc += x[c * HW + j];
                    y[c] = acc / static_cast<double>(HW);
                }
                break;
            }
            case Op::Concat: {
                int64_t outer = 1;
                for (int64_t d = 0; d < n.axis; ++d) outer *= o[d];
                y.reserve(static_cast<size_t>(element_count(o)));
                for (int64_t b = 0; b < outer; ++b)
                    for (int id : n.inputs) {
                        const Vec& z = v[id];
                        const size_t chunk = z.size() / static_cast<size_t>(outer);
                        y.insert(y.end(), z.begin() + b * chunk, z.begin() + (b + 1) * chunk);
                    }
                break;
            }
            case Op::BatchNorm: {
                const int64_t C = s[0], inner = element_count(s) / C;
                y.resize(x.size());
                for (int64_t c = 0; c < C; ++c) {
                    const double g = n.weight.data[c] / std::sqrt(n.var.data[c] + n.epsilon);
                    for (int64_t j = 0; j < inner; ++j) y[c * inner + j] = (x[c * inner + j] - n.mean.data[c]) * g + n.bias.data[c];
                }
                break;
            }
            case Op::Reshape: y = x; break;
            case Op::Pad: {
                const int64_t C = s[0], H = s[1], W = s[2], OH = o[1], OW = o[2];
                y.assign(static_cast<size_t>(C * OH * OW), 0.0);
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t h = 0; h < H; ++h)
                        for (int64_t w = 0; w < W; ++w) y[(c * OH + h + n.pads[0]) * OW + w + n.pads[1]] = x[(c * H + h) * W + w];
                break;
            }
        }
        v[n.output] = std::move(y);
        for (int id : n.inputs)
            if (last_use_[id] == static_cast<int>(i) && id != m.output) Vec().swap(v[id]);
    }
    return v[m.output];
}

std::vector<double> ReferenceRunner::run_batch(std::span<const double> batch, std::size_t samples, int threads) const {
    const size_t in = static_cast<size_t>(element_count(model_.input_shape()));
    const size_t outs = static_cast<size_t>(element_count(model_.output_shape()));
    if (batch.size() != samples * in) throw std::invalid_argument("batch size does not match samples × input size");
    std::vector<double> scores(samples * outs);
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads > 0 ? threads : omp_get_max_threads())
    for (size_t i = 0; i < samples; ++i) {
        const auto out = run(batch.subspan(i * in, in));
        std::copy(out.begin(), out.end(), scores.begin() + static_cast<std::ptrdiff_t>(i * outs));
    }
    return scores;
}

std::vector<int> ReferenceRunner::classify(std::span<const double> batch, std::size_t samples, int threads) const {
    const auto scores = run_batch(batch, samples, threads);
    const size_t outs = samples ? scores.size() / samples : 0;
    std::vector<int> pred(samples);
    for (size_t i = 0; i < samples; ++i) {
        const auto first = scores.begin() + static_cast<std::ptrdiff_t>(i * outs);
        pred[i] = static_cast<int>(std::max_element(first, first + static_cast<std::ptrdiff_t>(outs)) - first);
    }
    return pred;
}

}  // namespace hecnn::nn
