// Every way a PyTorch user writes a polynomial of degree ≤ 2, and products of two different
// encrypted values, as torch.onnx.export emits them (tests/data/make_torch_forms.py, one
// model per form: conv → FORM → linear). Each model is imported, run by the reference runner
// against PyTorch's own outputs, compiled, checked in plaintext (he::run_plaintext) against
// the reference runner, compared step for step with the canonical a·x² + b·x + c (same
// steps, depth, squares and MACs: the form costs nothing extra) or, for a product, checked
// for its product step and depth, and run encrypted at small insecure parameters against
// the reference.
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

// The products of two different encrypted values (make_torch_forms.py): name and the
// depth the rules give — conv 1, a product one above its deeper operand, linear 72 → 3 one
// more. x = conv(i), z = conv2(i) are at depth 1, x·x at 2.
struct ProductForm {
    std::string name;
    int depth;
};
void PrintTo(const ProductForm& p, std::ostream* os) { *os << p.name; }  // (test names in ctest)
const std::vector<ProductForm> kProducts = {
    {"product", 3},              // x·z + b·x: x·z at 2
    {"plus_minus_branches", 3},  // (x + 1)·(z − 1)·a + b·x: x·z at 2
    {"cube", 4},                 // a·x·x·x + b·x: (x·x)·x at 3
    {"cube_branch", 4},          // x·x·z·a + b·x: (x·x)·z at 3
};

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

// The reference runner gives PyTorch's stored outputs (float32 weights and arithmetic).
void expect_torch_outputs(const nn::Model& m, const std::string& name) {
    const auto& io = torch_io();
    const auto& want = io.outputs.at(name);
    nn::ReferenceRunner ref(m);
    for (std::size_t s = 0; s < io.samples; ++s) {
        const auto y = ref.run(std::span<const double>(io.inputs).subspan(s * io.features, io.features));
        ASSERT_EQ(y.size(), 3u);
        for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(y[k], want[s * 3 + k], 2e-5 * std::max(1.0, std::fabs(want[s * 3 + k]))) << "sample " << s;
    }
}

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
    for (const auto& p : kProducts) EXPECT_EQ(io.outputs.count(p.name), 1u) << p.name;
}

TEST_P(TorchForm, ImportsCompilesToTheCanonicalStepsAndRunsEncrypted) {
    const std::string name = GetParam();
    const nn::Model m = load(name);
    ASSERT_EQ(m.input_shape(), (nn::Shape{1, 6, 6}));
    // 1. The reference runner computes what PyTorch computed (float32 weights and arithmetic).
    expect_torch_outputs(m, name);
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

class TorchProduct : public ::testing::TestWithParam<ProductForm> {};

TEST_P(TorchProduct, CompilesToAProductStepAndRunsEncrypted) {
    const auto& [name, depth] = GetParam();
    const nn::Model m = load(name);
    // 1. The reference runner computes what PyTorch computed.
    expect_torch_outputs(m, name);
    const std::size_t samples = 256;
    const auto x = random_inputs(samples * 36, 19, -2, 2);
    for (bool lazy : {true, false}) {
        // 2. One product step (arity 2) of 72 outputs, each one level below its deeper operand.
        const auto plan = he::compile(m, {.lazy_relin = lazy});
        EXPECT_LE(plaintext_error(m, plan, x, samples), 1e-9) << plan.summary();
        EXPECT_EQ(plan.depth, depth) << plan.summary();
        int products = 0;
        for (const auto& st : plan.steps) {
            if (st.kind != he::Step::Kind::Square || st.arity != 2) continue;
            for (std::size_t i = 0; i < st.outputs.size(); ++i) {
                const auto op = st.operands(i);
                ASSERT_NE(op[0], op[1]);
                EXPECT_EQ(plan.wire_depth[st.outputs[i]], std::max(plan.wire_depth[op[0]], plan.wire_depth[op[1]]) + 1);
                ++products;
            }
            // It feeds the 3 logits only: 72 relinearisations deferred to 3 when lazy.
            EXPECT_EQ(st.lazy_relin, lazy) << plan.summary();
        }
        EXPECT_EQ(products, 72) << plan.summary();
        // 3. Encrypted (N = 2^11, test-only parameters) against the reference runner.
        HeSetup he(plan, x, samples, insecure_small());
        const auto got = he.infer(plan, x, samples);
        const auto e = compare(m, x, samples, got);
        EXPECT_LE(e.max_abs, std::max(1.0, e.max_ref) / (1 << 20)) << "max |ref| " << e.max_ref;
        EXPECT_GT(e.max_ref, 0.1);
        std::printf("    %-20s %s: depth %d, %d products, %d squares; encrypted max |error| %.3g (max |ref| %.3g)\n", name.c_str(),
                    lazy ? "lazy " : "eager", plan.depth, products, squares(plan) - products, e.max_abs, e.max_ref);
    }
}

INSTANTIATE_TEST_SUITE_P(Products, TorchProduct, ::testing::ValuesIn(kProducts), [](const auto& info) { return info.param.name; });
