// Every way a PyTorch user writes a polynomial of degree ≤ 2, as torch.onnx.export emits it
// (tests/data/make_torch_forms.py, one model per form: conv → FORM → linear). Each model is
// imported, run by the reference runner against PyTorch's own outputs, compiled, checked
// in plaintext (he::run_plaintext) against the reference runner, compared step for step
// with the canonical a·x² + b·x + c (same steps, depth, squares and MACs: the form costs
// nothing extra), and run encrypted at small insecure parameters against the reference.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "he/he_engine.h"
#include "hecnn/io/onnx.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

const std::string kDir = std::string(HECNN_TEST_DATA) + "/torch_forms/";

// The forms that must compile to the canonical form's steps (make_torch_forms.py FORMS).
const std::vector<std::string> kForms = {"canonical", "x_x_a",    "xa_x",     "x_ax",        "pow",    "square",     "sub_div",
                                         "neg_rsub",  "scalar",   "layer",    "element",     "bn_before", "bn_after", "reversed",
                                         "mixed_order", "horner", "plus_minus", "completed"};

struct TorchIo {
    std::size_t samples = 0, features = 0;
    std::vector<double> inputs;
    std::map<std::string, std::vector<double>> outputs;  // per model, samples × outputs
};

std::vector<double> numbers(std::istream& in, std::size_t n) {
    std::vector<double> v(n);
    for (auto& x : v) in >> x;
    return v;
}

const TorchIo& torch_io() {
    static const TorchIo io = [] {
        TorchIo r;
        std::ifstream f(kDir + "io.txt");
        std::string word;
        for (std::string line; std::getline(f, line);) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream ls(line);
            ls >> word;
            if (word == "inputs") {
                ls >> r.samples >> r.features;
                r.inputs = numbers(f, r.samples * r.features);
            } else if (word == "model") {
                std::string name;
                std::size_t k = 0;
                ls >> name >> k;
                r.outputs[name] = numbers(f, r.samples * k);
            }
        }
        return r;
    }();
    return io;
}

nn::Model load(const std::string& name) { return io::load_onnx(kDir + name + ".onnx"); }

// max |plan − reference| / max(1, max |reference|) on the given samples.
double plaintext_error(const nn::Model& m, const he::Plan& plan, const std::vector<double>& x, std::size_t samples) {
    const auto got = he::run_plaintext(plan, x, samples);
    const auto e = compare(m, x, samples, got);
    return e.max_abs / std::max(1.0, e.max_ref);
}

int squares(const he::Plan& p) {
    int n = 0;
    for (const auto& s : p.steps) n += s.kind == he::Step::Kind::Square ? static_cast<int>(s.output_count()) : 0;
    return n;
}

class TorchForm : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(TorchForms, TheFixtureHoldsEveryForm) {
    const auto& io = torch_io();
    ASSERT_EQ(io.samples, 4u);
    ASSERT_EQ(io.features, 36u);
    for (const auto& name : kForms) EXPECT_EQ(io.outputs.count(name), 1u) << name;
    EXPECT_EQ(io.outputs.count("product"), 1u);
    EXPECT_EQ(io.outputs.count("refuse_cube"), 1u);
}

TEST_P(TorchForm, ImportsCompilesToTheCanonicalStepsAndRunsEncrypted) {
    const std::string name = GetParam();
    const auto& io = torch_io();
    const nn::Model m = load(name);
    ASSERT_EQ(m.input_shape(), (nn::Shape{1, 6, 6}));
    // 1. The reference runner computes what PyTorch computed (float32 weights and arithmetic).
    const auto& want = io.outputs.at(name);
    nn::ReferenceRunner ref(m);
    for (std::size_t s = 0; s < io.samples; ++s) {
        const auto y = ref.run(std::span<const double>(io.inputs).subspan(s * io.features, io.features));
        ASSERT_EQ(y.size(), 3u);
        for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(y[k], want[s * 3 + k], 2e-5 * std::max(1.0, std::fabs(want[s * 3 + k]))) << "sample " << s;
    }
    // 2. The plan computes what the reference runner computes.
    const auto plan = he::compile(m);
    const std::size_t samples = 256;
    const auto x = random_inputs(samples * 36, 17, -2, 2);
    EXPECT_LE(plaintext_error(m, plan, x, samples), 1e-9) << plan.summary();
    // 3. The same HE steps as the canonical form: conv | square | linear, same counts.
    const auto canon = he::compile(load("canonical"));
    EXPECT_EQ(plan.depth, canon.depth);
    EXPECT_EQ(plan.depth, 3);
    EXPECT_EQ(squares(plan), squares(canon));
    EXPECT_EQ(squares(plan), 72);
    ASSERT_EQ(plan.steps.size(), canon.steps.size()) << plan.summary();
    for (std::size_t i = 0; i < plan.steps.size(); ++i) {
        EXPECT_EQ(plan.steps[i].kind, canon.steps[i].kind) << "step " << i;
        EXPECT_EQ(plan.steps[i].output_count(), canon.steps[i].output_count()) << "step " << i;
        EXPECT_EQ(plan.steps[i].macs(), canon.steps[i].macs()) << "step " << i << "\n" << plan.summary();
        EXPECT_EQ(plan.steps[i].lazy_relin, canon.steps[i].lazy_relin) << "step " << i;
    }
    // 4. Encrypted (N = 2^11, test-only parameters) against the reference runner.
    HeSetup he(plan, x, samples, insecure_small());
    const auto got = he.infer(plan, x, samples);
    const auto e = compare(m, x, samples, got);
    EXPECT_LE(e.max_abs, std::max(1.0, e.max_ref) / (1 << 20)) << "max |ref| " << e.max_ref;
    EXPECT_GT(e.max_ref, 0.1);
    std::printf("    %-12s depth %d, %d squares, %lld MACs; encrypted max |error| %.3g (max |ref| %.3g)\n", name.c_str(), plan.depth,
                squares(plan), static_cast<long long>(plan.steps[0].macs() + plan.steps.back().macs()), e.max_abs, e.max_ref);
}

INSTANTIATE_TEST_SUITE_P(Forms, TorchForm, ::testing::ValuesIn(kForms), [](const auto& info) { return info.param; });

TEST(TorchForms, CubeIsRefusedNamingTheNode) {
    const nn::Model m = load("refuse_cube");
    // The reference runner evaluates it (it is a valid model) …
    const auto& io = torch_io();
    const auto y = nn::ReferenceRunner(m).run(std::span<const double>(io.inputs).subspan(0, io.features));
    EXPECT_NEAR(y[0], io.outputs.at("refuse_cube")[0], 2e-5 * std::max(1.0, std::fabs(y[0])));
    // … the compiler refuses x·x·x, naming the node and what to do.
    try {
        he::compile(m);
        ADD_FAILURE() << "x*x*x compiled";
    } catch (const nn::ModelError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("node '/Mul_2' (Mul)"), std::string::npos) << msg;
        EXPECT_NE(msg.find("degree 3"), std::string::npos) << msg;
        EXPECT_NE(msg.find("a·x² + b·x + c"), std::string::npos) << msg;
        EXPECT_NE(msg.find("put a Conv or Linear layer"), std::string::npos) << msg;
    }
}

TEST(TorchForms, ProductOfTwoBranchesIsRefusedForNow) {
    const nn::Model m = load("product");
    try {
        he::compile(m);
        ADD_FAILURE() << "x*y compiled";
    } catch (const nn::ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("ciphertext × ciphertext"), std::string::npos) << e.what();
    }
}
