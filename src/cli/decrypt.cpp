#include "decrypt.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "format.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/predictions.h"

namespace hecnn::cli {
namespace fs = std::filesystem;

void run_decrypt(const DecryptOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto keys = io::load_client_keys(o.keys, o.insecure);
    const auto& plan = keys.plan;
    const auto r = io::decrypt_result_file(keys, o.in);
    const std::size_t B = r.info.samples, K = plan.outputs;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::optional<std::pair<fs::path, io::BatchLabels>> labels;
    if (!o.labels.empty()) {
        labels = std::make_pair(fs::path(o.labels), io::load_labels(o.labels));
        if (labels->second.batch != r.info.source)
            throw std::runtime_error(o.labels + " describes another batch than the one " + o.in + " answers");
    } else {
        labels = io::find_labels(o.in, r.info.source);  // the sidecar `hecnn encrypt` wrote for this batch
    }
    if (labels && labels->second.names.size() != B)
        throw std::runtime_error(labels->first.string() + " names " + std::to_string(labels->second.names.size()) + " images, the result has " +
                                 std::to_string(B));
    std::vector<std::string> classes = plan.preprocessing.classes;
    if (classes.empty() && labels && labels->second.classes.size() == K) classes = labels->second.classes;

    io::Predictions pred;
    pred.classes = classes;
    pred.outputs = K;
    pred.scores = r.logits;
    for (std::size_t b = 0; b < B; ++b) {
        pred.names.push_back(labels ? labels->second.names[b] : "#" + std::to_string(b));
        if (labels && !labels->second.labels.empty()) pred.labels.push_back(labels->second.labels[b]);
    }
    // The reference is read before anything is written: a bad one costs no output.
    std::optional<io::Predictions> reference;
    if (!o.reference.empty()) reference = io::read_predictions(o.reference);
    const auto agreement = reference ? std::optional(io::compare_predictions(pred, *reference)) : std::nullopt;
    io::write_predictions(o.out, pred, o.in, o.force);
    const std::size_t labelled = pred.labelled(), correct = pred.correct();
    std::printf("result      %s: %zu images × %zu scores, decrypted in %s\n", o.in.c_str(), B, K, human_ms(seconds * 1e3).c_str());
    if (labels) std::printf("labels      %s\n", labels->first.c_str());
    else std::printf("labels      none found (give --labels BATCH.labels.json for names and accuracy)\n");
    if (labelled)
        std::printf("accuracy    %.2f %% (%zu of %zu labelled images)\n", 100.0 * static_cast<double>(correct) / static_cast<double>(labelled), correct,
                    labelled);
    if (agreement) {
        std::printf("reference   %s: %zu of %zu images (%.3f %%) get the reference's class; max |score error| %.3g (largest |score| %.3g), at image %zu\n",
                    o.reference.c_str(), agreement->same_class, agreement->images, 100.0 * agreement->fraction(), agreement->max_score_error,
                    agreement->max_abs_score, agreement->worst_image);
        if (reference->labelled())
            std::printf("            the reference's accuracy %.2f %% (%zu of %zu)\n", 100.0 * static_cast<double>(reference->correct()) / static_cast<double>(reference->labelled()),
                        reference->correct(), reference->labelled());
    }
    std::printf("wrote       %s\n", o.out.c_str());
}

void add_decrypt(CLI::App& app) {
    auto o = std::make_shared<DecryptOptions>();
    auto* cmd = app.add_subcommand("decrypt", "Client: decrypt a result file into predictions (class, scores per class; accuracy when labels are known)");
    cmd->add_option("--keys", o->keys, "Key directory made by `hecnn keygen` (the one that encrypted the batch)")->required()->check(CLI::ExistingDirectory);
    cmd->add_option("--in", o->in, "Result file from `hecnn infer` or the service")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out", o->out, "predictions.csv or predictions.json (refused if it exists, unless --force)")->required();
    cmd->add_option("--labels", o->labels,
                    "The batch's sidecar BATCH.labels.json (default: the one whose batch this result answers, looked for next to the "
                    "result and in the current directory)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--reference", o->reference,
                    "Predictions of the plaintext model on the same images (`hecnn eval MODEL --out P.csv`): prints the agreement and the "
                    "largest score error")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--force", o->force, "Replace an existing predictions file");
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept keys with test-only parameters below 128-bit security");
    cmd->callback([o] { run_decrypt(*o); });
}

}  // namespace hecnn::cli
