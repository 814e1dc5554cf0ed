#include "hecnn/he/simulator.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace hecnn::he {

namespace {
// Cost of one pass over an input or output ciphertext of a linear call, in MACs: fitted
// on the CryptoNets batch at N=2^14, 2 threads (conv step: 144 maps of 25×6, dense step:
// 864×48; docs/INFERENCE.md, "Measured").
constexpr double kLinearPassMacs = 8.0;
}  // namespace

Rates Rates::defaults() {
    // `hecnn bench ckks --log-n 14 --no-baselines` on the development machine (one thread,
    // data primes {60, 40×7}, special {49, 49}); see docs/INFERENCE.md.
    Rates r;
    r.log_n = 14;
    r.limbs = 8;
    r.threads = 1;
    // Re-measured after the ModGemm/Karatsuba and relinearisation work (was 0.0769,
    // 10.07, 2.55, 9.38, 0.0709 ms).
    r.mac_ms = 0.03376;
    r.square_relin_rescale_ms = 5.483;
    r.square_ms = 1.739;
    r.relin_ms = 4.417;
    r.rescale_ms = 0.0750;
    return r;
}

Rates Rates::from_bench_json(const std::string& path, int log_n) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open bench file " + path);
    const auto j = nlohmann::json::parse(f);
    // (The entries must outlive `best`: iterate over a named array, not a temporary.)
    const nlohmann::json entries = j.is_array() ? j : nlohmann::json::array({j});
    const nlohmann::json* best = nullptr;
    for (const auto& e : entries)
        if (!best || std::abs(e.at("log_n").get<int>() - log_n) < std::abs(best->at("log_n").get<int>() - log_n)) best = &e;
    if (!best) throw std::runtime_error("bench file " + path + " has no entry");
    Rates r;
    r.log_n = best->at("log_n").get<int>();
    r.limbs = static_cast<int>(best->at("data_primes").size());
    r.threads = best->value("threads", 1);
    const auto& ms = best->at("ms");
    r.mac_ms = ms.at("linear_per_mac").get<double>();
    r.square_relin_rescale_ms = ms.at("square_relin_rescale").get<double>();
    r.square_ms = ms.at("mul").get<double>();
    r.relin_ms = ms.at("relin").get<double>();
    r.rescale_ms = ms.at("rescale").get<double>();
    r.source = path;
    return r;
}

