// Scalar negacyclic NTT: Cooley-Tukey forward, Gentleman-Sande inverse, Harvey's lazy
// butterflies (values in [0, 4q) / [0, 2q) between stages) with Shoup multiplication.
//
// This is the reference the vector kernels (ntt_hwy.cpp) are tested against, and their
// fallback for transforms shorter than two vectors.
#include "ntt_kernels.h"
#include "ntt_tables.h"

namespace hecnn::math::detail {

void ntt_forward_scalar(const NTTTables& tables, u64* a) {
    const u64 q = tables.modulus().value(), two_q = 2 * q;
    const std::size_t n = tables.n();
    const auto& t = tables.tables();
    std::size_t m = 1, gap = n >> 1;
    for (; m < n; m <<= 1, gap >>= 1) {
        for (std::size_t i = 0; i < m; ++i) {
            const u64 w = t.psi[m + i], ws = t.psi_shoup[m + i];
            u64* x = a + 2 * i * gap;
            u64* y = x + gap;
            for (std::size_t j = 0; j < gap; ++j) {
                u64 u = x[j];
                if (u >= two_q) u -= two_q;
                u64 v = mul_shoup_lazy(y[j], w, ws, q);
                x[j] = u + v;
                y[j] = u + two_q - v;
            }
        }
    }
    for (std::size_t i = 0; i < n; ++i) {
        u64 v = a[i];
        if (v >= two_q) v -= two_q;
        if (v >= q) v -= q;
        a[i] = v;
    }
}

void ntt_inverse_scalar(const NTTTables& tables, u64* a) {
    const u64 q = tables.modulus().value(), two_q = 2 * q;
    const std::size_t n = tables.n();
    const auto& t = tables.tables();
    std::size_t gap = 1, m = n >> 1;
    for (; m >= 1; m >>= 1, gap <<= 1) {
        for (std::size_t i = 0; i < m; ++i) {
            const u64 w = t.inv_psi[m + i], ws = t.inv_psi_shoup[m + i];
            u64* x = a + 2 * i * gap;
            u64* y = x + gap;
            for (std::size_t j = 0; j < gap; ++j) {
                u64 u = x[j], v = y[j];
                u64 s = u + v;
                if (s >= two_q) s -= two_q;
                x[j] = s;
                y[j] = mul_shoup_lazy(u + two_q - v, w, ws, q);
            }
        }
    }
    for (std::size_t i = 0; i < n; ++i) a[i] = mul_shoup(a[i], t.inv_n, t.inv_n_shoup, q);
}

}  // namespace hecnn::math::detail
