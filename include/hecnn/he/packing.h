// Client side of element-wise packing: a batch of B ≤ N/2 samples of F features becomes F
// ciphertexts (ciphertext f, slot b = feature f of sample b); the server's output
// ciphertexts become B × K results. Only the client holds the secret key.
#pragma once

#include <span>
#include <vector>

#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"

namespace hecnn::he {

// The slot values of ciphertext f: feature f of every sample (slot b = sample b), from a
// batch of samples × features, sample-major. The one place the element-wise layout is
// written down; the functions below and run_pipeline pack through it.
std::vector<double> feature_slots(std::span<const double> batch, std::size_t samples, std::size_t features, std::size_t f);

// batch: samples × features, sample-major (each sample in the model's input layout).
// Ciphertexts at `level` (−1: the top level) and the context's scale; parallel over
// features.
std::vector<ckks::Ciphertext> encrypt_batch(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor,
                                            std::span<const double> batch, std::size_t samples, std::size_t features,
                                            int level = -1);
// Seeded (secret-key) form for upload: half the bytes.
std::vector<ckks::SeededCiphertext> encrypt_batch_seeded(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor,
                                                         std::span<const double> batch, std::size_t samples,
                                                         std::size_t features, int level = -1);
// samples × outputs, sample-major.
std::vector<double> decrypt_batch(const ckks::Encoder& encoder, const ckks::Decryptor& decryptor,
                                  std::span<const ckks::Ciphertext> outputs, std::size_t samples);

}  // namespace hecnn::he