Prediction simulate(const Plan& plan, const ckks::Context& ctx, const Rates& rates, int input_level, int threads) {
    const int top = input_level < 0 ? ctx.max_level() : input_level;
    if (top < plan.depth) throw std::invalid_argument("simulate: inputs at level " + std::to_string(top) + " < plan depth " + std::to_string(plan.depth));
    const std::size_t N = ctx.n();
    // Work divides evenly over the threads (the runtime parallelises across ciphertexts).
    const double n_ratio = static_cast<double>(N) / std::ldexp(1.0, rates.log_n) * rates.threads / std::max(1, threads);
    const double ntt_ratio = n_ratio * ctx.log_n() / rates.log_n;
    auto lin = [&](int level, int polys) { return n_ratio * (level + 1.0) / rates.limbs * polys / 2.0; };
    auto ntt = [&](int level) { return ntt_ratio * (level + 1.0) / rates.limbs; };
    // The bench's linear_per_mac is a 27×64 map's time over 27·64 MACs: per-MAC core cost.
    const double mac_core_ms = rates.mac_ms / (1.0 + kLinearPassMacs * (27.0 + 64.0) / (27.0 * 64.0));
    auto bytes = [&](int level, int size) { return static_cast<std::size_t>(size) * (level + 1) * N * sizeof(std::uint64_t); };

    const int W = plan.wire_count();
    std::vector<int> level(W, -1), size(W, 2);
    std::vector<double> scale(W, 0);
    std::vector<char> live(W, 0);
    const auto last = plan.last_use();
    Prediction p;
    std::size_t live_count = 0, live_bytes = 0;
    for (int w = 0; w < plan.input_count; ++w) {
        level[w] = top, scale[w] = ctx.scale();
        p.input_bytes += bytes(top, 2);
        p.input_bytes_seeded += bytes(top, 1);
        if (last[w] >= 0) live[w] = 1, ++live_count, live_bytes += bytes(top, 2);
    }
    p.input_ciphertexts = static_cast<std::size_t>(plan.input_count);
    p.peak_bytes = live_bytes;
    auto q = [&](int l) { return static_cast<double>(ctx.data_moduli()[l].value()); };

    for (std::size_t si = 0; si < plan.steps.size(); ++si) {
        const Step& st = plan.steps[si];
        StepPrediction sp;
        sp.kind = st.kind == Step::Kind::Linear ? "linear" : "square";
        sp.name = st.name;
        std::size_t out_bytes = 0;
        bool first = true;
        auto produce = [&](int w, int l, int sz, double s) {
            level[w] = l, size[w] = sz, scale[w] = s;
            out_bytes += bytes(l, sz);
            if (first) sp.level = l, sp.size = sz, sp.min_scale = sp.max_scale = s, first = false;
            sp.level = std::min(sp.level, l), sp.size = std::max(sp.size, sz);
            sp.min_scale = std::min(sp.min_scale, s), sp.max_scale = std::max(sp.max_scale, s);
            ++sp.outputs;
        };
        if (st.kind == Step::Kind::Square) {
            for (std::size_t i = 0; i < st.inputs.size(); ++i) {
                const int x = st.inputs[i], l = level[x];
                produce(st.outputs[i], l - 1, st.lazy_relin ? 3 : 2, scale[x] * scale[x] / q(l));
                ++sp.squares, ++sp.rescales;
                if (st.lazy_relin) {
                    sp.seconds += (rates.square_ms * ntt(l) + rates.rescale_ms * lin(l, 3)) * 1e-3;
                } else {
                    ++sp.relins;
                    sp.seconds += rates.square_relin_rescale_ms * ntt(l) * 1e-3;
                }
            }
        } else {
            for (const auto& g : st.groups) {
                int l = top, sz = 2;
                for (int w : g.inputs) l = std::min(l, level[w]), sz = std::max(sz, size[w]);
                // One linear call per (level, size) class of inputs, each at its own level
                // and size (runtime.cpp: run_group); partial outputs dropped and added.
                std::vector<std::pair<int, int>> cls;
                std::vector<std::int64_t> cnt;
                for (int w : g.inputs) {
                    const std::pair<int, int> k{level[w], size[w]};
                    auto it = std::find(cls.begin(), cls.end(), k);
                    if (it == cls.end()) cls.push_back(k), cnt.push_back(1);
                    else ++cnt[static_cast<std::size_t>(it - cls.begin())];
                }
                const auto O = static_cast<std::int64_t>(g.outputs.size());
                for (std::size_t k = 0; k < cls.size(); ++k) {
                    const std::int64_t m = cnt[k] * O;
                    sp.macs += m;
                    // A linear call costs I·O MACs plus a pass over each input and output
                    // (kLinearPassMacs MACs each): small maps (a conv's 25×6 groups) cost
                    // more per MAC than the bench's 27×64 map, large ones (864×48) less.
                    const double work = static_cast<double>(m) + kLinearPassMacs * static_cast<double>(cnt[k] + O);
                    sp.seconds += mac_core_ms * work * lin(cls[k].first, cls[k].second) * 1e-3;
                    if (cls.size() > 1 && cls[k].first != l) sp.drops += O;
                }
                if (cls.size() > 1) sp.seconds += rates.mac_ms * static_cast<double>(O * static_cast<std::int64_t>(cls.size() - 1)) * lin(l, sz) * 1e-3;  // the adds
                for (int w : g.outputs) {
                    produce(w, l - 1, 2, ctx.scale());
                    ++sp.rescales;
                    sp.seconds += rates.rescale_ms * lin(l, sz) * 1e-3;
                    if (sz == 3) ++sp.relins, sp.seconds += rates.relin_ms * ntt(l) * 1e-3;  // before the rescale
                }
            }
        }
        sp.peak_bytes = live_bytes + out_bytes;
        live_bytes += out_bytes;
        live_count += sp.outputs;
        auto outs = [&](auto f) {
            if (st.kind == Step::Kind::Square)
                for (int w : st.outputs) f(w);
            else
                for (const auto& g : st.groups)
                    for (int w : g.outputs) f(w);
        };
        outs([&](int w) { live[w] = 1; });
        for (int w = 0; w < W; ++w)
            if (live[w] && last[w] == static_cast<int>(si)) live[w] = 0, --live_count, live_bytes -= bytes(level[w], size[w]);
        sp.live = live_count, sp.live_bytes = live_bytes;
        p.peak_bytes = std::max(p.peak_bytes, sp.peak_bytes);
        p.macs += sp.macs, p.squares += sp.squares, p.relins += sp.relins, p.rescales += sp.rescales, p.seconds += sp.seconds;
        p.steps.push_back(std::move(sp));
    }
    p.output_ciphertexts = plan.outputs.size();
    for (int w : plan.outputs) p.output_bytes += bytes(level[w], size[w]);
    return p;
}

}  // namespace hecnn::he
