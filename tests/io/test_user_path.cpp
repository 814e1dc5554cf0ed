// A user's own model and data: preprocessing given on the command line (an
// nn::PreprocessingOverride, as `hecnn plan --mean/--std/--scale/--classes` builds it) reaching
// the encrypted inputs through the plan file, calibration on an image folder's training
// split only, image files converted to the model's channels.
#include <png.h>
#include <zlib.h>

#include <array>

#include <set>

#include "io/test_workflow_fixture.h"
#include "hecnn/io/calibration.h"
#include "hecnn/io/images.h"
#include "hecnn/io/planner.h"
#include "hecnn/nn/reference.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

// A w × h PNG; pixel i = value(i) per channel.
void write_png(const fs::path& p, int w, int h, int channels, const std::function<std::uint8_t(int)>& value) {
    png_image img{};
    img.version = PNG_IMAGE_VERSION;
    img.width = w, img.height = h;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * channels));
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = value(static_cast<int>(i / static_cast<std::size_t>(channels)));
    ASSERT_TRUE(png_image_write_to_file(&img, p.c_str(), 0, px.data(), 0, nullptr));
}

// DIR/<class>/<k>.png, 5 × 5 grey; image k of class c has pixels value(c, k, i).
void write_folder(const fs::path& dir, int classes, int per_class, const std::function<std::uint8_t(int, int, int)>& value) {
    for (int c = 0; c < classes; ++c) {
        fs::create_directories(dir / ("class" + std::to_string(c)));
        for (int k = 0; k < per_class; ++k)
            write_png(dir / ("class" + std::to_string(c)) / (std::to_string(k) + ".png"), 5, 5, 1, [&](int i) { return value(c, k, i); });
    }
}

// A w × h RGB PNG; pixel i = (r(i), g(i), b(i)).
void write_rgb_png(const fs::path& p, int w, int h, const std::function<std::array<std::uint8_t, 3>(int)>& rgb) {
    png_image img{};
    img.version = PNG_IMAGE_VERSION;
    img.width = w, img.height = h;
    img.format = PNG_FORMAT_RGB;
    std::vector<std::uint8_t> px;
    for (int i = 0; i < w * h; ++i)
        for (auto v : rgb(i)) px.push_back(v);
    ASSERT_TRUE(png_image_write_to_file(&img, p.c_str(), 0, px.data(), 0, nullptr));
}

// An IDX image file (magic 0x803, big-endian counts) read with zlib alone: the reference
// the data set reader is checked against.
std::vector<std::vector<std::uint8_t>> read_idx_images(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return {};
    auto u32 = [&] {
        unsigned char b[4] = {};
        gzread(f, b, 4);
        return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    };
    std::vector<std::vector<std::uint8_t>> images;
    if (u32() == 0x803) {
        const std::uint32_t n = u32(), rows = u32(), cols = u32();
        images.assign(n, std::vector<std::uint8_t>(std::size_t{rows} * cols));
        for (auto& im : images) gzread(f, im.data(), static_cast<unsigned>(im.size()));
    }
    gzclose(f);
    return images;
}

// An IDX label file (magic 0x801) read with zlib alone.
std::vector<int> read_idx_labels(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return {};
    unsigned char h[8] = {};
    gzread(f, h, 8);
    std::vector<int> labels;
    if (h[2] == 8 && h[3] == 1) {
        const std::uint32_t n = (std::uint32_t{h[4]} << 24) | (std::uint32_t{h[5]} << 16) | (std::uint32_t{h[6]} << 8) | h[7];
        std::vector<unsigned char> b(n);
        gzread(f, b.data(), n);
        labels.assign(b.begin(), b.end());
    }
    gzclose(f);
    return labels;
}

int argmax(std::span<const double> v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }

}  // namespace

