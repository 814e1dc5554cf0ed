// What the client does with its keys: encrypt images into a batch file (streamed, a chunk
// of features at a time so memory stays bounded whatever the model's input size) and
// decrypt a result file.
#include <omp.h>

#include <algorithm>

#include "container.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/he/packing.h"
#include "hecnn/io/keyset.h"

namespace hecnn::io {

BatchInfo encrypt_batch_file(const ClientKeys& keys, std::span<const double> inputs, std::size_t samples, const std::filesystem::path& out,
                             const std::function<void(std::size_t, std::size_t)>& progress, bool replace) {
    const std::size_t F = keys.plan.features();
    if (samples < 1 || samples > keys.plan.batch)
        throw std::invalid_argument("encrypt_batch_file: " + std::to_string(samples) + " images, the plan's batch holds 1 to " +
                                    std::to_string(keys.plan.batch));
    if (inputs.size() != samples * F) throw std::invalid_argument("encrypt_batch_file: inputs are not samples × features");
    const ckks::Encoder encoder(keys.ctx);
    const ckks::Encryptor encryptor(keys.ctx, keys.secret);
    BatchInfo info;
    info.keyset_id = keys.keyset_id;
    info.samples = samples;
    info.count = F;
    info.level = keys.ctx->max_level();
    info.model_id = keys.plan.model_id();
    BatchWriter writer(out, *keys.ctx, info);
    // A few ciphertexts per thread per chunk: enough parallel work, a bounded footprint.
    const std::size_t chunk = std::max<std::size_t>(8, 4 * static_cast<std::size_t>(omp_get_max_threads()));
    std::vector<double> cols;
    for (std::size_t f0 = 0; f0 < F; f0 += chunk) {
        const std::size_t n = std::min(chunk, F - f0);
        cols.resize(samples * n);  // the chunk's features as a samples × n batch
        for (std::size_t b = 0; b < samples; ++b)
            std::copy_n(inputs.begin() + static_cast<std::ptrdiff_t>(b * F + f0), n, cols.begin() + static_cast<std::ptrdiff_t>(b * n));
        for (const auto& ct : he::encrypt_batch_seeded(encoder, encryptor, cols, samples, n)) writer.add(ct);
        if (progress) progress(f0 + n, F);
    }
    return writer.commit(replace);
}

DecryptedResult decrypt_result_file(const ClientKeys& keys, const std::filesystem::path& result) {
    const std::size_t K = keys.plan.outputs;
    BatchReader reader(result, keys.ctx, result_file_bytes(*keys.ctx, K, keys.ctx->max_level()), BatchKind::result);
    const auto& info = reader.info();
    const std::string file = result.string();
    if (info.keyset_id != keys.keyset_id)
        detail::bad(file + ": computed for key set " + detail::hex64(info.keyset_id) + ", these keys are key set " + detail::hex64(keys.keyset_id));
    if (info.count != K)
        detail::bad(file + ": " + std::to_string(info.count) + " outputs, the plan's model has " + std::to_string(K));
    if (info.model_id != 0 && info.model_id != keys.plan.model_id())
        detail::bad(file + ": computed with another model than the plan's (model id " + detail::hex64(info.model_id) + ")");
    std::vector<ckks::Ciphertext> cts;
    cts.reserve(K);
    for (std::size_t k = 0; k < K; ++k) cts.push_back(reader.ciphertext(k));
    const ckks::Encoder encoder(keys.ctx);
    const ckks::Decryptor decryptor(keys.ctx, keys.secret);
    return {info, he::decrypt_batch(encoder, decryptor, cts, info.samples)};
}

}  // namespace hecnn::io
