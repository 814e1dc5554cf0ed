// The compiler's symbolic values (compiler.cpp): every element of a model value is an
// affine form Σ coef·wire + const over the ciphertext wires made so far, with its degree.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace hecnn::he::detail {

struct Expr {
    std::vector<std::pair<int, double>> t;  // (wire, coefficient), sorted by wire, no zero coefficient
    double c = 0;
    // Degree as a polynomial of the outputs of the last layer that mixes elements (Conv,
    // Gemm, AveragePool, GlobalAveragePool); 0 for a constant. Element-wise affine
    // operators keep it, a product adds the operands' degrees. Informational only: a product
    // of any degree compiles (each product one level).
    int deg = 0;

    bool constant() const { return t.empty(); }
    bool single() const { return t.size() == 1; }  // k·w + d: no Linear step needed to square it
    bool plain() const { return t.size() == 1 && t[0].second == 1.0 && c == 0; }  // the wire itself
};
using Forms = std::vector<Expr>;

// Sparse accumulator of forms: Σ k·form, then take() the sum (terms that cancel vanish).
class Acc {
public:
    void add(const Expr& e, double k) {
        if (k == 0) return;
        c_ += k * e.c;
        if (!e.t.empty()) deg_ = std::max(deg_, e.deg);
        for (auto [w, v] : e.t) add_term(w, k * v);
    }
    void add_term(int w, double v) {
        if (static_cast<std::size_t>(w) >= val_.size()) val_.resize(static_cast<std::size_t>(w) + 1, 0.0), used_.resize(val_.size(), 0);
        if (!used_[w]) used_[w] = 1, touched_.push_back(w);
        val_[w] += v;
    }
    void add_const(double k) { c_ += k; }
    // deg ≥ 0 overrides the degree of a non-constant result (a layer that mixes elements: 1).
    Expr take(int deg = -1) {
        Expr e;
        e.c = c_;
        std::sort(touched_.begin(), touched_.end());
        for (int w : touched_) {
            if (val_[w] != 0) e.t.emplace_back(w, val_[w]);
            val_[w] = 0, used_[w] = 0;
        }
        e.deg = e.t.empty() ? 0 : deg >= 0 ? deg : deg_;
        touched_.clear();
        c_ = 0;
        deg_ = 0;
        return e;
    }

private:
    std::vector<double> val_;
    std::vector<char> used_;
    std::vector<int> touched_;
    double c_ = 0;
    int deg_ = 0;
};

}  // namespace hecnn::he::detail
