#include "hecnn/math/ntt.h"

#include <stdexcept>

#include "hecnn/math/primes.h"
#include "ntt_tables.h"

namespace hecnn::math {
namespace {

u64 reverse_bits(u64 x, int bits) {
    u64 r = 0;
    for (int i = 0; i < bits; ++i, x >>= 1) r = (r << 1) | (x & 1);
    return r;
}

}  // namespace

NTTTables::NTTTables(int log_n, const Modulus& q) : log_n_(log_n), q_(q) {
    if (log_n < 1 || log_n > 17) throw std::invalid_argument("NTTTables: log N must be in [1, 17]");
    const u64 n = u64{1} << log_n;
    root_ = minimal_primitive_root(2 * n, q);
    tables_ = std::make_unique<Tables>();
    auto& t = *tables_;
    const u64 qv = q.value();
    // Powers of psi in bit-reversed order: psi_rev[i] = psi^bitrev(i).
    t.psi.resize(n);
    t.psi_shoup.resize(n);
    t.inv_psi.resize(n);
    t.inv_psi_shoup.resize(n);
    const u64 inv_root = q.inv(root_);
    u64 p = 1, ip = 1;
    for (u64 i = 0; i < n; ++i) {
        u64 r = reverse_bits(i, log_n);
        t.psi[r] = p;
        t.inv_psi[r] = ip;
        p = q.mul(p, root_);
        ip = q.mul(ip, inv_root);
    }
    for (u64 i = 0; i < n; ++i) {
        t.psi_shoup[i] = shoup_precompute(t.psi[i], qv);
        t.inv_psi_shoup[i] = shoup_precompute(t.inv_psi[i], qv);
    }
    t.inv_n = q.inv(n);
    t.inv_n_shoup = shoup_precompute(t.inv_n, qv);
    t.inv_psi1_n = q.mul(t.inv_psi[1], t.inv_n);
    t.inv_psi1_n_shoup = shoup_precompute(t.inv_psi1_n, qv);
}

NTTTables::~NTTTables() = default;

std::vector<u64> negacyclic_multiply_schoolbook(const std::vector<u64>& a, const std::vector<u64>& b, const Modulus& q) {
    if (a.size() != b.size()) throw std::invalid_argument("negacyclic_multiply_schoolbook: size mismatch");
    const std::size_t n = a.size();
    std::vector<u64> c(n, 0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            u64 prod = q.mul(a[i], b[j]);
            std::size_t k = i + j;
            if (k < n) c[k] = q.add(c[k], prod);
            else c[k - n] = q.sub(c[k - n], prod);
        }
    return c;
}

}  // namespace hecnn::math
