#include "hecnn/math/primes.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace hecnn::math {
namespace {

u64 mulmod(u64 a, u64 b, u64 m) { return static_cast<u64>(static_cast<u128>(a) * b % m); }

u64 powmod(u64 b, u64 e, u64 m) {
    u64 r = 1 % m;
    for (b %= m; e; e >>= 1, b = mulmod(b, b, m))
        if (e & 1) r = mulmod(r, b, m);
    return r;
}

}  // namespace

bool is_prime(u64 n) {
    if (n < 2) return false;
    for (u64 p : {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull}) {
        if (n % p == 0) return n == p;
    }
    u64 d = n - 1;
    int s = 0;
    while ((d & 1) == 0) d >>= 1, ++s;
    // These 12 bases are a proven deterministic set for n < 3.3e24.
    for (u64 a : {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull}) {
        u64 x = powmod(a, d, n);
        if (x == 1 || x == n - 1) continue;
        bool composite = true;
        for (int r = 1; r < s; ++r) {
            x = mulmod(x, x, n);
            if (x == n - 1) { composite = false; break; }
        }
        if (composite) return false;
    }
    return true;
}

std::vector<u64> generate_ntt_primes(int bits, int log_n, int count, const std::vector<u64>& exclude) {
    if (bits < log_n + 2 || bits > kMaxModulusBits)
        throw std::invalid_argument("generate_ntt_primes: " + std::to_string(bits) + "-bit primes are out of range [" +
                                    std::to_string(log_n + 2) + ", " + std::to_string(kMaxModulusBits) + "] for log N = " +
                                    std::to_string(log_n));
    if (count < 0) throw std::invalid_argument("generate_ntt_primes: negative count");
    const u64 two_n = u64{1} << (log_n + 1);
    const u64 lower = u64{1} << (bits - 1);
    std::vector<u64> out;
    // Largest candidate below 2^bits that is ≡ 1 mod 2N.
    u64 cand = ((u64{1} << bits) - 1) / two_n * two_n + 1;
    if (cand >= (u64{1} << bits)) cand -= two_n;
    for (; static_cast<int>(out.size()) < count && cand > lower; cand -= two_n) {
        if (std::find(exclude.begin(), exclude.end(), cand) != exclude.end()) continue;
        if (is_prime(cand)) out.push_back(cand);
    }
    if (static_cast<int>(out.size()) < count)
        throw std::invalid_argument("generate_ntt_primes: only " + std::to_string(out.size()) + " " +
                                    std::to_string(bits) + "-bit primes ≡ 1 mod 2N exist for log N = " +
                                    std::to_string(log_n) + ", " + std::to_string(count) + " requested");
    return out;
}

u64 minimal_primitive_root(u64 two_n, const Modulus& q) {
    const u64 qv = q.value();
    if ((qv - 1) % two_n != 0) throw std::invalid_argument("minimal_primitive_root: q is not 1 mod 2N");
    // g^((q-1)/2N) is a 2N-th root; it is primitive iff its N-th power is -1 (2N a power of two).
    u64 best = 0;
    for (u64 g = 2; g < qv; ++g) {
        u64 w = q.pow(g, (qv - 1) / two_n);
        if (q.pow(w, two_n / 2) == qv - 1) {
            // Walk all primitive roots w^k (k odd) to find the smallest one.
            best = w;
            u64 w2 = q.mul(w, w), cur = w;
            for (u64 k = 1; k < two_n; k += 2) {
                if (cur < best) best = cur;
                cur = q.mul(cur, w2);
            }
            break;
        }
    }
    if (best == 0) throw std::runtime_error("minimal_primitive_root: no root found");
    return best;
}

}  // namespace hecnn::math
