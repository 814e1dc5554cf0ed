#include "encrypt.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "format.h"
#include "hecnn/io/dataset.h"
#include "hecnn/io/keyset.h"
#include "progress.h"

namespace hecnn::cli {
namespace {

namespace fs = std::filesystem;

struct Images {
    io::Dataset data;
    std::vector<std::string> names;
};

// A scratch directory removed with its contents.
class TempDir {
public:
    TempDir() {
        std::string t = (fs::temp_directory_path() / "hecnn-images-XXXXXX").string();
        if (!::mkdtemp(t.data())) throw std::runtime_error("cannot create a temporary directory in " + fs::temp_directory_path().string());
        path_ = t;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// Image files go through the folder loader, so they are decoded and resized exactly as a
// folder's images are: linked (in order) into a scratch folder as one class, plus the
// second class the loader requires (a link to the first image, dropped afterwards).
Images load_files(const std::vector<std::string>& files, std::int64_t size) {
    const TempDir tmp;
    fs::create_directory(tmp.path() / "0");
    fs::create_directory(tmp.path() / "1");
    for (std::size_t i = 0; i < files.size(); ++i) {
        std::string ext = fs::path(files[i]).extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (ext != ".png" && ext != ".jpg" && ext != ".jpeg")
            throw std::runtime_error(files[i] + ": not a .png, .jpg or .jpeg file (data sets: fashion-mnist [DIR], cifar10 DIR, folder DIR)");
        if (!fs::is_regular_file(files[i])) throw std::runtime_error(files[i] + ": no such image file");
        char name[32];
        std::snprintf(name, sizeof name, "%09zu", i);
        fs::create_symlink(fs::absolute(files[i]), tmp.path() / "0" / (name + ext));
        if (i == 0) fs::create_symlink(fs::absolute(files[i]), tmp.path() / "1" / (name + ext));
    }
    io::FolderOptions fo;
    fo.size = size;
    fo.train = fo.val = 0;  // every image in the "test" split, in index order
    auto all = io::load_image_folder(tmp.path().string(), fo).test;
    std::vector<std::size_t> keep(files.size());
    for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = i;
    Images im{all.subset(keep), {}};
    im.data.classes.clear();
    std::fill(im.data.labels.begin(), im.data.labels.end(), -1);  // unknown
    for (const auto& f : files) im.names.push_back(fs::path(f).filename().string());
    return im;
}

// The folder loader makes every image RGB as soon as one is in colour; a grey model then
// gets the luma (ITU-R BT.601, as the loader's own conversion), an RGB model grey images
// replicated. Data sets of another channel count are left for the shape check.
void match_channels(io::Dataset& d, std::int64_t channels) {
    if (d.channels == channels || (d.channels != 1 && d.channels != 3) || (channels != 1 && channels != 3)) return;
    const auto hw = static_cast<std::size_t>(d.height * d.width);
    std::vector<std::uint8_t> px(d.size() * static_cast<std::size_t>(channels) * hw);
    for (std::size_t i = 0; i < d.size(); ++i) {
        const auto in = d.sample(i);
        std::uint8_t* out = px.data() + i * static_cast<std::size_t>(channels) * hw;
        for (std::size_t j = 0; j < hw; ++j) {
            if (channels == 1) out[j] = static_cast<std::uint8_t>(std::lround(0.299 * in[j] + 0.587 * in[hw + j] + 0.114 * in[2 * hw + j]));
            else out[j] = out[hw + j] = out[2 * hw + j] = in[j];
        }
    }
    d.pixels = std::move(px);
    d.channels = channels;
}

Images load_images(const EncryptOptions& o, const io::PlanFile& plan) {
    const auto& shape = plan.input_shape;
    if (shape.size() != 3 || shape[1] != shape[2])
        throw std::runtime_error("the plan's model takes " + nn::to_string(shape) + " inputs, not square images [C,H,W]");
    const std::string& kind = o.images.at(0);
    Images im;
    if (kind == "fashion-mnist" || kind == "cifar10" || kind == "folder") {
        io::LoadOptions lo;
        lo.need_train = false;
        lo.folder.size = shape[1];
        lo.folder.train = lo.folder.val = 0;  // a folder: every image
        im.data = io::load_dataset(o.images, lo).test;
        for (std::size_t i = 0; i < im.data.size(); ++i)
            im.names.push_back(kind == "folder" && !im.data.classes.empty() ? im.data.classes.at(static_cast<std::size_t>(im.data.labels[i])) + " #" + std::to_string(i)
                                                                            : kind + " test #" + std::to_string(i));
    } else {
        im = load_files(o.images, shape[1]);
    }
    if (kind != "fashion-mnist" && kind != "cifar10") match_channels(im.data, shape[0]);
    if (im.data.channels != shape[0] || im.data.height != shape[1] || im.data.width != shape[2])
        throw std::runtime_error("the images are " + std::to_string(im.data.channels) + "x" + std::to_string(im.data.height) + "x" +
                                 std::to_string(im.data.width) + ", the plan's model takes " + nn::to_string(shape));
    // --offset / --limit: a contiguous slice, so that runs can be split without overlap.
    if (o.offset >= im.data.size())
        throw std::runtime_error("--offset " + std::to_string(o.offset) + " is past the " + std::to_string(im.data.size()) + " images");
    const std::size_t end = o.limit ? std::min(im.data.size(), o.offset + o.limit) : im.data.size();
    std::vector<std::size_t> idx;
    for (std::size_t i = o.offset; i < end; ++i) idx.push_back(i);
    im.data = im.data.subset(idx);
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
        std::vector<double> x(count * F);
        for (std::size_t i = 0; i < count; ++i) io::to_input(im.data, first + i, plan.preprocessing, std::span<double>(x.data() + i * F, F));
        const fs::path path = numbered_path(o.out, k, files);
        ProgressBar bar("encrypt " + path.filename().string(), F, "ciphertexts");
        const auto info = io::encrypt_batch_file(keys, x, count, path, [&](std::size_t done, std::size_t) { bar.update(done); }, o.force);
        io::BatchLabels labels;
        labels.batch = info.checksum;
        labels.classes = im.data.classes.empty() ? plan.classes : im.data.classes;
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
