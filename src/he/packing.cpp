#include "hecnn/he/packing.h"

#include <stdexcept>
#include <string>

#include "hecnn/ckks/context.h"

namespace hecnn::he {
namespace {

void check(const ckks::Encoder& enc, std::span<const double> batch, std::size_t samples, std::size_t features) {
    if (batch.size() != samples * features) throw std::invalid_argument("encrypt_batch: batch is not samples × features");
    if (samples > enc.slots())
        throw std::invalid_argument("encrypt_batch: " + std::to_string(samples) + " samples exceed the " + std::to_string(enc.slots()) + " slots");
}

}  // namespace

std::vector<double> feature_slots(std::span<const double> batch, std::size_t samples, std::size_t features, std::size_t f) {
    std::vector<double> v(samples);
    for (std::size_t b = 0; b < samples; ++b) v[b] = batch[b * features + f];
    return v;
}

std::vector<ckks::Ciphertext> encrypt_batch(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor, std::span<const double> batch,
                                            std::size_t samples, std::size_t features, int level) {
    check(encoder, batch, samples, features);
    const auto& ctx = encoder.context();
    const int lvl = level < 0 ? ctx->max_level() : level;
    std::vector<ckks::Ciphertext> out(features);
#pragma omp parallel for schedule(dynamic)
    for (std::size_t f = 0; f < features; ++f) out[f] = encryptor.encrypt(encoder.encode(feature_slots(batch, samples, features, f), ctx->scale(), lvl));
    return out;
}

std::vector<ckks::SeededCiphertext> encrypt_batch_seeded(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor,
                                                         std::span<const double> batch, std::size_t samples, std::size_t features, int level) {
    check(encoder, batch, samples, features);
    const auto& ctx = encoder.context();
    const int lvl = level < 0 ? ctx->max_level() : level;
    std::vector<ckks::SeededCiphertext> out(features);
#pragma omp parallel for schedule(dynamic)
    for (std::size_t f = 0; f < features; ++f)
        out[f] = encryptor.encrypt_seeded(encoder.encode(feature_slots(batch, samples, features, f), ctx->scale(), lvl));
    return out;
}

std::vector<double> decrypt_batch(const ckks::Encoder& encoder, const ckks::Decryptor& decryptor, std::span<const ckks::Ciphertext> outputs,
                                  std::size_t samples) {
    if (samples > encoder.slots()) throw std::invalid_argument("decrypt_batch: more samples than slots");
    const std::size_t K = outputs.size();
    std::vector<double> out(samples * K);
#pragma omp parallel for schedule(dynamic)
    for (std::size_t k = 0; k < K; ++k) {
        const auto v = encoder.decode(decryptor.decrypt(outputs[k]));
        for (std::size_t b = 0; b < samples; ++b) out[b * K + k] = v[b];
    }
    return out;
}

}  // namespace hecnn::he