// --mean 0.3 --std 0.2 --classes … over a model whose metadata says mean 0.5, std 0.25:
// plan (calibrated on the folder) → plan file → keys → images of the folder encrypted with
// the plan's preprocessing → server → decrypt, against the reference runner on the inputs
// the test preprocesses itself with the command line's values. Encrypting with the model's
// metadata instead would give other logits (checked: the test can fail).
TEST(UserPath, CommandLinePreprocessingReachesTheEncryptedInputs) {
    const ScratchDir dir;
    write_folder(dir / "images", 3, 8, [](int c, int k, int i) { return static_cast<std::uint8_t>((37 * c + 11 * k + 53 * i) % 256); });
    const nn::Model model = tiny_model();
    ASSERT_EQ(model.preprocessing.mean, std::vector<double>{0.5});

    io::PlanRequest req;
    req.preprocessing.mean = std::vector<double>{0.3};
    req.preprocessing.std = std::vector<double>{0.2};
    req.preprocessing.classes = std::vector<std::string>{"cat", "dog", "emu"};
    req.calib = {"folder", (dir / "images").string()};
    req.calib_samples = 64;
    req.pipeline.params = insecure_small(11);
    const auto planned = io::plan_model(model, req);
    EXPECT_EQ(planned.preprocessing.mean, std::vector<double>{0.3});
    EXPECT_EQ(planned.preprocessing.scale, 1.0 / 255);  // not given: the model's
    const std::string onnx = io::serialize_onnx(model);
    io::save_plan(dir / "plan.json", io::make_plan_file(planned.preprocessing, onnx, planned.compiled, 40));

    const auto plan = io::load_plan(dir / "plan.json", true);
    EXPECT_EQ(plan.preprocessing.mean, std::vector<double>{0.3});
    EXPECT_EQ(plan.preprocessing.std, std::vector<double>{0.2});
    EXPECT_EQ(plan.preprocessing.classes, (std::vector<std::string>{"cat", "dog", "emu"}));
    io::create_keyset(plan, dir / "keys", false);
    const auto keys = io::load_client_keys(dir / "keys", true);
    const auto im = io::load_images({"folder", (dir / "images").string()}, plan.input_shape, io::ImagePart::inference);
    const std::size_t samples = im.data.size(), F = plan.features(), K = plan.outputs;
    ASSERT_EQ(samples, 24u);  // inference on a folder: every image
    std::vector<double> x(samples * F);
    for (std::size_t i = 0; i < samples; ++i) io::to_input(im.data, i, plan.preprocessing, std::span<double>(x.data() + i * F, F));
    io::encrypt_batch_file(keys, x, samples, dir / "batch");

    he::CompileOptions copt;
    copt.lazy_relin = plan.lazy_relin;
    const auto compiled = he::compile(io::parse_onnx(onnx), copt);
    const auto eval = io::load_eval_keys_file(dir / "keys" / io::kEvalKeysFile, true);
    io::infer_batch_file(compiled, eval, dir / "batch", dir / "result", {});
    const auto got = io::decrypt_result_file(keys, dir / "result");

    const nn::ReferenceRunner ref(model);
    double max_err = 0, max_logit = 0, max_err_metadata = 0;
    for (std::size_t s = 0; s < samples; ++s) {
        std::vector<double> given(F), metadata(F);
        for (std::size_t f = 0; f < F; ++f) {
            const double px = im.data.sample(s)[f];
            given[f] = (px / 255 - 0.3) / 0.2;
            metadata[f] = (px / 255 - 0.5) / 0.25;
        }
        const auto want = ref.run(given), other = ref.run(metadata);
        const std::span<const double> g(got.logits.data() + s * K, K);
        EXPECT_EQ(argmax(g), argmax(want)) << "image " << s;
        for (std::size_t k = 0; k < K; ++k) {
            max_err = std::max(max_err, std::fabs(g[k] - want[k]));
            max_err_metadata = std::max(max_err_metadata, std::fabs(g[k] - other[k]));
            max_logit = std::max(max_logit, std::fabs(want[k]));
        }
    }
    const double bound = std::max(1.0, max_logit) / (1 << 20);  // as test_workflow_e2e
    EXPECT_LE(max_err, bound);
    EXPECT_GT(max_err_metadata, 1000 * bound);  // the model's own preprocessing would be visibly other logits
    std::printf("    %zu images: max |logit error| %.3g; against the model's metadata preprocessing %.3g\n", samples, max_err, max_err_metadata);
}

