// ONNX export/import: round trips, PyTorch's own exports (fixtures made by
// tests/data/make_torch_fixture.py), and hostile files.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <random>

#include "hecnn/io/onnx.h"
#include "hecnn/nn/reference.h"

using namespace hecnn;

namespace {

nn::Node make(nn::Op op, std::string name, std::vector<int> in, int out) {
    nn::Node n;
    n.op = op;
    n.name = std::move(name);
    n.inputs = std::move(in);
    n.output = out;
    return n;
}

nn::Tensor random_tensor(nn::Shape s, std::mt19937_64& rng, double scale = 0.3) {
    nn::Tensor t(s);
    std::normal_distribution<double> d(0, scale);
    for (auto& v : t.data) v = d(rng);
    return t;
}

// Every operator once: Pad, Conv, poly activation, BatchNorm, AveragePool, Concat,
// GlobalAveragePool, Reshape, Gemm.
nn::Model every_op_model() {
    std::mt19937_64 rng(5);
    nn::Model m;
    m.input = m.add_value("input", {2, 6, 6});
    int pad = m.add_value("pad"), conv = m.add_value("conv"), sq = m.add_value("sq"), ax = m.add_value("ax"), bx = m.add_value("bx"), s = m.add_value("s"),
        act = m.add_value("act"), bn = m.add_value("bn"), pool = m.add_value("pool"), c2 = m.add_value("c2"), cat = m.add_value("cat"), gap = m.add_value("gap"),
        flat = m.add_value("flat");
    m.output = m.add_value("logits");
    nn::Node p = make(nn::Op::Pad, "pad", {m.input}, pad);
    p.pads = {1, 0, 1, 2};
    m.nodes.push_back(p);
    nn::Node c = make(nn::Op::Conv, "conv", {pad}, conv);
    c.weight = random_tensor({4, 2, 3, 3}, rng);
    c.bias = random_tensor({4}, rng);
    c.kernel = {3, 3};
    m.nodes.push_back(c);
    m.nodes.push_back(make(nn::Op::Mul, "sq", {conv, conv}, sq));
    nn::Node na = make(nn::Op::Mul, "a", {sq}, ax);
    na.weight = random_tensor({4, 1, 1}, rng, 0.1);
    m.nodes.push_back(na);
    nn::Node nb = make(nn::Op::Mul, "b", {conv}, bx);
    nb.weight = random_tensor({4, 6, 6}, rng);
    m.nodes.push_back(nb);
    m.nodes.push_back(make(nn::Op::Add, "ab", {ax, bx}, s));
    nn::Node nc = make(nn::Op::Add, "c", {s}, act);
    nc.weight = nn::Tensor({1}, {0.125});
    m.nodes.push_back(nc);
    nn::Node b = make(nn::Op::BatchNorm, "bn", {act}, bn);
    b.weight = random_tensor({4}, rng);
    b.bias = random_tensor({4}, rng);
    b.mean = random_tensor({4}, rng);
    b.var = nn::Tensor({4}, {0.5, 1, 1.5, 2});
    m.nodes.push_back(b);
    nn::Node ap = make(nn::Op::AveragePool, "pool", {bn}, pool);
    ap.kernel = {3, 3};
    ap.stride = {2, 2};
    ap.pads = {1, 1, 1, 1};
    ap.count_include_pad = true;
    m.nodes.push_back(ap);
    nn::Node c2n = make(nn::Op::Conv, "conv2", {pool}, c2);
    c2n.weight = random_tensor({2, 4, 1, 1}, rng);
    c2n.kernel = {1, 1};
    m.nodes.push_back(c2n);
    nn::Node ct = make(nn::Op::Concat, "cat", {pool, c2}, cat);
    ct.axis = 0;
    m.nodes.push_back(ct);
    m.nodes.push_back(make(nn::Op::GlobalAveragePool, "gap", {cat}, gap));
    m.nodes.push_back(make(nn::Op::Reshape, "flatten", {gap}, flat));
    nn::Node g = make(nn::Op::Gemm, "fc", {flat}, m.output);
    g.weight = random_tensor({3, 6}, rng);
    g.bias = random_tensor({3}, rng);
    m.nodes.push_back(g);
    m.preprocessing.mean = {0.25, 0.5};
    m.preprocessing.std = {0.5, 2};
    m.preprocessing.classes = {"a", "b c", "d"};
    m.metadata["hecnn.architecture"] = "test";
    m.infer_shapes();
    return m;
}

// A minimal valid ONNX model (input [N,2] → Gemm → output) to be broken by each test.
onnx::ModelProto tiny_proto() {
    onnx::ModelProto mp;
    mp.set_ir_version(8);
    auto* o = mp.add_opset_import();
    o->set_version(13);
    auto* g = mp.mutable_graph();
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param("N");
    tt->mutable_shape()->add_dim()->set_dim_value(2);
    auto* w = g->add_initializer();
    w->set_name("W");
    w->set_data_type(onnx::TensorProto::FLOAT);
    w->add_dims(2);
    w->add_dims(3);
    for (int i = 0; i < 6; ++i) w->add_float_data(0.5f * i);
    auto* n = g->add_node();
    n->set_name("fc");
    n->set_op_type("MatMul");
    n->add_input("x");
    n->add_input("W");
    n->add_output("y");
    g->add_output()->set_name("y");
    return mp;
}

std::string bytes_of(const onnx::ModelProto& mp) {
    std::string s;
    mp.SerializeToString(&s);
    return s;
}

void expect_error(const std::string& bytes, const std::string& needle) {
    try {
        io::parse_onnx(bytes);
        ADD_FAILURE() << "accepted; expected an error mentioning '" << needle << "'";
    } catch (const io::OnnxError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

}  // namespace

TEST(Onnx, ExportImportRoundTripIsExact) {
    nn::Model m = every_op_model();
    const std::string bytes = io::serialize_onnx(m);  // runs the ONNX checker
    nn::Model back = io::parse_onnx(bytes);
    EXPECT_EQ(back.input_shape(), m.input_shape());
    EXPECT_EQ(back.output_shape(), (nn::Shape{3}));
    EXPECT_EQ(back.preprocessing.mean, m.preprocessing.mean);
    EXPECT_EQ(back.preprocessing.std, m.preprocessing.std);
    EXPECT_EQ(back.preprocessing.classes, m.preprocessing.classes);
    EXPECT_EQ(back.metadata.at("hecnn.architecture"), "test");
    std::mt19937_64 rng(9);
    std::normal_distribution<double> d;
    std::vector<double> x(72);
    for (auto& v : x) v = d(rng);
    auto y0 = nn::ReferenceRunner(m).run(x), y1 = nn::ReferenceRunner(back).run(x);
    ASSERT_EQ(y0.size(), y1.size());
    // Weights travel as float32: agreement to float precision.
    for (size_t i = 0; i < y0.size(); ++i) EXPECT_NEAR(y0[i], y1[i], 1e-5 * (1 + std::abs(y0[i])));
}

TEST(Onnx, ReadsPlainTorchExports) {
    std::ifstream io_file(std::string(HECNN_TEST_DATA) + "/torch_export_io.txt");
    std::vector<double> nums;
    for (std::string line; std::getline(io_file, line);)
        if (!line.empty() && line[0] != '#') nums.push_back(std::stod(line));
    ASSERT_EQ(nums.size(), 2u * 64 + 2u * 10);
    for (const char* f : {"torch_export_opset13.onnx", "torch_export_opset9.onnx"}) {
        nn::Model m = io::load_onnx(std::string(HECNN_TEST_DATA) + "/" + f);
        EXPECT_EQ(m.input_shape(), (nn::Shape{1, 8, 8})) << f;
        nn::ReferenceRunner r(m);
        for (int i = 0; i < 2; ++i) {
            auto y = r.run(std::span<const double>(nums.data() + 64 * i, 64));
            ASSERT_EQ(y.size(), 10u);
            for (int k = 0; k < 10; ++k) EXPECT_NEAR(y[k], nums[128 + 10 * i + k], 1e-4) << f << " sample " << i << " logit " << k;
        }
        // And our export of it passes the checker and reads back.
        EXPECT_NO_THROW(io::parse_onnx(io::serialize_onnx(m)));
    }
}

TEST(Onnx, IdentityConstantAndTransposedGemm) {
    auto mp = tiny_proto();
    auto* g = mp.mutable_graph();
    // x → Identity → MatMul(W) → y2 ; Gemm(transB) with a Constant bias → y
    g->mutable_node(0)->set_input(0, "xi");
    g->mutable_node(0)->set_output(0, "h");
    auto* id = g->add_node();
    id->set_op_type("Identity");
    id->set_name("id");
    id->add_input("x");
    id->add_output("xi");
    g->mutable_node()->SwapElements(0, 1);
    auto* c = g->add_node();
    c->set_op_type("Constant");
    c->set_name("bias");
    c->add_output("bias_v");
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_dims(2);
    a->mutable_t()->add_float_data(1.f);
    a->mutable_t()->add_float_data(-1.f);
    auto* w2 = g->add_initializer();
    w2->set_name("W2");
    w2->set_data_type(onnx::TensorProto::FLOAT);
    w2->add_dims(2);
    w2->add_dims(3);  // [M=2, K=3]
    for (int i = 0; i < 6; ++i) w2->add_float_data(static_cast<float>(i));
    auto* gm = g->add_node();
    gm->set_op_type("Gemm");
    gm->set_name("gemm");
    gm->add_input("h");
    gm->add_input("W2");
    gm->add_input("bias_v");
    gm->add_output("y");
    auto* tb = gm->add_attribute();
    tb->set_name("transB");
    tb->set_type(onnx::AttributeProto::INT);
    tb->set_i(1);
    nn::Model m = io::parse_onnx(bytes_of(mp));
    auto y = nn::ReferenceRunner(m).run(std::vector<double>{1, 2});
    // h = x·W with W = [[0,.5,1],[1.5,2,2.5]] → [3, 4.5, 6]; y = W2·h + bias.
    EXPECT_DOUBLE_EQ(y[0], 0 * 3 + 1 * 4.5 + 2 * 6 + 1);
    EXPECT_DOUBLE_EQ(y[1], 3 * 3 + 4 * 4.5 + 5 * 6 - 1);
}

TEST(Onnx, RejectsNonPolynomialOperatorsByNameSayingWhatToUse) {
    const std::pair<const char*, const char*> cases[] = {{"Relu", "a·x² + b·x + c"},   {"Sigmoid", "a·x² + b·x + c"},
                                                         {"LeakyRelu", "docs/TRAINING.md"}, {"MaxPool", "average pooling"},
                                                         {"GlobalMaxPool", "AveragePool"},  {"Softmax", "export the model without it"},
                                                         {"Exp", "Pow 2"}};
    for (const auto& [op, use] : cases) {
        auto mp = tiny_proto();
        auto* n = mp.mutable_graph()->add_node();
        n->set_op_type(op);
        n->set_name("bad_node");
        n->add_input("y");
        n->add_output("z");
        mp.mutable_graph()->mutable_output(0)->set_name("z");
        try {
            io::parse_onnx(bytes_of(mp));
            ADD_FAILURE() << op << " accepted";
        } catch (const io::OnnxError& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find(std::string("node 'bad_node' (") + op + ")"), std::string::npos) << msg;
            EXPECT_NE(msg.find("non-polynomial"), std::string::npos) << msg;
            EXPECT_NE(msg.find(use), std::string::npos) << msg;
        }
    }
    auto mp = tiny_proto();
    mp.mutable_graph()->mutable_node(0)->set_op_type("LSTM");
    expect_error(bytes_of(mp), "unsupported operator");
}

// Sub, Neg, Div and Pow as torch emits them: lowered to Add and Mul by constants, checked
// against the direct arithmetic; what is not a polynomial is refused by name.
TEST(Onnx, SubNegDivPowAreLoweredAndValidated) {
    // y = x·W (2 values); then one node `op(lhs, rhs)` on y and/or a constant k.
    auto model = [](const char* op, std::vector<std::string> ins, std::vector<float> k) {
        auto mp = tiny_proto();
        auto* g = mp.mutable_graph();
        if (!k.empty()) {
            auto* t = g->add_initializer();
            t->set_name("k");
            t->set_data_type(onnx::TensorProto::FLOAT);
            if (k.size() > 1) t->add_dims(static_cast<int64_t>(k.size()));
            for (float v : k) t->add_float_data(v);
        }
        auto* n = g->add_node();
        n->set_op_type(op);
        n->set_name("op_node");
        for (const auto& i : ins) n->add_input(i);
        n->add_output("z");
        g->mutable_output(0)->set_name("z");
        return bytes_of(mp);
    };
    // x = [1, 2]: y = [0·1 + 1.5·2, 0.5 + 4, 1 + 5] = [3, 4.5, 6]
    const std::vector<double> x{1, 2};
    const std::vector<double> y{3, 4.5, 6};
    auto run = [&](const std::string& bytes) { return nn::ReferenceRunner(io::parse_onnx(bytes)).run(x); };
    const struct {
        const char* op;
        std::vector<std::string> ins;
        std::vector<float> k;
        double (*f)(double);
    } ok[] = {
        {"Sub", {"y", "k"}, {0.5f}, [](double v) { return v - 0.5; }},
        {"Sub", {"k", "y"}, {0.5f}, [](double v) { return 0.5 - v; }},
        {"Sub", {"y", "y"}, {}, [](double) { return 0.0; }},
        {"Neg", {"y"}, {}, [](double v) { return -v; }},
        {"Div", {"y", "k"}, {4.0f}, [](double v) { return v / 4; }},
        {"Pow", {"y", "k"}, {2.0f}, [](double v) { return v * v; }},
        {"Pow", {"y", "k"}, {1.0f}, [](double v) { return v; }},
    };
    for (const auto& c : ok) {
        const auto z = run(model(c.op, c.ins, c.k));
        ASSERT_EQ(z.size(), 3u) << c.op;
        for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(z[i], c.f(y[i])) << c.op << " " << i;
    }
    expect_error(model("Div", {"y", "y"}, {}), "node 'op_node' (Div): division by a computed value is not a polynomial");
    expect_error(model("Div", {"k", "y"}, {2.0f}), "constant / computed value (1/x) is not a polynomial");
    expect_error(model("Div", {"y", "k"}, {0.0f}), "node 'op_node' (Div): division by zero");
    expect_error(model("Pow", {"y", "k"}, {3.0f}), "node 'op_node' (Pow): exponent 3 is not supported");
    expect_error(model("Pow", {"y", "k"}, {0.5f}), "exponent 0.5 is not supported");
    expect_error(model("Pow", {"y", "k"}, {2.0f, 2.0f}), "exponent of shape [2] is not supported");
    expect_error(model("Pow", {"y", "y"}, {}), "the exponent must be a constant");
}

// Found by fuzz/fuzz_onnx: pads given as a double tensor were cast to int64 unchecked
// (1e300 → undefined behaviour). Non-integral or huge pads must be refused by name.
TEST(Onnx, PadValuesAreRangeCheckedBeforeConversion) {
    for (double bad : {1e300, -1e300, 1.5, 4e18}) {
        onnx::ModelProto mp;
        mp.set_ir_version(8);
        mp.add_opset_import()->set_version(13);
        auto* g = mp.mutable_graph();
        auto* in = g->add_input();
        in->set_name("x");
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        tt->mutable_shape()->add_dim()->set_dim_param("N");
        for (int d : {1, 4, 4}) tt->mutable_shape()->add_dim()->set_dim_value(d);
        auto* pads = g->add_initializer();
        pads->set_name("pads");
        pads->set_data_type(onnx::TensorProto::DOUBLE);
        pads->add_dims(8);
        for (double v : {0.0, 0.0, bad, 0.0, 0.0, 0.0, 0.0, 0.0}) pads->add_double_data(v);
        auto* n = g->add_node();
        n->set_name("pad");
        n->set_op_type("Pad");
        n->add_input("x");
        n->add_input("pads");
        n->add_output("y");
        g->add_output()->set_name("y");
        expect_error(bytes_of(mp), "pads must be integers");
    }
}

TEST(Onnx, RejectsHostileFiles) {
    expect_error("", "no graph");
    expect_error("this is not a protobuf \xff\xff\xff\xff", "");
    {
        std::string b = bytes_of(tiny_proto());
        for (size_t cut : {b.size() / 2, b.size() - 3}) {
            try {
                io::parse_onnx(b.substr(0, cut));
            } catch (const io::OnnxError&) {
            }  // must not crash; an error or (rarely) a smaller valid prefix
        }
    }
    {  // 2^40 elements declared: refused before any allocation
        auto mp = tiny_proto();
        auto* w = mp.mutable_graph()->mutable_initializer(0);
        w->clear_dims();
        w->add_dims(int64_t{1} << 20);
        w->add_dims(int64_t{1} << 20);
        expect_error(bytes_of(mp), "elements");
    }
    {  // data shorter than the shape
        auto mp = tiny_proto();
        mp.mutable_graph()->mutable_initializer(0)->clear_float_data();
        mp.mutable_graph()->mutable_initializer(0)->set_raw_data(std::string(5, '\0'));
        expect_error(bytes_of(mp), "bytes");
    }
    {  // negative dimension
        auto mp = tiny_proto();
        mp.mutable_graph()->mutable_initializer(0)->set_dims(0, -2);
        expect_error(bytes_of(mp), "negative");
    }
    {  // weight shape that does not fit the input
        auto mp = tiny_proto();
        mp.mutable_graph()->mutable_initializer(0)->set_dims(0, 3);
        mp.mutable_graph()->mutable_initializer(0)->set_dims(1, 2);
        expect_error(bytes_of(mp), "fc");
    }
    {  // undefined input
        auto mp = tiny_proto();
        mp.mutable_graph()->mutable_node(0)->set_input(1, "nowhere");
        expect_error(bytes_of(mp), "not defined");
    }
    {  // dynamic feature dimension
        auto mp = tiny_proto();
        mp.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_param("K");
        expect_error(bytes_of(mp), "fixed positive size");
    }
    {  // NaN weight
        auto mp = tiny_proto();
        mp.mutable_graph()->mutable_initializer(0)->set_float_data(2, std::nanf(""));
        expect_error(bytes_of(mp), "non-finite");
    }
    {  // external data
        auto mp = tiny_proto();
        mp.mutable_graph()->mutable_initializer(0)->set_data_location(onnx::TensorProto::EXTERNAL);
        expect_error(bytes_of(mp), "external");
    }
    {  // too many nodes
        auto mp = tiny_proto();
        nn::Limits lim;
        lim.max_nodes = 0;
        EXPECT_THROW(io::parse_onnx(bytes_of(mp), lim), io::OnnxError);
    }
    {  // conv with a kernel larger than the input
        onnx::ModelProto mp = tiny_proto();
        auto* g = mp.mutable_graph();
        auto* sh = g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
        sh->mutable_dim(1)->set_dim_value(1);
        sh->add_dim()->set_dim_value(2);
        sh->add_dim()->set_dim_value(2);
        auto* w = g->mutable_initializer(0);
        w->clear_dims();
        w->clear_float_data();
        for (int d : {1, 1, 3, 3}) w->add_dims(d);
        for (int i = 0; i < 9; ++i) w->add_float_data(1);
        g->mutable_node(0)->set_op_type("Conv");
        expect_error(bytes_of(mp), "kernel larger");
    }
    // Random mutations of a valid file never crash (errors are fine).
    const std::string good = io::serialize_onnx(every_op_model());
    std::mt19937_64 rng(1);
    nn::Limits small;  // keep any mutated-but-valid model quick to run
    small.max_value_elements = 1 << 16;
    small.max_macs_per_sample = 1 << 22;
    for (int i = 0; i < 300; ++i) {
        std::string b = good;
        for (int k = 0; k < 4; ++k) b[rng() % b.size()] = static_cast<char>(rng());
        try {
            nn::Model m = io::parse_onnx(b, small);
            std::vector<double> x(static_cast<size_t>(nn::element_count(m.input_shape())), 0.5);
            nn::ReferenceRunner(m).run(x);
        } catch (const std::exception&) {
        }
    }
}
