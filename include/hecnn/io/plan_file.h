// The plan file (PLAN.json): the contract between a client and the service that runs a
// model for it. `hecnn plan … --out PLAN.json` writes it; keygen (the parameters), encrypt
// (preprocessing, batch size, input shape), decrypt (classes) and the server (the model
// digest it must serve, the exact upload sizes it may accept) read it.
//
// JSON (docs/WORKFLOW.md has every field):
//   {"hecnn": "plan", "version": 3, "params_id": "<16 hex>", "checksum": "<32 hex>", "body": {…}}
// checksum = BLAKE2b-128 of body.dump() (compact, keys sorted: nlohmann's canonical dump), so
// a hand edit that is not also re-checksummed is refused. parse_plan recomputes everything
// it can: the parameters' id (Context::create on the stored primes, which re-checks 128-bit
// security), the exact file sizes, the shape and preprocessing consistency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/he/pipeline.h"
#include "hecnn/he/plan.h"
#include "hecnn/he/simulator.h"
#include "hecnn/nn/model.h"

namespace hecnn::io {

// Version 3 records the memory budget the prediction assumed (body.predicted.memory_budget:
// bytes, "unlimited", or null if unknown: a plan read from an older version). Version 2 keeps the class names inside the preprocessing (one
// nn::Preprocessing); version 1 plans (body.model.classes beside body.model.preprocessing)
// and version 2 plans are still read, with the same meaning (their budget: the default of
// the machine that made them, unrecorded). Any other version is refused, naming it.
inline constexpr int kPlanVersion = 3;
inline constexpr std::size_t kMaxPlanBytes = std::size_t{1} << 20;  // load_plan's read limit

struct PlanFile {
    ckks::ParametersLiteral params;  // canonical: explicit primes (Context::literal())
    std::uint64_t params_id = 0;     // Context::id() of params
    std::string model_name;          // informational (the ONNX file name); set by the caller
    std::string model_digest;        // BLAKE2b-256 hex of the ONNX file bytes
    nn::Shape input_shape;           // one image, [C,H,W]
    std::size_t outputs = 0;         // logits per image
    nn::Preprocessing preprocessing; // what every client applies to its images; class names (none, or one per output)
    std::size_t batch = 0;           // images per ciphertext batch (≤ slots)
    int depth = 0;                   // levels the compiled model consumes
    bool lazy_relin = true;          // some step defers relinearisation: compile with this option
    double predicted_server_seconds = 0;  // simulator (he::simulate)
    std::size_t predicted_peak_bytes = 0;
    he::MemoryBudget predicted_memory_budget;  // the budget of that prediction (plans before v3: the unresolved default)
    std::size_t batch_file_bytes = 0;  // exact size of one full upload (any sample count)
    std::size_t eval_keys_bytes = 0;   // exact size of the evaluation-key upload

    std::size_t features() const;      // ciphertexts per batch = elements of input_shape
    std::uint64_t model_id() const;    // first 8 bytes of the digest, little-endian (stored in batches)
    bool insecure() const { return params.insecure_test_only_allow_below_128_bits; }
};

// BLAKE2b-256 of the bytes, lowercase hex (the model digest).
std::string model_digest(std::string_view onnx_bytes);
// The model id batches carry: the digest's first 8 bytes, little-endian (0 if not hex).
std::uint64_t model_id_of(std::string_view digest);

// From a compiled model (he::compile_for_batch, or io::plan_model with its resolved
// preprocessing); batch 0 = every slot. The predicted time and peak memory come from
// `prediction`, or (null) from the simulator at its built-in rates on one thread.
PlanFile make_plan_file(const nn::Preprocessing& preprocessing, std::string_view onnx_bytes, const he::CompiledModel& compiled,
                        std::size_t batch, const he::Prediction* prediction = nullptr);

std::string plan_to_json(const PlanFile& plan);
// Validates everything (see the top of this file); throws ckks::FormatError naming the
// field. Test-only parameters below 128-bit security are refused unless allow_insecure.
PlanFile parse_plan(std::string_view json, bool allow_insecure);
void save_plan(const std::filesystem::path& path, const PlanFile& plan);  // atomic
PlanFile load_plan(const std::filesystem::path& path, bool allow_insecure);  // ≤ kMaxPlanBytes

// The server's check that it serves the model the plan was made for: the ONNX bytes have
// the plan's digest and compiling them gave the plan's input shape, outputs and depth.
// Throws ckks::FormatError saying which field differs and what to do.
void check_plan_matches(const PlanFile& plan, std::string_view onnx_bytes, const he::Plan& compiled);

// The first field in which two plans make different contracts for a client ("" if none):
// parameters, model digest, input shape, outputs, batch, preprocessing (scale, mean, std,
// class names). Predictions and names do not count. A client holding keys made for one
// plan checks the service's plan with it before encrypting with its copy's preprocessing.
std::string contract_difference(const PlanFile& a, const PlanFile& b);

// What `hecnn plan --out PLAN.json` does after compiling: make_plan_file + save_plan, with
// the model's file name; returns the plan written.
PlanFile write_plan_for(const std::filesystem::path& out, const std::filesystem::path& onnx_path, const nn::Preprocessing& preprocessing,
                        const he::CompiledModel& compiled, std::size_t batch, const he::Prediction* prediction = nullptr);

}  // namespace hecnn::io
