// `hecnn eval MODEL.onnx --dataset …`: accuracy of the plaintext reference runner (double
// precision) on a data set's test split, with the model's preprocessing taken from its
// metadata or given on the command line (for models made elsewhere).
#include "eval.h"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "format.h"
#include "preprocessing_options.h"
#include "hecnn/io/dataset.h"
#include "hecnn/io/images.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/planner.h"
#include "hecnn/io/predictions.h"
#include "hecnn/nn/arch.h"
#include "hecnn/nn/reference.h"

namespace hecnn::cli {
namespace {

struct EvalOptions {
    std::string model;
    std::vector<std::string> dataset{"fashion-mnist"};
    std::string split = "test";
    nn::PreprocessingOverride preprocessing;
    size_t limit = 0;
    int threads = 0;
    uint64_t seed = 1;
    int64_t folder_size = 32;
    std::string out;  // predictions file (as hecnn decrypt writes), or none
    bool force = false;
};

void run_eval(const EvalOptions& o) {
    auto t0 = std::chrono::steady_clock::now();
    nn::Model m = io::load_onnx(o.model);
    const nn::Preprocessing p = io::resolve_preprocessing(m, o.preprocessing);
    if (!m.metadata.count(io::kMetaMean) && !o.preprocessing.mean)
        std::cerr << "note: the model names no input standardisation (metadata " << io::kMetaMean << "); using pixel·scale as is. "
                  << "Give --mean/--std if it was trained on standardised inputs.\n";
    io::LoadOptions lo;
    lo.limit = o.limit;
    lo.seed = o.seed;
    lo.need_train = o.split == "train";
    lo.val_fraction = o.split == "val" ? 0.1 : 0.0;
    lo.folder.size = o.folder_size;
    io::Split s = io::load_dataset(o.dataset, lo);
    const io::Dataset& d = o.split == "train" ? s.train : o.split == "val" ? s.val : s.test;
    if (d.size() == 0) throw std::runtime_error("the " + o.split + " split is empty");
    const nn::Shape want{d.channels, d.height, d.width};
    if (m.input_shape() != want)
        throw std::runtime_error("the model takes " + nn::to_string(m.input_shape()) + " inputs, the data set has " + nn::to_string(want) + " images");
    const auto batch = io::to_inputs(d, p, 0, d.size());
    auto t1 = std::chrono::steady_clock::now();
    nn::ReferenceRunner runner(m);
    const size_t K = static_cast<size_t>(m.output_shape().at(0));
    io::Predictions scored;
    scored.outputs = K;
    scored.classes = p.classes;
    scored.scores = runner.run_batch(batch, d.size(), o.threads);
    std::vector<int> pred(d.size());
    for (size_t i = 0; i < d.size(); ++i) pred[i] = scored.predicted(i);
    auto t2 = std::chrono::steady_clock::now();
    if (!o.out.empty()) {  // the same rows hecnn decrypt writes for a batch of these images (hecnn encrypt takes them in this order)
        // The names hecnn encrypt gives a data set's test images (io::load_images), so that
        // decrypt --reference matches a batch of any of them by name; a sample or another
        // split is numbered only (compared by position).
        const bool as_encrypt = o.split == "test" && o.limit == 0 && o.dataset[0] != "folder";
        for (size_t i = 0; i < d.size(); ++i) scored.names.push_back(as_encrypt ? io::dataset_image_name(o.dataset[0], false, i) : "#" + std::to_string(i));
        if (scored.classes.empty() && d.classes.size() == K) scored.classes = d.classes;
        scored.labels.assign(d.labels.begin(), d.labels.end());
        io::write_predictions(o.out, scored, o.model, o.force);
    }
    size_t correct = 0;
    std::vector<size_t> per_class_total(K, 0), per_class_ok(K, 0);
    for (size_t i = 0; i < d.size(); ++i) {
        const bool ok = pred[i] == d.labels[i];
        correct += ok;
        if (static_cast<size_t>(d.labels[i]) < K) per_class_total[d.labels[i]]++, per_class_ok[d.labels[i]] += ok;
    }
    std::printf("model      %s: %zu nodes, input %s, output %s, %.2f M MACs per image\n", o.model.c_str(), m.nodes.size(),
                nn::to_string(m.input_shape()).c_str(), nn::to_string(m.output_shape()).c_str(), static_cast<double>(m.macs_per_sample()) / 1e6);
    for (size_t c = 0; c < K; ++c) {
        const std::string name = c < p.classes.size() ? p.classes[c] : std::to_string(c);
        if (per_class_total[c]) std::printf("  %-14s %6.2f %%  (%zu images)\n", name.c_str(), 100.0 * per_class_ok[c] / per_class_total[c], per_class_total[c]);
    }
    std::printf("accuracy   %.2f %% (%zu / %zu %s images, reference runner in double precision)\n", 100.0 * correct / d.size(), correct, d.size(),
                o.split.c_str());
    std::printf("time       load %s, inference %s (%s per image)\n", human_ms(std::chrono::duration<double, std::milli>(t1 - t0).count()).c_str(),
                human_ms(std::chrono::duration<double, std::milli>(t2 - t1).count()).c_str(),
                human_ms(std::chrono::duration<double, std::milli>(t2 - t1).count() / d.size()).c_str());
}

struct DescribeOptions {
    std::string arch = "cnn";
    std::string input = "1x28x28";
    int64_t classes = 10;
    std::vector<std::string> granularity{"layer", "channel", "element"};
};

nn::Shape parse_shape(const std::string& s) {
    nn::Shape out;
    size_t start = 0;
    while (true) {
        size_t x = s.find('x', start);
        out.push_back(std::stoll(s.substr(start, x == std::string::npos ? std::string::npos : x - start)));
        if (x == std::string::npos) break;
        start = x + 1;
    }
    return out;
}

}  // namespace

void add_eval(CLI::App& app) {
    auto o = std::make_shared<EvalOptions>();
    auto* cmd = app.add_subcommand("eval", "Accuracy of an ONNX model with the plaintext reference runner (double precision)");
    cmd->add_option("model", o->model, "ONNX model (an export of hecnn train, or any HE-friendly ONNX model)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--dataset", o->dataset, "fashion-mnist [DIR] | cifar10 DIR | folder DIR")->expected(1, 2)->capture_default_str();
    cmd->add_option("--split", o->split, "train, val (10 % of train, seeded) or test")->check(CLI::IsMember({"train", "val", "test"}))->capture_default_str();
    add_preprocessing_options(cmd, o->preprocessing, "");
    cmd->add_option("--limit", o->limit, "Evaluate a stratified sample of this many images (0: all)");
    cmd->add_option("--threads", o->threads, "Threads (0: all cores)")->check(CLI::Range(0, 1024));
    cmd->add_option("--seed", o->seed, "Seed of the validation split and of --limit's sample")->capture_default_str();
    cmd->add_option("--image-size", o->folder_size, "Image folders: resize to this size")->capture_default_str();
    cmd->add_option("--out", o->out,
                    "Write the scores of every image to P.csv or P.json, in hecnn decrypt's format (compare an encrypted run with "
                    "`hecnn decrypt … --reference P.csv`)");
    cmd->add_flag("--force", o->force, "Replace an existing --out file");
    cmd->callback([o] { run_eval(*o); });
}

void add_describe(CLI::App& app) {
    auto o = std::make_shared<DescribeOptions>();
    auto* cmd = app.add_subcommand("describe", "Layers of an architecture: shapes, multiplicative depth, weights, MACs and the BEAA paper's Table-3 counts");
    cmd->add_option("arch", o->arch, "cnn (CryptoNets-scale, as the SEAL baseline of docs/BASELINES.md) or squeezenet (the BEAA paper's)")->check(CLI::IsMember(nn::arch_names()))->capture_default_str();
    cmd->add_option("--input", o->input, "Input shape CxHxW (squeezenet: 3x32x32 or 1x28x28)")->capture_default_str();
    cmd->add_option("--classes", o->classes, "Number of classes")->check(CLI::Range(2, 100000))->capture_default_str();
    cmd->add_option("--granularity", o->granularity, "layer, channel and/or element")->capture_default_str();
    cmd->callback([o] {
        auto arch = nn::make_arch(o->arch, parse_shape(o->input), o->classes);
        for (size_t i = 0; i < o->granularity.size(); ++i) std::cout << (i ? "\n" : "") << nn::describe_table(arch, nn::parse_granularity(o->granularity[i]));
    });
}

}  // namespace hecnn::cli
