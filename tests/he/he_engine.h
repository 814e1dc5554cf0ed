// Encrypted-inference test set-up: parameters chosen for the plan (small insecure N
// unless asked otherwise), deterministic keys, and the client/server round trip.
#pragma once

#include <algorithm>

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "he/he_models.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/packing.h"
#include "hecnn/he/runtime.h"
#include "hecnn/nn/reference.h"

namespace hecnn::test {

struct HeSetup {
    HeSetup(const he::Plan& plan, std::span<const double> calib, std::size_t samples, he::ParamOptions opt)
        : choice(he::choose_parameters(plan, ranges(plan, calib, samples), opt)),
          ctx(ckks::Context::create(choice.literal)),
          keygen(ckks::KeyGenerator::insecure_test_only_from_seed(ctx, math::Seed{7})),
          rk(keygen.create_relin_key()),
          encoder(ctx),
          enc(ctx, keygen.secret_key()),
          dec(ctx, keygen.secret_key()) {}

    static std::vector<double> ranges(const he::Plan& plan, std::span<const double> calib, std::size_t samples) {
        std::vector<double> r;
        he::run_plaintext(plan, calib, samples, &r);
        return r;
    }

    // Encrypt, run on the server side (relinearisation key only), decrypt.
    std::vector<double> infer(const he::Plan& plan, std::span<const double> batch, std::size_t samples,
                              std::vector<he::StepRecord>* trace = nullptr, const he::RunOptions& opt = {}) const {
        auto in = he::encrypt_batch(encoder, enc, batch, samples, static_cast<std::size_t>(plan.input_count));
        he::Runtime rt(plan, ctx, rk);
        auto out = rt.run(std::move(in), opt, trace);
        return he::decrypt_batch(encoder, dec, out, samples);
    }

    he::ParamChoice choice;
    ckks::ContextPtr ctx;
    ckks::KeyGenerator keygen;
    ckks::RelinKey rk;
    ckks::Encoder encoder;
    ckks::Encryptor enc;
    ckks::Decryptor dec;
};

// The same ciphertext, bit for bit (level, size, scale, form and every limb).
inline bool same_ciphertext(const ckks::Ciphertext& a, const ckks::Ciphertext& b) {
    if (a.level() != b.level() || a.size() != b.size() || a.scale() != b.scale() || a.is_ntt() != b.is_ntt()) return false;
    const std::size_t limb_words = a.n() * (static_cast<std::size_t>(a.level()) + 1);
    for (std::size_t k = 0; k < a.size(); ++k)
        if (!std::equal(a.limb(k, 0), a.limb(k, 0) + limb_words, b.limb(k, 0))) return false;
    return true;
}

inline he::ParamOptions insecure_small(int log_n = 11) {
    he::ParamOptions o;
    o.log_n = log_n;
    o.insecure_test_only_allow_below_128_bits = true;
    return o;
}

struct ErrorStats {
    double max_abs = 0, max_ref = 0;
};

// Encrypted result vs the reference runner on the unfolded model.
inline ErrorStats compare(const nn::Model& m, std::span<const double> batch, std::size_t samples, std::span<const double> got) {
    nn::ReferenceRunner ref(m);
    const std::size_t F = static_cast<std::size_t>(nn::element_count(m.input_shape()));
    const std::size_t K = static_cast<std::size_t>(nn::element_count(m.output_shape()));
    ErrorStats e;
    for (std::size_t s = 0; s < samples; ++s) {
        const auto want = ref.run(batch.subspan(s * F, F));
        for (std::size_t k = 0; k < K; ++k) {
            e.max_abs = std::max(e.max_abs, std::fabs(got[s * K + k] - want[k]));
            e.max_ref = std::max(e.max_ref, std::fabs(want[k]));
        }
    }
    return e;
}

}  // namespace hecnn::test
