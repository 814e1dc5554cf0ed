#include "hecnn/nn/arch.h"

#include <cstdio>
#include <stdexcept>

namespace hecnn::nn {

const char* granularity_name(Granularity g) {
    switch (g) {
        case Granularity::Layer: return "layer";
        case Granularity::Channel: return "channel";
        case Granularity::Element: return "element";
    }
    return "?";
}

Granularity parse_granularity(const std::string& s) {
    if (s == "layer") return Granularity::Layer;
    if (s == "channel") return Granularity::Channel;
    if (s == "element") return Granularity::Element;
    throw std::invalid_argument("unknown granularity '" + s + "' (layer, channel or element)");
}

Shape coefficient_shape(const Shape& f, Granularity g) {
    switch (g) {
        case Granularity::Layer: return {1};
        case Granularity::Channel:
            if (f.size() == 3) return {f[0], 1, 1};
            return f;  // a flat feature vector: every feature is its own channel
        case Granularity::Element: return f;
    }
    return {1};
}

std::vector<std::string> arch_names() { return {"cnn", "squeezenet"}; }

namespace {
using K = LayerSpec::Kind;
LayerSpec conv(std::string name, int64_t out, int64_t k, int64_t s, int64_t p) {
    return {K::Conv, std::move(name), out, k, s, p, 0, 0, 0};
}
LayerSpec simple(K kind, std::string name) { return {kind, std::move(name), 0, 1, 1, 0, 0, 0, 0}; }
LayerSpec pool(std::string name, int64_t k, int64_t s, int64_t p) { return {K::AvgPool, std::move(name), 0, k, s, p, 0, 0, 0}; }
LayerSpec fire(std::string name, int64_t sq, int64_t e1, int64_t e3) { return {K::Fire, std::move(name), e1 + e3, 1, 1, 0, sq, e1, e3}; }
LayerSpec dense(std::string name, int64_t out) { return {K::Dense, std::move(name), out, 1, 1, 0, 0, 0, 0}; }
}  // namespace

Arch make_arch(const std::string& name, const Shape& input, int64_t classes) {
    if (input.size() != 3 || input[0] < 1 || input[1] < 1 || input[2] < 1)
        throw std::invalid_argument("architectures take [C,H,W] inputs, got " + to_string(input));
    if (classes < 2 || classes > 100000) throw std::invalid_argument("need 2 or more classes");
    Arch a{name, input, classes, {}};
    auto& L = a.layers;
    if (name == "cnn") {
        // The CryptoNets-scale CNN of the SEAL baseline (docs/BASELINES.md): conv 1→6 5×5 stride 2,
        // act, avgpool 2×2, dense →48, act, dense.
        if (input[1] < 7 || input[2] < 7) throw std::invalid_argument("cnn needs inputs of at least 7×7");
        L = {conv("conv1", 6, 5, 2, 0), simple(K::Act, "act1"), pool("pool1", 2, 2, 0), simple(K::Flatten, "flatten"),
             dense("fc1", 48),          simple(K::Act, "act2"),  dense("fc2", classes)};
    } else if (name == "squeezenet") {
        // The BEAA paper's (after HEMET) optimized SqueezeNet: Conv modules are conv → act → BN; two
        // Fire modules; average pools 3/2 (pad 1) halve the size twice; the last pool is
        // global. 32×32 → 16 → 8 (CIFAR-10, OCTID); the 28×28 variant → 14 → 7.
        if (!((input[1] == 32 && input[2] == 32) || (input[1] == 28 && input[2] == 28)))
            throw std::invalid_argument("squeezenet takes 32×32 or 28×28 inputs, got " + to_string(input));
        L = {conv("conv1", 64, 3, 1, 1),        simple(K::Act, "act1"),  simple(K::BatchNorm, "bn1"), pool("pool1", 3, 2, 1),
             fire("fire1", 32, 64, 64),         fire("fire2", 32, 64, 64), pool("pool2", 3, 2, 1),
             conv("conv2", 128, 3, 1, 1),       simple(K::Act, "act2"),  simple(K::BatchNorm, "bn2"),
             conv("conv3", 128, 3, 1, 1),       simple(K::Act, "act3"),  simple(K::BatchNorm, "bn3"),
             conv("conv4", classes, 1, 1, 0),   simple(K::Act, "act4"),  simple(K::BatchNorm, "bn4"),
             simple(K::GlobalAvgPool, "pool3"), simple(K::Flatten, "flatten")};
    } else {
        throw std::invalid_argument("unknown architecture '" + name + "' (cnn or squeezenet)");
    }
    return a;
}

std::vector<LayerInfo> describe(const Arch& arch, Granularity g) {
    std::vector<LayerInfo> rows;
    Shape s = arch.input;
    auto window = [](int64_t in, int64_t k, int64_t st, int64_t p) { return (in + 2 * p - k) / st + 1; };
    auto add_conv = [&](const std::string& name, int64_t out, int64_t k, int64_t st, int64_t p, const Shape& in) {
        Shape o{out, window(in[1], k, st, p), window(in[2], k, st, p)};
        LayerInfo r{name, "conv " + std::to_string(k) + "x" + std::to_string(k) + "/" + std::to_string(st), o, 1};
        r.weights = out * in[0] * k * k + out;
        r.macs = element_count(o) * in[0] * k * k;
        rows.push_back(r);
        return o;
    };
    auto add_act = [&](const std::string& name, const Shape& f) {
        LayerInfo r{name, "act", f, 1};
        r.act_params = 3 * element_count(coefficient_shape(f, g));
        r.act_evals_channel_packed = f.size() == 3 ? f[0] : element_count(f);
        r.act_evals_element_packed = element_count(f);
        rows.push_back(r);
    };
    for (const auto& l : arch.layers) {
        switch (l.kind) {
            case K::Conv: s = add_conv(l.name, l.out, l.kernel, l.stride, l.pad, s); break;
            case K::Act: add_act(l.name, s); break;
            case K::BatchNorm: {
                LayerInfo r{l.name, "batchnorm (folds)", s, 0};
                r.weights = 4 * s[0];
                rows.push_back(r);
                break;
            }
            case K::AvgPool:
                s = {s[0], window(s[1], l.kernel, l.stride, l.pad), window(s[2], l.kernel, l.stride, l.pad)};
                rows.push_back({l.name, "avgpool " + std::to_string(l.kernel) + "/" + std::to_string(l.stride) + " (folds)", s, 0});
                break;
            case K::GlobalAvgPool:
                s = {s[0], 1, 1};
                rows.push_back({l.name, "global avgpool (folds)", s, 0});
                break;
            case K::Flatten:
                s = {element_count(s)};
                rows.push_back({l.name, "flatten", s, 0});
                break;
            case K::Dense: {
                LayerInfo r{l.name, "dense", {l.out}, 1};
                r.weights = l.out * s[0] + l.out;
                r.macs = l.out * s[0];
                rows.push_back(r);
                s = {l.out};
                break;
            }
            case K::Fire: {
                Shape sq = add_conv(l.name + ".squeeze", l.squeeze, 1, 1, 0, s);
                add_act(l.name + ".act_s", sq);
                add_conv(l.name + ".expand1", l.expand1, 1, 1, 0, sq);
                // Both expand convs read the same input and run side by side: one level.
                Shape e3 = add_conv(l.name + ".expand3", l.expand3, 3, 1, 1, sq);
                rows.back().depth = 0;
                rows.back().kind += " (parallel)";
                s = {l.expand1 + l.expand3, e3[1], e3[2]};
                rows.push_back({l.name + ".concat", "concat", s, 0});
                add_act(l.name + ".act_e", s);
                break;
            }
        }
    }
    return rows;
}

std::string describe_table(const Arch& arch, Granularity g) {
    auto rows = describe(arch, g);
    std::string out;
    char buf[512];
    std::snprintf(buf, sizeof buf, "architecture %s, input %s, %lld classes, %s-wise polynomial activations\n", arch.name.c_str(),
                  to_string(arch.input).c_str(), static_cast<long long>(arch.classes), granularity_name(g));
    out += buf;
    std::snprintf(buf, sizeof buf, "%-16s %-28s %-14s %5s %5s %10s %12s %10s %12s %12s\n", "layer", "kind", "output", "depth", "total",
                  "weights", "MACs", "act.params", "evals(chan)", "evals(elem)");
    out += buf;
    int total = 0;
    int64_t w = 0, macs = 0, ap = 0, ec = 0, ee = 0, acts = 0;
    for (auto& r : rows) {
        total += r.depth;
        w += r.weights, macs += r.macs, ap += r.act_params, ec += r.act_evals_channel_packed, ee += r.act_evals_element_packed;
        acts += r.kind == "act";
        std::snprintf(buf, sizeof buf, "%-16s %-28s %-14s %5d %5d %10lld %12lld %10lld %12lld %12lld\n", r.name.c_str(), r.kind.c_str(),
                      to_string(r.output).c_str(), r.depth, total, static_cast<long long>(r.weights), static_cast<long long>(r.macs),
                      static_cast<long long>(r.act_params), static_cast<long long>(r.act_evals_channel_packed),
                      static_cast<long long>(r.act_evals_element_packed));
        out += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "total: multiplicative depth %d (coefficients, batch norm and pooling folded into linear layers), %lld weights, "
                  "%lld MACs per image, %lld activation layers\n",
                  total, static_cast<long long>(w), static_cast<long long>(macs), static_cast<long long>(acts));
    out += buf;
    std::snprintf(buf, sizeof buf,
                  "BEAA paper Table 3 (%s-wise): %lld polynomial parameters; activation evaluations per image: %lld with one "
                  "ciphertext per channel (channel packing), %lld with one ciphertext per element (element-wise packing, "
                  "shared by a batch of up to N/2 images)\n",
                  granularity_name(g), static_cast<long long>(ap), static_cast<long long>(ec), static_cast<long long>(ee));
    out += buf;
    return out;
}

}  // namespace hecnn::nn
