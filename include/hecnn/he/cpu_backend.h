// The CPU backend: the ckks::Evaluator on host memory, independent work spread over
// OpenMP threads (backend.h).
#pragma once

#include "hecnn/ckks/evaluator.h"
#include "hecnn/he/backend.h"

namespace hecnn::he {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(ckks::ContextPtr ctx);

    const char* name() const override { return "cpu"; }
    const ckks::ContextPtr& context() const override { return ctx_; }
    ckks::Ciphertext allocate(int level, double scale, std::size_t size, bool ntt, bool zero) const override;
    ckks::Ciphertext dropped_copy(const ckks::Ciphertext& c, int level) const override;
    std::vector<ckks::Ciphertext> linear(std::span<const ckks::Ciphertext* const> in, const ckks::LinearMap& map) const override;
    ckks::Ciphertext square(const ckks::Ciphertext& x) const override;
    ckks::Ciphertext square_relin_rescale(const ckks::Ciphertext& x, const ckks::RelinKey& rk) const override;
    ckks::Ciphertext multiply(const ckks::Ciphertext& x, const ckks::Ciphertext& y) const override;
    void relinearize_inplace(ckks::Ciphertext& c, const ckks::RelinKey& rk) const override;
    void rescale_inplace(ckks::Ciphertext& c) const override;
    void drop_to_level_inplace(ckks::Ciphertext& c, int level) const override;
    void add_inplace(ckks::Ciphertext& a, const ckks::Ciphertext& b) const override;
    void to_coeff_inplace(ckks::Ciphertext& c) const override;
    std::vector<std::uint8_t> serialize(const ckks::Ciphertext& c) const override;
    ckks::Ciphertext deserialize(std::span<const std::uint8_t> bytes) const override;
    // Across threads when n is large enough to occupy them (the engine's calls inside then
    // run single-threaded), else in order (the engine parallelises inside each call).
    void parallel_for(std::size_t n, const std::function<void(std::size_t)>& body) const override;
    int set_threads(int threads) const override;  // omp_set_num_threads

private:
    ckks::ContextPtr ctx_;
    ckks::Evaluator eval_;
};

}  // namespace hecnn::he