TEST(UserPath, RefusesPreprocessingThatDoesNotFitTheModel) {
    const nn::Model model = tiny_model();  // 1 channel, 3 outputs
    nn::PreprocessingOverride o;
    o.mean = std::vector<double>{0.1, 0.2, 0.3};
    EXPECT_THROW(io::resolve_preprocessing(model, o), std::invalid_argument);
    o = {};
    o.classes = std::vector<std::string>{"a", "b"};
    EXPECT_THROW(io::resolve_preprocessing(model, o), std::invalid_argument);
    o = {};
    o.std = std::vector<double>{0};
    EXPECT_THROW(io::resolve_preprocessing(model, o), std::invalid_argument);
    o = {};
    o.scale = 2.0;
    const auto p = io::resolve_preprocessing(model, o);
    EXPECT_EQ(p.scale, 2.0);
    EXPECT_EQ(p.std, std::vector<double>{0.25});  // the rest from the metadata
}

// Every image has one grey value, unique to it: the calibration inputs must be exactly the
// folder's training split (the split `hecnn train --dataset folder` trains on), none of its
// validation or test images, preprocessed with the plan's preprocessing; the input range
// plan_model reports is theirs.
TEST(UserPath, CalibratesOnTheFolderTrainingSplitOnly) {
    const ScratchDir dir;
    auto value = [](int c, int k) { return static_cast<std::uint8_t>(10 + 20 * c + 2 * k); };
    write_folder(dir / "images", 2, 10, [&](int c, int k, int) { return value(c, k); });
    const std::vector<std::string> spec{"folder", (dir / "images").string()};
    nn::Preprocessing p;
    p.mean = {0.1};
    p.std = {0.5};
    const auto cal = io::calibration_inputs(spec, 1000, {1, 5, 5}, p);

    io::FolderOptions fo;  // the defaults `hecnn train` splits with
    fo.size = 5;
    const auto split = io::load_image_folder(spec[1], fo);
    std::multiset<int> want, got, held_out;
    for (std::size_t i = 0; i < split.train.size(); ++i) want.insert(split.train.sample(i)[0]);
    for (const auto* d : {&split.val, &split.test})
        for (std::size_t i = 0; i < d->size(); ++i) held_out.insert(d->sample(i)[0]);
    ASSERT_EQ(cal.samples, split.train.size());
    ASSERT_EQ(cal.samples, 12u);  // 60 % of 10 per class
    double max_abs = 0;
    for (std::size_t s = 0; s < cal.samples; ++s) {
        const double x = cal.inputs[s * 25];
        for (std::size_t f = 1; f < 25; ++f) EXPECT_EQ(cal.inputs[s * 25 + f], x);  // one grey value per image
        const int px = static_cast<int>(std::lround((x * 0.5 + 0.1) * 255));
        EXPECT_NEAR((px / 255.0 - 0.1) / 0.5, x, 1e-12);
        EXPECT_EQ(held_out.count(px), 0u) << "calibrated on a held-out image of value " << px;
        got.insert(px);
        max_abs = std::max(max_abs, std::fabs(x));
    }
    EXPECT_EQ(got, want);

    nn::Model model = tiny_model();
    model.preprocessing = p;
    io::PlanRequest req;
    req.calib = spec;
    req.pipeline.params = insecure_small(11);
    const auto planned = io::plan_model(model, req);
    ASSERT_EQ(planned.ranges.size(), planned.compiled.plan.steps.size() + 1);
    EXPECT_EQ(planned.ranges.front().step, -1);
    EXPECT_DOUBLE_EQ(planned.ranges.front().max_abs, max_abs);
    for (const auto& r : planned.ranges) EXPECT_GE(r.headroom_bits, req.pipeline.params.margin_bits) << "step " << r.step;
    EXPECT_NE(planned.calib_source.find("12 folder training images"), std::string::npos) << planned.calib_source;
}

