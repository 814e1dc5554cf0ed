// The CSPRNG's uniform residues are a fixed function of the seed: seeded ciphertexts are
// expanded from it by the client that encrypts and the server that computes, so the words
// it consumes must be exactly next_u64()'s, in order, by rejection. Checked against that
// definition written out here, from every buffer position (aligned and not, across a refill).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "hecnn/math/csprng.h"
#include "hecnn/math/modulus.h"

using namespace hecnn;
using math::u64;

namespace {

// The definition: one next_u64() per draw, masked to q's bits, rejected while ≥ q.
std::vector<u64> by_definition(math::Prng& p, const math::Modulus& q, std::size_t n) {
    const u64 mask = q.bits() == 64 ? ~u64{0} : (u64{1} << q.bits()) - 1;
    std::vector<u64> out(n);
    for (auto& x : out) {
        u64 v;
        do v = p.next_u64() & mask;
        while (v >= q.value());
        x = v;
    }
    return out;
}

}  // namespace

TEST(Prng, UniformModDrawsTheSameWordsAsNextU64) {
    math::Seed seed{};
    for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(3 * i + 1);
    // A 40-bit prime well below 2^40 (many rejections), one just below (few), a 60-bit one.
    for (const u64 qv : {u64{618475290625} /* odd, 40 bits: about 44 % rejected */, u64{1099511480321}, u64{1152921504606830593}}) {
        const math::Modulus q(qv);
        // Offsets into the stream before the draws: 0, a few odd bytes (unaligned words),
        // and close to the 4 KiB buffer's end (a word across a refill).
        for (const std::size_t skip : {0u, 1u, 3u, 7u, 8u, 4090u, 4093u, 4100u}) {
            math::Prng a(seed), b(seed);
            std::vector<std::uint8_t> pad(skip);
            a.fill(pad), b.fill(pad);
            std::vector<u64> got(5000);
            a.uniform_mod(q, got);
            EXPECT_EQ(got, by_definition(b, q, got.size())) << "q " << qv << ", skip " << skip;
            EXPECT_EQ(a.next_u64(), b.next_u64()) << "the streams continue in step (q " << qv << ", skip " << skip << ")";
            for (u64 x : got) ASSERT_LT(x, qv);
        }
    }
}
