#include "encrypt.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "format.h"
#include "hecnn/io/images.h"
#include "hecnn/io/keyset.h"
#include "progress.h"

namespace hecnn::cli {
namespace {

namespace fs = std::filesystem;

// The images named by --images, as the plan's model takes them, then --offset/--limit: a
// contiguous slice, so that runs can be split without overlap.
io::NamedImages load_images(const EncryptOptions& o, const io::PlanFile& plan) {
    auto im = io::load_images(o.images, plan.input_shape, io::ImagePart::inference);
    if (o.offset >= im.data.size())
        throw std::runtime_error("--offset " + std::to_string(o.offset) + " is past the " + std::to_string(im.data.size()) + " images");
    const std::size_t end = o.limit ? std::min(im.data.size(), o.offset + o.limit) : im.data.size();
    im.data = im.data.slice(o.offset, end);
    im.names = std::vector<std::string>(im.names.begin() + static_cast<std::ptrdiff_t>(o.offset), im.names.begin() + static_cast<std::ptrdiff_t>(end));
    return im;
}

}  // namespace

fs::path numbered_path(const fs::path& out, std::size_t k, std::size_t n) {
    if (n == 1) return out;
    return out.parent_path() / (out.stem().string() + "-" + std::to_string(k + 1) + out.extension().string());
}

std::vector<fs::path> run_encrypt(const EncryptOptions& o) {
    std::vector<fs::path> written;
    const auto keys = io::load_client_keys(o.keys, o.insecure);
    const auto& plan = keys.plan;
    const auto im = load_images(o, plan);
    const std::size_t n = im.data.size(), B = plan.batch, files = (n + B - 1) / B, F = plan.features();
    std::printf("images      %zu (%s), %zu per batch → %zu batch file(s) of %zu ciphertexts, %s each\n", n,
                nn::to_string(plan.input_shape).c_str(), B, files, F, human_bytes(static_cast<double>(plan.batch_file_bytes)).c_str());
    for (std::size_t k = 0; k < files && !o.force; ++k)  // refuse before any work
        for (const auto& p : {numbered_path(o.out, k, files), io::labels_path(numbered_path(o.out, k, files))})
            if (fs::exists(p)) throw std::runtime_error(p.string() + " exists: choose another --out, or --force to replace it");
    std::size_t total_bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < files; ++k) {
        const std::size_t first = k * B, count = std::min(B, n - first);
        const auto x = io::to_inputs(im.data, plan.preprocessing, first, count);
        const fs::path path = numbered_path(o.out, k, files);
        ProgressBar bar("encrypt " + path.filename().string(), F, "ciphertexts");
        const auto info = io::encrypt_batch_file(keys, x, count, path, [&](std::size_t done, std::size_t) { bar.update(done); }, o.force);
        io::BatchLabels labels;
        labels.batch = info.checksum;
        labels.classes = im.data.classes.empty() ? plan.preprocessing.classes : im.data.classes;
        bool known = false;
        for (std::size_t i = 0; i < count; ++i) {
            labels.names.push_back(im.names[first + i]);
            labels.labels.push_back(im.data.labels[first + i]);
            known |= im.data.labels[first + i] >= 0;
        }
        if (!known) labels.labels.clear();
        io::save_labels(io::labels_path(path), labels);
        total_bytes += info.file_bytes;
        written.push_back(path);
        std::printf("wrote       %s: %zu images, %s (%s per image) in %s; labels sidecar %s (keep it: never uploaded)\n", path.c_str(), count,
                    human_bytes(static_cast<double>(info.file_bytes)).c_str(), human_bytes(static_cast<double>(info.file_bytes) / count).c_str(),
                    human_ms(bar.elapsed() * 1e3).c_str(), io::labels_path(path).filename().c_str());
    }
    std::printf("total       %zu images, %s, %s\n", n, human_bytes(static_cast<double>(total_bytes)).c_str(), human_ms(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()).c_str());
    return written;
}

void add_encrypt(CLI::App& app) {
    auto o = std::make_shared<EncryptOptions>();
    auto* cmd = app.add_subcommand("encrypt",
                                   "Client: preprocess, pack and encrypt images into batch files (seeded ciphertexts, up to the plan's batch "
                                   "size per file) with a client-side labels sidecar BATCH.labels.json");
    cmd->add_option("--keys", o->keys, "Key directory made by `hecnn keygen`")->required()->check(CLI::ExistingDirectory);
    cmd->add_option("--images", o->images,
                    "fashion-mnist [DIR] | cifar10 DIR | folder DIR (one sub-folder per class) | image FILES (.png/.jpg, resized like a "
                    "folder's); data sets give their test split")
        ->required()->expected(1, -1);
    cmd->add_option("--limit", o->limit, "At most this many images (0: all)");
    cmd->add_option("--offset", o->offset, "Skip this many images first")->capture_default_str();
    cmd->add_option("--out", o->out,
                    "Batch file; with more images than one batch holds: OUT's name + -1, -2, … before its extension "
                    "(batch.hecnn → batch-1.hecnn, batch-2.hecnn)")
        ->required();
    cmd->add_flag("--force", o->force, "Replace existing batch and sidecar files");
    cmd->add_flag("--insecure-test-params", o->insecure, "Accept keys with test-only parameters below 128-bit security");
    cmd->callback([o] { run_encrypt(*o); });
}

}  // namespace hecnn::cli
