// Client side of channel-wise packing: one image into the plan's input ciphertexts (wire i
// at slot i mod slots of ciphertext i / slots), the output ciphertexts back into the model's
// outputs; and the key-switching digits rotations need.
#pragma once

#include <span>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/he/channel_plan.h"

namespace hecnn::he {

// The slot values of input ciphertext `ct` for one image (model input layout, row-major).
std::vector<double> channel_input_slots(const ChannelPlan& plan, std::span<const double> image, int ct);

// Ciphertexts at the top level and the context's scale; the seeded form is the upload form.
std::vector<ckks::Ciphertext> encrypt_image(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor, const ChannelPlan& plan,
                                            std::span<const double> image);
std::vector<ckks::SeededCiphertext> encrypt_image_seeded(const ckks::Encoder& encoder, const ckks::Encryptor& encryptor,
                                                         const ChannelPlan& plan, std::span<const double> image);
// outputs: the ciphertexts plan.output_cts (ChannelRuntime::run); returns the model output.
std::vector<double> decrypt_image(const ckks::Encoder& encoder, const ckks::Decryptor& decryptor, const ChannelPlan& plan,
                                  std::span<const ckks::Ciphertext> outputs);

// The most data primes per key-switching digit such that every digit's modulus is at most
// the special modulus P (by bit sizes: the literal must give them). A rotation works at
// scale Δ, where a digit above P leaves (digit/P)·√N·σ of error in each slot: at the
// reference parameters at N = 2^15 that was all of the precision (docs/ENGINE.md).
// Throws std::invalid_argument if even one prime exceeds P.
int rotation_digit_size(const ckks::ParametersLiteral& literal);

}  // namespace hecnn::he
