// Uses the installed headers and libraries only: encrypts, squares and decrypts at 128-bit
// security, and checks the result against the plaintext square. Exit status 0 on success.
#include <cmath>
#include <cstdio>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/nn/arch.h"

int main() {
    using namespace hecnn::ckks;
    ParametersLiteral lit;
    lit.log_n = 13;
    lit.data_prime_bits = {60, 40};
    lit.special_prime_bits = {60};
    auto ctx = Context::create(lit);
    KeyGenerator keygen(ctx);
    auto rk = keygen.create_relin_key();
    Encoder encoder(ctx);
    Encryptor encryptor(ctx, keygen.secret_key());
    Evaluator eval(ctx);
    std::vector<double> values(4096);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.01 * double(i));
    auto sq = eval.square_relin_rescale(encryptor.encrypt(encoder.encode(values)), rk);
    auto out = encoder.decode(Decryptor(ctx, keygen.secret_key()).decrypt(sq));
    double worst = 0;
    for (std::size_t i = 0; i < values.size(); ++i) worst = std::fmax(worst, std::fabs(out[i] - values[i] * values[i]));
    // The nn layer from the same package: an architecture the library describes.
    auto arch = hecnn::nn::make_arch("cnn", {1, 28, 28}, 10);
    std::printf("consumer: max |x²-dec(enc(x)²)| = %.3g over %zu slots; arch '%s' has %zu layers\n", worst, values.size(),
                arch.name.c_str(), arch.layers.size());
    return worst < 1e-4 && !arch.layers.empty() ? 0 : 1;
}
