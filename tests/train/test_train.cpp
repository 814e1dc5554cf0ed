// The torch side, in one process (each torch process pays ~0.6 s to start): polynomial
// activation gradients, the distillation loss, torch ↔ reference-runner agreement on the
// exported ONNX for every architecture and granularity, and short training runs.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "hecnn/io/onnx.h"
#include "hecnn/nn/reference.h"
#include "net.h"
#include "trainer.h"

using namespace hecnn;
using train::Activation;
namespace fs = std::filesystem;

namespace {

const nn::Granularity kAll[] = {nn::Granularity::Layer, nn::Granularity::Channel, nn::Granularity::Element};

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("hecnn_train_test_" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

// A small synthetic Fashion-MNIST-shaped IDX set: class k is a bright horizontal band
// at row 2k + 3 plus noise, so that a few hundred images are learnable.
void write_fake_idx(const fs::path& dir, int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (const char* split : {"train", "t10k"}) {
        std::string img, lab;
        auto be32 = [](std::string& s, uint32_t v) {
            for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
        };
        be32(img, 0x803), be32(img, n), be32(img, 28), be32(img, 28);
        be32(lab, 0x801), be32(lab, n);
        for (int i = 0; i < n; ++i) {
            const int k = static_cast<int>(rng() % 10);
            lab.push_back(static_cast<char>(k));
            for (int y = 0; y < 28; ++y)
                for (int x = 0; x < 28; ++x) img.push_back(static_cast<char>((std::abs(y - (2 * k + 3)) <= 1 ? 180 : 20) + rng() % 60));
        }
        for (auto [name, bytes] : {std::pair{std::string("-images-idx3-ubyte.gz"), img}, std::pair{std::string("-labels-idx1-ubyte.gz"), lab}}) {
            gzFile f = gzopen((dir / (std::string(split) + name)).c_str(), "wb");
            gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
            gzclose(f);
        }
    }
}

}  // namespace

TEST(PolyAct, GradientsMatchFiniteDifferences) {
    torch::manual_seed(1);
    for (auto g : kAll) {
        const nn::Shape f{3, 2, 2};
        train::PolyAct act(f, Activation::Poly, g);
        act->to(torch::kDouble);
        {
            torch::NoGradGuard ng;
            act->a.uniform_(-0.5, 0.5), act->b.uniform_(-1, 1), act->c.uniform_(-1, 1);
        }
        auto x = torch::randn({4, 3, 2, 2}, torch::kDouble).requires_grad_(true);
        auto w = torch::randn({4, 3, 2, 2}, torch::kDouble);
        auto loss_of = [&] { return (act->forward(x) * w).sum(); };
        loss_of().backward();
        const double h = 1e-6;
        for (torch::Tensor* p : {&act->a, &act->b, &act->c, &x}) {
            auto grad = p->grad().clone();
            auto flat = p->data().view({-1});
            for (int64_t i = 0; i < flat.numel(); i += std::max<int64_t>(1, flat.numel() / 7)) {
                torch::NoGradGuard ng;
                const double orig = flat[i].item<double>();
                flat[i] = orig + h;
                const double up = loss_of().item<double>();
                flat[i] = orig - h;
                const double down = loss_of().item<double>();
                flat[i] = orig;
                EXPECT_NEAR(grad.view({-1})[i].item<double>(), (up - down) / (2 * h), 1e-6) << nn::granularity_name(g) << " element " << i;
            }
        }
        // The coefficient tensors have the granularity's shape.
        auto s = nn::coefficient_shape(f, g);
        EXPECT_EQ(act->a.sizes().vec(), std::vector<int64_t>(s.begin(), s.end()));
    }
}

TEST(PolyAct, BlendsWithReluDuringTheSwitch) {
    train::PolyAct act(nn::Shape{2}, Activation::Poly, nn::Granularity::Layer);
    {
        torch::NoGradGuard ng;
        act->a.fill_(1), act->b.fill_(0), act->c.fill_(0);
    }
    auto x = torch::tensor({{-2.0f, 3.0f}});
    act->ratio = 0.25;
    auto y = act->forward(x);
    EXPECT_FLOAT_EQ(y[0][0].item<float>(), 0.25f * 4 + 0.75f * 0);
    EXPECT_FLOAT_EQ(y[0][1].item<float>(), 0.25f * 9 + 0.75f * 3);
}

TEST(Distillation, LossMatchesHandComputation) {
    auto s = torch::tensor({{1.0, 2.0, 0.5}, {0.0, -1.0, 3.0}}, torch::kDouble);
    auto t = torch::tensor({{2.0, 1.0, 0.0}, {1.0, 1.0, 1.0}}, torch::kDouble);
    auto y = torch::tensor({1, 2}, torch::kLong);
    const double T = 3, alpha = 0.4;
    double kl = 0, ce = 0;
    for (int i = 0; i < 2; ++i) {
        double zs = 0, zt = 0, zh = 0;
        for (int k = 0; k < 3; ++k) {
            zs += std::exp(s[i][k].item<double>() / T), zt += std::exp(t[i][k].item<double>() / T), zh += std::exp(s[i][k].item<double>());
        }
        for (int k = 0; k < 3; ++k) {
            const double ps = std::exp(s[i][k].item<double>() / T) / zs, pt = std::exp(t[i][k].item<double>() / T) / zt;
            kl += pt * std::log(pt / ps);
        }
        ce += -std::log(std::exp(s[i][y[i].item<int64_t>()].item<double>()) / zh);
    }
    const double want = alpha * T * T * kl / 2 + (1 - alpha) * ce / 2;
    EXPECT_NEAR(train::kd_loss(s, t, y, T, alpha).item<double>(), want, 1e-12);
    EXPECT_NEAR(train::kd_loss(s, t, y, T, 0.0).item<double>(), ce / 2, 1e-12);
    // Identical logits: no distillation term left.
    EXPECT_NEAR(train::kd_loss(s, s, y, T, 1.0).item<double>(), 0.0, 1e-12);
}

TEST(Export, TorchLogitsEqualTheReferenceRunnerOnTheOnnx) {
    struct Case {
        const char* arch;
        nn::Shape input;
        int64_t classes;
    };
    const Case cases[] = {{"cnn", {1, 28, 28}, 10}, {"squeezenet", {1, 28, 28}, 10}, {"squeezenet", {3, 32, 32}, 10}, {"squeezenet", {3, 32, 32}, 5}};
    torch::manual_seed(2);
    for (const auto& c : cases)
        for (auto g : kAll) {
            train::Net net(nn::make_arch(c.arch, c.input, c.classes), Activation::Poly, g);
            {  // non-trivial coefficients and batch-norm statistics
                torch::NoGradGuard ng;
                for (auto& a : net->activations()) a->a.uniform_(0.0, 0.2), a->b.uniform_(0.3, 0.8), a->c.uniform_(-0.1, 0.1);
                for (auto& b : net->named_buffers())
                    if (b.key().ends_with("running_var")) b.value().uniform_(0.5, 1.5);
                    else if (b.key().ends_with("running_mean")) b.value().uniform_(-0.2, 0.2);
            }
            const int64_t n = 3;
            auto x = torch::randn({n, c.input[0], c.input[1], c.input[2]});
            auto logits = train::predict(net, x).to(torch::kDouble);
            nn::Model m = io::parse_onnx(io::serialize_onnx(net->to_model()));
            nn::ReferenceRunner r(m);
            auto xd = x.to(torch::kDouble).contiguous();
            const int64_t in = xd.numel() / n;
            double maxd = 0;
            for (int64_t i = 0; i < n; ++i) {
                auto y = r.run(std::span<const double>(xd.data_ptr<double>() + i * in, static_cast<size_t>(in)));
                ASSERT_EQ(static_cast<int64_t>(y.size()), c.classes);
                for (int64_t k = 0; k < c.classes; ++k) maxd = std::max(maxd, std::abs(y[k] - logits[i][k].item<double>()));
            }
            EXPECT_LE(maxd, 1e-4) << c.arch << " " << nn::to_string(c.input) << " " << nn::granularity_name(g);
            std::printf("[ agreement ] %-10s %-9s %2lld classes %-7s max |torch - runner| = %.2e\n", c.arch, nn::to_string(c.input).c_str(),
                        static_cast<long long>(c.classes), nn::granularity_name(g), maxd);
        }
    // A ReLU network cannot be exported.
    train::Net relu(nn::make_arch("cnn", {1, 28, 28}, 10), Activation::Relu, nn::Granularity::Layer);
    EXPECT_THROW(relu->to_model(), std::runtime_error);
}

TEST(Training, TeacherStudentKdExportDeterminismAndDivergence) {
    TempDir t;
    write_fake_idx(t.path, 300, 11);
    train::TrainOptions o;
    o.dataset = {"fashion-mnist", t.path.string()};
    o.epochs = 2;
    o.batch = 32;
    o.lr = 0.05;
    o.progress = false;
    o.checkpoints = true;
    o.roundtrip_images = 64;
    o.activation = "relu";
    o.output = (t.path / "teacher").string();
    auto teacher = train::run_training(o);
    EXPECT_GT(teacher.test_accuracy, 50.0);  // ten well-separated bands
    EXPECT_TRUE(fs::exists(t.path / "teacher.pt"));
    EXPECT_TRUE(fs::exists(t.path / "teacher.epoch2.pt"));

    // Student from the teacher's weights, fitted coefficients, gradual switch, KD.
    o.activation = "poly";
    o.granularity = "element";
    o.init = (t.path / "teacher.pt").string();
    o.teacher = o.init;
    o.ramp_epochs = 1;
    o.output = (t.path / "student.onnx").string();
    auto s1 = train::run_training(o);
    EXPECT_GT(s1.test_accuracy, 50.0);
    EXPECT_LE(s1.roundtrip_max_abs_diff, 1e-4);
    EXPECT_EQ(s1.reference_accuracy, s1.torch_accuracy_roundtrip);
    nn::Model m = io::load_onnx(s1.onnx_path);
    EXPECT_EQ(m.metadata.at("hecnn.granularity"), "element");
    EXPECT_EQ(m.preprocessing.mean.size(), 1u);
    EXPECT_EQ(m.preprocessing.classes.size(), 10u);

    // Deterministic for a seed (one thread).
    auto s2 = train::run_training(o);
    EXPECT_EQ(s1.test_accuracy, s2.test_accuracy);
    EXPECT_EQ(s1.train_accuracy, s2.train_accuracy);

    // Divergence is detected and reported with advice; nothing is exported.
    o.init.clear();
    o.teacher.clear();
    o.poly_init = "fixed";
    o.poly_coeffs = {1.0, 0.0, 0.0};
    o.standardize = false;
    o.clip = 0;
    o.lr = 50;
    o.output = (t.path / "diverged.onnx").string();
    try {
        train::run_training(o);
        ADD_FAILURE() << "divergence not detected";
    } catch (const train::Diverged& e) {
        EXPECT_NE(std::string(e.what()).find("--lr"), std::string::npos);
    }
    EXPECT_FALSE(fs::exists(t.path / "diverged.onnx"));
}
