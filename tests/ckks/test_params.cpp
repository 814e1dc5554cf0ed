// Parameter validation, the 128-bit security check, digit selection and the id.
#include <gtest/gtest.h>

#include "hecnn/ckks/context.h"
#include "hecnn/math/primes.h"

using namespace hecnn;
using ckks::Context;
using ckks::ParametersLiteral;

namespace {
ParametersLiteral p1(int specials) {
    ParametersLiteral lit;
    lit.log_n = 15;
    lit.data_prime_bits = {60};
    lit.data_prime_bits.insert(lit.data_prime_bits.end(), 16, 40);
    lit.special_prime_bits.assign(specials, 60);
    return lit;
}

std::string error_of(const ParametersLiteral& lit) {
    try {
        Context::create(lit);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST(Parameters, HeStandardTable) {
    EXPECT_EQ(ckks::max_log_qp_128(13), 218);
    EXPECT_EQ(ckks::max_log_qp_128(14), 438);
    EXPECT_EQ(ckks::max_log_qp_128(15), 881);
    EXPECT_EQ(ckks::max_log_qp_128(16), 1747);
    EXPECT_EQ(ckks::max_log_qp_128(9), 0);
}

TEST(Parameters, SealP1ChainWithTwoSpecialPrimesIs128BitSecure) {
    auto ctx = Context::create(p1(2));
    EXPECT_TRUE(ctx->secure_128());
    EXPECT_EQ(ctx->data_count(), 17u);
    EXPECT_EQ(ctx->special_count(), 2u);
    EXPECT_LE(ctx->log_qp(), 881);
    // Digits of at most P·2^20: {60,40,40} = 140 bits <= 120 + 20.
    EXPECT_EQ(ctx->digit_size(), 3);
    EXPECT_EQ(ctx->dnum(), 6);
    for (std::size_t i = 0; i < ctx->data_count() + ctx->special_count(); ++i) {
        const auto q = ctx->modulus(i).value();
        EXPECT_TRUE(math::is_prime(q));
        EXPECT_EQ(q % (2u << 15), 1u);
    }
}

TEST(Parameters, Below128BitsIsRefusedUnlessTheTestOnlyOptionIsNamed) {
    auto lit = p1(4);  // 760 + 240 = 1000 bits > 881
    const auto msg = error_of(lit);
    EXPECT_NE(msg.find("exceeds the 128-bit bound of 881"), std::string::npos) << msg;
    lit.insecure_test_only_allow_below_128_bits = true;
    auto ctx = Context::create(lit);
    EXPECT_FALSE(ctx->secure_128());
    EXPECT_NE(ctx->describe().find("BELOW 128-BIT"), std::string::npos);

    ParametersLiteral small;
    small.log_n = 8;
    small.data_prime_bits = {30};
    small.special_prime_bits = {30};
    EXPECT_NE(error_of(small).find("outside the 128-bit security table"), std::string::npos);
}

TEST(Parameters, InvalidFieldsAreNamed) {
    ParametersLiteral lit = p1(1);
    lit.log_n = 0;
    EXPECT_NE(error_of(lit).find("log_n"), std::string::npos);
    lit = p1(1);
    lit.special_prime_bits.clear();
    EXPECT_NE(error_of(lit).find("special prime"), std::string::npos);
    lit = p1(1);
    lit.data_prime_bits = {70};
    EXPECT_NE(error_of(lit).find("data prime bits"), std::string::npos);
    lit = p1(1);
    lit.data_prime_bits.clear();
    lit.data_primes = {1000003};  // prime but not 1 mod 2N
    EXPECT_NE(error_of(lit).find("not 1 mod 2N"), std::string::npos);
    lit.data_primes = {(std::uint64_t{1} << 40) + 1};  // 1 mod 2N but 257 × 4278255361
    EXPECT_NE(error_of(lit).find("is not prime"), std::string::npos);
    lit = p1(1);
    auto primes = math::generate_ntt_primes(40, 15, 1);
    lit.data_prime_bits.clear();
    lit.data_primes = {primes[0], primes[0]};
    EXPECT_NE(error_of(lit).find("repeated"), std::string::npos);
    lit = p1(1);
    lit.dnum = 99;
    EXPECT_NE(error_of(lit).find("dnum"), std::string::npos);
}

TEST(Parameters, ExplicitDnumSetsTheDigitSize) {
    auto lit = p1(2);
    lit.dnum = 17;
    auto ctx = Context::create(lit);
    EXPECT_EQ(ctx->digit_size(), 1);
    EXPECT_EQ(ctx->dnum(), 17);
    lit.dnum = 4;
    ctx = Context::create(lit);
    EXPECT_EQ(ctx->digit_size(), 5);
    EXPECT_EQ(ctx->dnum(), 4);
    EXPECT_EQ(ctx->digits_at_level(16), 4);
    EXPECT_EQ(ctx->digits_at_level(4), 1);
    EXPECT_EQ(ctx->digits_at_level(5), 2);
}

TEST(Parameters, IdIsDeterministicAndBindsEveryField) {
    auto a = Context::create(p1(2)), b = Context::create(p1(2));
    EXPECT_EQ(a->id(), b->id());
    EXPECT_EQ(a->id_hex().size(), 16u);
    auto lit = p1(2);
    lit.log_scale = 39;
    EXPECT_NE(Context::create(lit)->id(), a->id());
    lit = p1(2);
    lit.dnum = 17;
    EXPECT_NE(Context::create(lit)->id(), a->id());
    lit = p1(1);
    EXPECT_NE(Context::create(lit)->id(), a->id());
    // The canonical literal (explicit primes) recreates the same parameters.
    EXPECT_EQ(Context::create(a->literal())->id(), a->id());
}

TEST(Parameters, CanonicalLiteralKeepsAnAutomaticDigitSize) {
    // 7 × 40-bit data primes, 3 × 60-bit special: automatic digits of 5 primes (dnum 2),
    // while dnum = 2 alone would give digits of 4.
    ParametersLiteral lit;
    lit.log_n = 12;
    lit.data_prime_bits.assign(7, 40);
    lit.special_prime_bits = {60, 60, 60};
    lit.insecure_test_only_allow_below_128_bits = true;
    auto a = Context::create(lit);
    ASSERT_EQ(a->digit_size(), 5);
    ASSERT_EQ(a->dnum(), 2);
    auto b = Context::create(a->literal());
    EXPECT_EQ(b->digit_size(), 5);
    EXPECT_EQ(b->id(), a->id());
    lit.dnum = 2;
    auto c = Context::create(lit);
    EXPECT_EQ(c->digit_size(), 4);
    EXPECT_NE(c->id(), a->id()) << "different digit layouts must not share an id";
    lit.digit_size = 3;
    EXPECT_NE(error_of(lit).find("contradicts"), std::string::npos);
}
