// Automatic choice of CKKS parameters for a compiled plan (compiler.h): the depth gives
// the rescaling primes, the calibrated value ranges the first prime, the batch and the
// 128-bit bound the ring degree and the special primes (docs/INFERENCE.md).
#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "hecnn/he/compiler.h"

namespace hecnn::he {
namespace {

// "depth D (deepest step k 'name')": which part of the model the levels go to.
std::string depth_note(const Plan& plan) {
    int deepest = -1;
    for (int w = 0; w < plan.wire_count(); ++w)
        if (plan.wire_depth[w] == plan.depth && plan.wire_step[w] >= 0) deepest = plan.wire_step[w];
    std::string s = "the plan's depth is " + std::to_string(plan.depth);
    if (deepest >= 0) s += " (deepest step " + std::to_string(deepest) + ", '" + plan.steps[deepest].name + "')";
    return s + "; fewer activations or products in a row need fewer levels";
}

}  // namespace

ParamChoice choose_parameters(const Plan& plan, std::span<const double> wire_max_abs, const ParamOptions& opt) {
    ParamChoice ch;
    std::ostringstream why;
    const int L = plan.depth;
    const double sb = opt.scale_bits;
    if (sb < 20 || sb > 60) throw std::invalid_argument("scale bits must be in [20, 60]");
    auto maxabs = [&](int w) { return wire_max_abs.empty() ? 1.0 : std::max(wire_max_abs[w], 1e-300); };
    // Every wire at scale Δ must fit Q_l/2 at its level l; the binding level is 0 for the
    // deepest wires. Conservatively: the largest |value| of any wire must fit q_0/Δ.
    double vmax = 1e-300;
    for (int w = 0; w < plan.wire_count(); ++w) vmax = std::max(vmax, maxabs(w));
    const double vbits = std::max(0.0, std::log2(vmax)) + opt.margin_bits;
    ch.value_bits = vbits;
    double q0 = std::ceil(sb + vbits + 1);
    // A square's input x at level l: x²·Δ² < Q_l/2 before the rescale; a product's x·y·Δ²,
    // both read at the deeper operand's level.
    for (const Step& st : plan.steps) {
        if (st.kind != Step::Kind::Square) continue;
        for (std::size_t i = 0; i < st.outputs.size(); ++i) {
            const auto op = st.operands(i);
            const int l = plan.operand_level(st, i, L);
            double need = 2 * opt.margin_bits + 2 * sb + 1 - l * sb;
            for (int w : {op.front(), op.back()}) need += std::max(0.0, std::log2(maxabs(w)));
            q0 = std::max(q0, std::ceil(need));
        }
    }
    q0 = std::max(q0, std::ceil(sb + opt.precision_bits));
    if (q0 > 61) throw std::runtime_error("value range needs a first prime of " + std::to_string(static_cast<int>(q0)) + " bits (> 61): lower the scale (--scale-bits)");
    ch.q0_bits = static_cast<int>(q0);
    why << "depth " << L << " → " << L << " rescaling primes of " << sb << " bits; max |value| 2^" << std::log2(vmax)
        << " + " << opt.margin_bits << " bits margin → q_0 " << ch.q0_bits << " bits";
    const double data_bits = q0 + L * std::round(sb);
    int log_n = opt.log_n;
    int min_log = opt.min_log_n;
    if (opt.batch > 0) while ((std::size_t{1} << (min_log - 1)) < opt.batch) ++min_log;
    if (log_n == 0) log_n = min_log;
    if (opt.log_n != 0 && (std::size_t{1} << (opt.log_n - 1)) < opt.batch)
        throw std::invalid_argument("N = 2^" + std::to_string(opt.log_n) + " has fewer slots than the batch");
    std::vector<int> special;
    for (;; ++log_n) {
        if (log_n > 16) throw std::runtime_error("no ring degree up to 2^16 holds " + std::to_string(static_cast<int>(data_bits)) +
                                                 " bits of data primes at 128-bit security: " + depth_note(plan));
        const int bound = ckks::max_log_qp_128(log_n);
        const double R = bound - data_bits;
        special.clear();
        if (R >= 120) special = {60, 60};
        else if (R >= 90) special = {static_cast<int>(R / 2), static_cast<int>(R / 2)};
        else if (R >= std::max(40.0, q0 - 20)) special = {static_cast<int>(std::min(60.0, R))};
        if (!special.empty()) {
            ch.max_log_qp = bound;
            break;
        }
        if (opt.insecure_test_only_allow_below_128_bits && (opt.log_n != 0 || log_n >= min_log)) {
            special = {60, 60};
            ch.max_log_qp = 0;
            why << "; INSECURE test parameters (below 128 bits)";
            break;
        }
        if (opt.log_n != 0) throw std::runtime_error("N = 2^" + std::to_string(opt.log_n) + " cannot hold " + std::to_string(static_cast<int>(data_bits)) +
                                                           " bits at 128-bit security: " + depth_note(plan));
    }
    ch.literal.log_n = log_n;
    ch.literal.data_prime_bits.push_back(ch.q0_bits);
    for (int i = 0; i < L; ++i) ch.literal.data_prime_bits.push_back(static_cast<int>(std::round(sb)));
    ch.literal.special_prime_bits = special;
    ch.literal.log_scale = sb;
    ch.literal.insecure_test_only_allow_below_128_bits = opt.insecure_test_only_allow_below_128_bits;
    ch.log_qp = data_bits;
    for (int b : special) ch.log_qp += b;
    why << "; N = 2^" << log_n << " (" << (std::size_t{1} << (log_n - 1)) << " slots";
    if (opt.batch) why << " ≥ batch " << opt.batch;
    why << "); special primes";
    for (int b : special) why << " " << b;
    why << " → log2 QP ≤ " << ch.log_qp;
    if (ch.max_log_qp) why << " ≤ " << ch.max_log_qp << " (128-bit bound)";
    ch.explain = why.str();
    return ch;
}

std::vector<StepRange> value_headroom(const Plan& plan, std::span<const double> wire_max_abs, const ParamChoice& choice) {
    if (wire_max_abs.size() != static_cast<std::size_t>(plan.wire_count()))
        throw std::invalid_argument("value_headroom: one calibrated range per wire expected");
    const double sb = choice.literal.log_scale, q0 = choice.q0_bits;
    std::vector<StepRange> out(plan.steps.size() + 1);
    for (std::size_t i = 0; i < out.size(); ++i) out[i].step = static_cast<int>(i) - 1, out[i].headroom_bits = 1e300;
    auto bits = [](double v) { return std::log2(std::max(v, 1e-300)); };
    for (int w = 0; w < plan.wire_count(); ++w) {
        StepRange& r = out[static_cast<std::size_t>(plan.wire_step[w] + 1)];
        r.max_abs = std::max(r.max_abs, wire_max_abs[w]);
        r.headroom_bits = std::min(r.headroom_bits, q0 - 1 - sb - bits(wire_max_abs[w]));
    }
    for (std::size_t s = 0; s < plan.steps.size(); ++s) {
        if (plan.steps[s].kind != Step::Kind::Square) continue;
        const Step& st = plan.steps[s];
        for (std::size_t i = 0; i < st.outputs.size(); ++i) {
            // The operands' level, as choose_parameters; the headroom shared by x and y.
            const auto op = st.operands(i);
            const int l = plan.operand_level(st, i, plan.depth);
            const double room = q0 + l * sb - 1 - 2 * sb - bits(wire_max_abs[op.front()]) - bits(wire_max_abs[op.back()]);
            out[s + 1].headroom_bits = std::min(out[s + 1].headroom_bits, room / 2);
        }
    }
    return out;
}

}  // namespace hecnn::he
