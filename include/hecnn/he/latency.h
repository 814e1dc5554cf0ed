// The latency mode measured end to end: one image at a time under channel-wise packing
// (channel_plan.h), client and server in one process, as run_pipeline does for a batch.
//
//   client: keygen; the relinearisation key and the Galois keys of exactly the plan's
//           rotation steps, serialised seeded (what would be uploaded); each image
//           preprocessed, packed and encrypted seeded, serialised (the upload bytes).
//   server: deserialises the keys and each upload; the masks are encoded once (setup,
//           timed apart: they depend on the model only); runs ChannelRuntime per image.
//   client: decrypts the outputs; the plaintext reference runner on the same images.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/reference_check.h"
#include "hecnn/math/csprng.h"
#include "hecnn/nn/model.h"

namespace hecnn::he {

struct LatencyOptions {
    ParamOptions params;  // batch is set to 1; the key-switching digits to rotation_digit_size
    std::optional<math::Seed> insecure_test_only_key_seed;  // deterministic keys (tests)
};

struct LatencyReport {
    std::string parameters;  // Context::describe()
    ckks::ParametersLiteral literal;  // the parameters run (digits of rotation_digit_size)
    std::string parameter_explain;
    std::string layout;      // ChannelPlan::summary()
    int log_n = 0, depth = 0, dnum = 0, digit_size = 0;
    bool secure_128 = false;
    std::size_t images = 0, input_cts = 0, output_cts = 0;
    std::size_t rotation_steps = 0, hoisted_rotations = 0, single_rotations = 0, masks = 0;
    std::size_t mask_bytes = 0;                     // the server's encoded masks
    std::size_t galois_key_bytes_seeded = 0, galois_key_bytes_full = 0;
    std::size_t relin_key_bytes_seeded = 0;
    std::size_t upload_bytes_per_image = 0, result_bytes_per_image = 0;
    double keygen_seconds = 0, setup_seconds = 0;   // setup: deserialise keys + encode masks
    std::vector<double> encrypt_seconds, server_seconds, decrypt_seconds;  // per image, wall clock
    // Per image: the process's CPU seconds (all threads) during the server part. With one
    // thread it is the compute a shared machine's wall time hides; with more, OpenMP's
    // waiting threads spin and are counted too (under contention: many times the work).
    std::vector<double> server_cpu_seconds;
    ReferenceCheck check;
};

// images: count × features, preprocessed, sample-major; labels may be empty; calib:
// calib_samples × features, for the value ranges (choose_parameters).
LatencyReport run_latency(const nn::Model& model, std::span<const double> calib, std::size_t calib_samples, std::span<const double> images,
                          std::size_t count, std::span<const int> labels, const LatencyOptions& opt);

}  // namespace hecnn::he
