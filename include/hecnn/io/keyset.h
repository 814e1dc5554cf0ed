// The client's key directory, the evaluation-key bundle the server receives, and what the
// client does with its keys (encrypt a batch file, decrypt a result file).
//
// Key directory (`hecnn keygen --out DIR`), every file written atomically:
//   secret.key    ckks secret key (mode 0600; never overwritten without force; never sent)
//   public.key    ckks public key (not needed by the workflow; kept for other encryptors)
//   eval.keys     the evaluation-key bundle below: what the client uploads
//   params.hecnn  ckks parameters
//   plan.json     copy of the plan the keys were made for
//
// Evaluation-key bundle (docs/WORKFLOW.md): the ckks header with kind 256, then
//   u64 keyset id | u64 length | parameters object | u64 length | SEEDED relinearisation key object
// The key set id is keyset_id_of(relin key): it binds batches to the keys that made them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/io/batch_file.h"
#include "hecnn/io/plan_file.h"

namespace hecnn::io {

inline constexpr const char* kSecretKeyFile = "secret.key";
inline constexpr const char* kPublicKeyFile = "public.key";
inline constexpr const char* kEvalKeysFile = "eval.keys";
inline constexpr const char* kParamsFile = "params.hecnn";
inline constexpr const char* kPlanCopyFile = "plan.json";

struct KeysetSummary {
    std::uint64_t keyset_id = 0;
    std::size_t secret_bytes = 0, public_bytes = 0, eval_keys_bytes = 0, params_bytes = 0;
    double seconds = 0;  // key generation and writing
};

// Fresh keys from the OS CSPRNG for the plan's parameters. Refuses (std::runtime_error
// naming the file) to overwrite any existing key-directory file without `force`; the
// directory is created (mode 0700) if missing. secret.key is written last, and with force
// the old one is deleted first: an interrupted run leaves no secret key (load refuses)
// rather than a secret key that does not match eval.keys.
KeysetSummary create_keyset(const PlanFile& plan, const std::filesystem::path& dir, bool force);

// The key directory `from` (checked complete and consistent) copied file by file to `to`,
// with create_keyset's rules for the target: created mode 0700, existing keys refused
// unless `force`, secret.key (mode 0600) written last.
void copy_keyset(const std::filesystem::path& from, const std::filesystem::path& to, bool force);

struct ClientKeys {
    ckks::ContextPtr ctx;
    ckks::SecretKey secret;
    PlanFile plan;
    std::uint64_t keyset_id = 0;
};
// Loads and cross-checks the directory: plan ↔ parameters id, eval.keys ↔ parameters,
// eval.keys ↔ secret.key (the relinearisation key was made with this secret key),
// secret.key not readable by group or others (refused, like ssh, with the chmod to run).
ClientKeys load_client_keys(const std::filesystem::path& dir, bool allow_insecure);

struct EvalKeys {
    ckks::ContextPtr ctx;
    ckks::RelinKey relin;
    std::uint64_t keyset_id = 0;
};
// The bundle, with the relinearisation key in seeded form (half the bytes).
std::vector<std::uint8_t> serialize_eval_keys(const ckks::Context& ctx, const ckks::RelinKey& rk);
// Validates everything; a secret key (alone or inside) is refused explicitly ("never send
// it to a server"). Test-only parameters are refused unless allow_insecure.
EvalKeys load_eval_keys(std::span<const std::uint8_t> bytes, bool allow_insecure);
EvalKeys load_eval_keys_file(const std::filesystem::path& path, bool allow_insecure, std::size_t max_bytes = std::size_t{1} << 32);
// First 8 bytes (little-endian) of BLAKE2b-256 of the key's seeded serialisation.
std::uint64_t keyset_id_of(const ckks::RelinKey& rk);
// Exact size of the bundle under these parameters.
std::size_t eval_keys_bytes(const ckks::Context& ctx);

// Client: encrypt `samples` preprocessed images (samples × plan.features(), sample-major)
// into a batch file, streaming (bounded memory: a chunk of ciphertexts at a time), with
// `progress(done, total)` after each chunk. replace = false refuses an existing `out`.
BatchInfo encrypt_batch_file(const ClientKeys& keys, std::span<const double> inputs, std::size_t samples, const std::filesystem::path& out,
                             const std::function<void(std::size_t, std::size_t)>& progress = {}, bool replace = false);

struct DecryptedResult {
    BatchInfo info;
    std::vector<double> logits;  // info.samples × plan.outputs, sample-major
};
// Client: a result made with these keys (kind, parameters, key set, output count checked).
DecryptedResult decrypt_result_file(const ClientKeys& keys, const std::filesystem::path& result);

}  // namespace hecnn::io