// Fashion-MNIST calibration comes from the training split: every calibrated image is a
// training image (the test split is never read for it).
TEST(UserPath, CalibratesOnTheFashionMnistTrainingSplit) {
    if (!fs::exists(fs::path(io::kFashionMnistDir) / "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST";
    nn::Preprocessing p;  // pixel / 255
    const auto cal = io::calibration_inputs({"fashion-mnist"}, 32, {1, 28, 28}, p);
    ASSERT_LE(cal.samples, 32u);  // a stratified sample: 3 of each class's 6000
    ASSERT_GE(cal.samples, 30u);
    const auto train = read_idx_images(std::string(io::kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
    ASSERT_EQ(train.size(), 60000u);
    const std::set<std::vector<std::uint8_t>> images(train.begin(), train.end());
    for (std::size_t s = 0; s < cal.samples; ++s) {
        std::vector<std::uint8_t> px(784);
        for (std::size_t f = 0; f < 784; ++f) px[f] = static_cast<std::uint8_t>(std::lround(cal.inputs[s * 784 + f] * 255));
        EXPECT_TRUE(images.count(px)) << "calibration image " << s << " is not a training image";
    }
}

// Image files for a grey model: RGB decoded and converted by luma (ITU-R BT.601), in the
// order given, labels unknown; a file of another kind is refused by name.
TEST(UserPath, ImageFilesAreConvertedToTheModelsChannels) {
    const ScratchDir dir;
    write_png(dir / "b.png", 5, 5, 3, [](int) { return std::uint8_t{200}; });
    write_png(dir / "a.png", 5, 5, 1, [](int i) { return static_cast<std::uint8_t>(i); });
    const auto im = io::load_images({(dir / "b.png").string(), (dir / "a.png").string()}, {1, 5, 5}, io::ImagePart::inference);
    ASSERT_EQ(im.data.size(), 2u);
    EXPECT_EQ(im.names, (std::vector<std::string>{"b.png", "a.png"}));
    EXPECT_EQ(im.data.labels, (std::vector<std::int32_t>{-1, -1}));
    EXPECT_EQ(im.data.sample(0)[7], 200);  // grey RGB stays its value
    EXPECT_EQ(im.data.sample(1)[7], 7);
    const auto rgb = io::load_images({(dir / "a.png").string()}, {3, 5, 5}, io::ImagePart::inference);
    EXPECT_EQ(rgb.data.channels, 3);
    EXPECT_EQ(rgb.data.sample(0)[25 + 7], 7);  // grey replicated
    std::ofstream(dir / "notes.txt") << "x";
    EXPECT_THROW(io::load_images({(dir / "notes.txt").string()}, {1, 5, 5}, io::ImagePart::inference), io::DatasetError);
    EXPECT_THROW(io::load_images({(dir / "a.png").string()}, {1, 5, 6}, io::ImagePart::inference), io::DatasetError);
}

// RGB files of distinct channels: a grey model gets each pixel's BT.601 luma
// (0.299 R + 0.587 G + 0.114 B, rounded), an RGB model the three planes as written; the
// batch a model is run on is those pixels preprocessed (io::to_inputs).
TEST(UserPath, RgbFilesGiveLumaToAGreyModelAndPlanesToAnRgbModel) {
    const ScratchDir dir;
    auto rgb = [](int i) { return std::array<std::uint8_t, 3>{static_cast<std::uint8_t>(10 * i), static_cast<std::uint8_t>(250 - 7 * i),
                                                              static_cast<std::uint8_t>(3 * i + 1)}; };
    write_rgb_png(dir / "c.png", 5, 5, rgb);
    const auto grey = io::load_images({(dir / "c.png").string()}, {1, 5, 5}, io::ImagePart::inference);
    const auto planes = io::load_images({(dir / "c.png").string()}, {3, 5, 5}, io::ImagePart::inference);
    ASSERT_EQ(grey.data.size(), 1u);
    ASSERT_EQ(planes.data.size(), 1u);
    nn::Preprocessing p;
    p.mean = {0.25};
    p.std = {0.5};
    const auto x = io::to_inputs(grey.data, p, 0, 1);
    ASSERT_EQ(x.size(), 25u);
    for (int i = 0; i < 25; ++i) {
        const auto [r, g, b] = rgb(i);
        const long luma = std::lround(0.299 * r + 0.587 * g + 0.114 * b);
        EXPECT_EQ(grey.data.sample(0)[static_cast<std::size_t>(i)], luma) << "pixel " << i;
        EXPECT_DOUBLE_EQ(x[static_cast<std::size_t>(i)], (static_cast<double>(luma) / 255 - 0.25) / 0.5) << "pixel " << i;
        for (int c = 0; c < 3; ++c) EXPECT_EQ(planes.data.sample(0)[static_cast<std::size_t>(c * 25 + i)], rgb(i)[static_cast<std::size_t>(c)]);
    }
}

// io::batch_inputs: a folder's images (every one: the inference part), each preprocessed
// and labelled by its class folder; too few refused; random inputs unlabelled and not the
// calibration's.
TEST(UserPath, BatchInputsAreTheInferencePartPreprocessed) {
    const ScratchDir dir;
    auto value = [](int c, int k) { return static_cast<std::uint8_t>(10 + 20 * c + 2 * k); };  // class c = (v − 10) / 20
    write_folder(dir / "images", 2, 4, [&](int c, int k, int) { return value(c, k); });
    const std::vector<std::string> spec{"folder", (dir / "images").string()};
    nn::Preprocessing p;
    p.mean = {0.1};
    p.std = {0.5};
    const auto b = io::batch_inputs(spec, 8, {1, 5, 5}, p);
    ASSERT_EQ(b.samples, 8u);
    ASSERT_EQ(b.inputs.size(), 8u * 25);
    ASSERT_EQ(b.labels.size(), 8u);
    std::multiset<int> seen;
    for (std::size_t s = 0; s < 8; ++s) {
        const int px = static_cast<int>(std::lround((b.inputs[s * 25] * 0.5 + 0.1) * 255));
        EXPECT_DOUBLE_EQ(b.inputs[s * 25 + 24], (px / 255.0 - 0.1) / 0.5);
        EXPECT_EQ(b.labels[s], (px - 10) / 20) << "image of value " << px;
        seen.insert(px);
    }
    std::multiset<int> written;
    for (int c = 0; c < 2; ++c)
        for (int k = 0; k < 4; ++k) written.insert(value(c, k));
    EXPECT_EQ(seen, written);  // every image of the folder, once
    EXPECT_THROW(io::batch_inputs(spec, 9, {1, 5, 5}, p), io::DatasetError);

    const auto r = io::batch_inputs({"random"}, 3, {1, 5, 5}, p);
    EXPECT_EQ(r.samples, 3u);
    EXPECT_TRUE(r.labels.empty());
    for (double v : r.inputs) EXPECT_TRUE(v >= -3 && v <= 3) << v;
    EXPECT_NE(r.inputs, io::calibration_inputs({"random"}, 3, {1, 5, 5}, p).inputs);
}

// Fashion-MNIST's batch: the first images and labels of the TEST files, read with zlib alone.
TEST(UserPath, FashionMnistBatchIsTheFirstTestImages) {
    const std::string dir = io::kFashionMnistDir;
    if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST";
    const auto images = read_idx_images(dir + "/t10k-images-idx3-ubyte.gz");
    const auto labels = read_idx_labels(dir + "/t10k-labels-idx1-ubyte.gz");
    ASSERT_EQ(images.size(), 10000u);
    ASSERT_EQ(labels.size(), 10000u);
    const auto b = io::batch_inputs({"fashion-mnist"}, 16, {1, 28, 28}, nn::Preprocessing{});
    ASSERT_EQ(b.samples, 16u);
    EXPECT_EQ(b.labels, std::vector<int>(labels.begin(), labels.begin() + 16));
    for (std::size_t s = 0; s < 16; ++s)
        for (std::size_t f = 0; f < 784; ++f) ASSERT_DOUBLE_EQ(b.inputs[s * 784 + f], images[s][f] / 255.0) << "image " << s << " pixel " << f;
}
