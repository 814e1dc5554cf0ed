#include "hecnn/he/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include "hecnn/ckks/serialize.h"

namespace hecnn::he {

CpuBackend::CpuBackend(ckks::ContextPtr ctx) : ctx_(std::move(ctx)), eval_(ctx_) {}

ckks::Ciphertext CpuBackend::allocate(int level, double scale, std::size_t size, bool ntt, bool zero) const {
    ckks::Ciphertext c(ctx_, level, scale, size, ntt);
    if (zero) std::fill(c.words().begin(), c.words().end(), 0);
    return c;
}

ckks::Ciphertext CpuBackend::dropped_copy(const ckks::Ciphertext& c, int level) const {
    ckks::Ciphertext out(c.context(), level, c.scale(), c.size(), c.is_ntt());
    const std::size_t limb_bytes = c.n() * sizeof(std::uint64_t) * (static_cast<std::size_t>(level) + 1);
    for (std::size_t k = 0; k < c.size(); ++k) std::memcpy(out.limb(k, 0), c.limb(k, 0), limb_bytes);
    return out;
}

std::vector<ckks::Ciphertext> CpuBackend::linear(std::span<const ckks::Ciphertext* const> in, const ckks::LinearMap& map) const {
    return eval_.linear(in, map);
}
ckks::Ciphertext CpuBackend::square(const ckks::Ciphertext& x) const { return eval_.square(x); }
ckks::Ciphertext CpuBackend::square_relin_rescale(const ckks::Ciphertext& x, const ckks::RelinKey& rk) const {
    return eval_.square_relin_rescale(x, rk);
}
ckks::Ciphertext CpuBackend::multiply(const ckks::Ciphertext& x, const ckks::Ciphertext& y) const { return eval_.multiply(x, y); }
void CpuBackend::relinearize_inplace(ckks::Ciphertext& c, const ckks::RelinKey& rk) const { eval_.relinearize_inplace(c, rk); }
void CpuBackend::rescale_inplace(ckks::Ciphertext& c) const { eval_.rescale_inplace(c); }
void CpuBackend::drop_to_level_inplace(ckks::Ciphertext& c, int level) const { eval_.drop_to_level_inplace(c, level); }
void CpuBackend::add_inplace(ckks::Ciphertext& a, const ckks::Ciphertext& b) const { eval_.add_inplace(a, b); }
void CpuBackend::to_coeff_inplace(ckks::Ciphertext& c) const { eval_.to_coeff_inplace(c); }
std::vector<std::uint8_t> CpuBackend::serialize(const ckks::Ciphertext& c) const { return ckks::serialize(c); }
ckks::Ciphertext CpuBackend::deserialize(std::span<const std::uint8_t> bytes) const { return ckks::load_ciphertext(ctx_, bytes); }

void CpuBackend::parallel_for(std::size_t n, const std::function<void(std::size_t)>& body) const {
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

int CpuBackend::set_threads(int threads) const {
    const int before = omp_get_max_threads();
    if (threads > 0) omp_set_num_threads(threads);
    return before;
}

}  // namespace hecnn::he
