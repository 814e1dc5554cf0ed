#include "hecnn/he/channel_packing.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace hecnn::he {
namespace {

void check_image(const ChannelPlan& plan, const ckks::Encoder& enc, std::span<const double> image) {
    if (enc.slots() != plan.slots)
        throw std::invalid_argument("encrypt_image: the plan is laid out for " + std::to_string(plan.slots) + " slots, the parameters have " +
                                    std::to_string(enc.slots()));
    if (image.size() != static_cast<std::size_t>(plan.inputs))
        throw std::invalid_argument("encrypt_image: " + std::to_string(image.size()) + " values, the plan's input has " +
                                    std::to_string(plan.inputs));
}

}  // namespace

std::vector<double> channel_input_slots(const ChannelPlan& plan, std::span<const double> image, int ct) {
    if (ct < 0 || ct >= plan.input_cts) throw std::invalid_argument("channel_input_slots: no input ciphertext " + std::to_string(ct));
    std::vector<double> v(plan.slots, 0.0);
    const std::size_t first = static_cast<std::size_t>(ct) * plan.slots;
    for (std::size_t s = 0; s < plan.slots && first + s < image.size(); ++s) v[s] = image[first + s];
    return v;
}

// One encryption per input ciphertext, in either form (encrypt or encrypt_seeded).
template <class Encrypt>
auto encrypt_each(const ckks::Encoder& encoder, const ChannelPlan& plan, std::span<const double> image, Encrypt&& encrypt) {
    check_image(plan, encoder, image);
    const auto& ctx = encoder.context();
    std::vector<decltype(encrypt(ckks::Plaintext()))> out;
    for (int c = 0; c < plan.input_cts; ++c) out.push_back(encrypt(encoder.encode(channel_input_slots(plan, image, c), ctx->scale(), ctx->max_level())));
    return out;
}

std::vector<ckks::Ciphertext> encrypt_image(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor, const ChannelPlan& plan,
                                            std::span<const double> image) {
    return encrypt_each(encoder, plan, image, [&](const ckks::Plaintext& p) { return encryptor.encrypt(p); });
}

std::vector<ckks::SeededCiphertext> encrypt_image_seeded(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor,
                                                         const ChannelPlan& plan, std::span<const double> image) {
    return encrypt_each(encoder, plan, image, [&](const ckks::Plaintext& p) { return encryptor.encrypt_seeded(p); });
}

std::vector<double> decrypt_image(const ckks::Encoder& encoder, const ckks::Decryptor& decryptor, const ChannelPlan& plan,
                                  std::span<const ckks::Ciphertext> outputs) {
    if (outputs.size() != plan.output_cts.size())
        throw std::invalid_argument("decrypt_image: " + std::to_string(outputs.size()) + " ciphertexts, the plan has " +
                                    std::to_string(plan.output_cts.size()) + " output ciphertexts");
    std::vector<std::vector<double>> slots(outputs.size());
    for (std::size_t i = 0; i < outputs.size(); ++i) slots[i] = encoder.decode(decryptor.decrypt(outputs[i]));
    std::vector<double> y;
    for (const SlotRef& r : plan.outputs) {
        std::size_t i = 0;
        while (plan.output_cts[i] != r.ct) ++i;  // output_cts holds every output's ct
        y.push_back(slots[i][static_cast<std::size_t>(r.slot)]);
    }
    return y;
}

int rotation_digit_size(const ckks::ParametersLiteral& literal) {
    const auto& q = literal.data_prime_bits;
    const int p = std::accumulate(literal.special_prime_bits.begin(), literal.special_prime_bits.end(), 0);
    if (q.empty() || literal.special_prime_bits.empty())
        throw std::invalid_argument("rotation_digit_size: the literal must give the data and special primes by bit size");
    for (int alpha = static_cast<int>(q.size()); alpha >= 1; --alpha) {
        bool ok = true;
        for (std::size_t d = 0; ok && d < q.size(); d += static_cast<std::size_t>(alpha)) {
            int bits = 0;
            for (std::size_t i = d; i < std::min(q.size(), d + static_cast<std::size_t>(alpha)); ++i) bits += q[i];
            ok = bits <= p;
        }
        if (ok) return alpha;
    }
    throw std::invalid_argument("rotation_digit_size: a data prime has more bits than the special modulus (" + std::to_string(p) + " bits)");
}

}  // namespace hecnn::he
