#include "decrypt.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "format.h"
#include "hecnn/io/keyset.h"

namespace hecnn::cli {
namespace {

namespace fs = std::filesystem;

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

}  // namespace

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
    auto class_name = [&](int c) { return classes.empty() ? std::to_string(c) : classes[static_cast<std::size_t>(c)]; };

    const bool json = fs::path(o.out).extension() == ".json";
    if (!json && fs::path(o.out).extension() != ".csv") throw std::runtime_error("--out must end in .csv or .json");
    std::ostringstream csv;
    nlohmann::json images = nlohmann::json::array();
    csv << "image,name,predicted,class,label";
    for (std::size_t k = 0; k < K; ++k) csv << ",score_" << csv_field(class_name(static_cast<int>(k)));
    csv << "\n";
    std::size_t labelled = 0, correct = 0;
    for (std::size_t b = 0; b < B; ++b) {
        const std::span<const double> s(r.logits.data() + b * K, K);
        const int pred = static_cast<int>(std::max_element(s.begin(), s.end()) - s.begin());
        const std::string name = labels ? labels->second.names[b] : "#" + std::to_string(b);
        const int label = labels && !labels->second.labels.empty() ? labels->second.labels[b] : -1;
        if (label >= 0) ++labelled, correct += label == pred;
        csv << b << "," << csv_field(name) << "," << pred << "," << csv_field(class_name(pred)) << "," << (label >= 0 ? std::to_string(label) : "");
        for (double v : s) csv << "," << v;
        csv << "\n";
        nlohmann::json row = {{"image", b}, {"name", name}, {"predicted", pred}, {"class", class_name(pred)}, {"scores", std::vector<double>(s.begin(), s.end())}};
        if (label >= 0) row["label"] = label;
        images.push_back(row);
    }
    std::string text = csv.str();
    if (json) {
        nlohmann::json j = {{"result", o.in}, {"images", images}, {"classes", classes}};
        if (labelled) j["accuracy"] = static_cast<double>(correct) / static_cast<double>(labelled);
        text = j.dump(1) + "\n";
    }
    ckks::AtomicFileWriter w(o.out);
    w.write({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    try {
        w.commit(o.force);
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::file_exists) throw std::runtime_error(o.out + " exists: choose another --out, or --force to replace it");
        throw;
    }
    std::printf("result      %s: %zu images × %zu scores, decrypted in %s\n", o.in.c_str(), B, K, human_ms(seconds * 1e3).c_str());
    if (labels) std::printf("labels      %s\n", labels->first.c_str());
    else std::printf("labels      none found (give --labels BATCH.labels.json for names and accuracy)\n");
    if (labelled)
        std::printf("accuracy    %.2f %% (%zu of %zu labelled images)\n", 100.0 * static_cast<double>(correct) / static_cast<double>(labelled), correct,
                    labelled);
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
    cmd->add_flag("--force", o->force, "Replace an existing predictions file");
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept keys with test-only parameters below 128-bit security");
    cmd->callback([o] { run_decrypt(*o); });
}

}  // namespace hecnn::cli
