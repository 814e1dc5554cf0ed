// Seed corpus of the fuzz targets: a few small valid objects of each kind, in each
// target's input framing (fuzz_common.h and the comment at the top of each target).
// Usage: fuzz_make_corpus OUT_DIR  → OUT_DIR/<target>/seed-<name>
// (scripts/fuzz corpus runs it into fuzz/corpus; the fuzzers' minimised finds sit beside
// these seeds.)
#include <cstddef>
#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include <cmath>
#include <iostream>
#include <map>

#include "fuzz_common.h"
#include "hecnn/ckks/encoder.h"
#include "hecnn/ckks/encryptor.h"
#include "hecnn/ckks/evaluator.h"
#include "hecnn/ckks/galois.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/batch_file.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/plan_file.h"
#include "hecnn/io/predictions.h"

using namespace hecnn;
using namespace hecnn::fuzz;
namespace fs = std::filesystem;

namespace {

fs::path g_out;
int g_count = 0;

void seed(const std::string& target, const std::string& name, const Bytes& bytes) {
    fs::create_directories(g_out / target);
    write_file(g_out / target / ("seed-" + name), bytes);
    ++g_count;
}
Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
Bytes u16_prefixed(const Bytes& b) { return concat({{static_cast<std::uint8_t>(b.size()), static_cast<std::uint8_t>(b.size() >> 8)}, b}); }
Bytes be32(std::uint32_t v) { return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}; }

// ---- engine objects ----------------------------------------------------------------------

ckks::ContextPtr secure_context() {
    ckks::ParametersLiteral secure;  // 128-bit secure at N = 2^11: 18 + 16 + 18 ≤ 54 bits
    secure.log_n = 11;
    secure.data_prime_bits = {18, 16};
    secure.special_prime_bits = {18};
    secure.log_scale = 16;
    return ckks::Context::create(secure);
}

void engine_objects() {
    const auto& ctx = small_context();
    auto keygen = ckks::KeyGenerator::insecure_test_only_from_seed(ctx, math::Seed{7});
    const auto pk = keygen.create_public_key();
    const auto rk = keygen.create_relin_key();
    const ckks::Encoder encoder(ctx);
    const ckks::Encryptor enc(ctx, pk), enc_sk(ctx, keygen.secret_key());
    const ckks::Evaluator eval(ctx);
    std::vector<double> v(ctx->slots());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<double>(i + 1));
    const auto pt = encoder.encode(v);
    auto pt_ntt = pt;
    pt_ntt.set_ntt(true);
    const auto ct = enc.encrypt(pt);
    auto ct_low = ct;
    ct_low.drop_to_level(1);
    const auto ct3 = eval.multiply(ct, ct);
    const auto sct = enc_sk.encrypt_seeded(pt);
    const ckks::SerializeOptions z{.compress = true};
    const std::uint8_t R = kModeReseal, V = kModeVariant;

    seed("fuzz_parameters", "small-insecure", framed(V, ckks::serialize(*ctx)));
    seed("fuzz_parameters", "small-refused", framed(0, ckks::serialize(*ctx)));
    seed("fuzz_parameters", "secure-n2048", framed(0, ckks::serialize(*secure_context())));

    seed("fuzz_secret_key", "raw", framed(0, ckks::serialize(keygen.secret_key())));
    seed("fuzz_secret_key", "zstd", framed(R, ckks::serialize(keygen.secret_key(), z)));
    seed("fuzz_public_key", "raw", framed(0, ckks::serialize(pk)));
    seed("fuzz_public_key", "zstd", framed(R, ckks::serialize(pk, z)));
    seed("fuzz_relin_key", "full", framed(0, ckks::serialize(rk)));
    seed("fuzz_relin_key", "seeded", framed(R, ckks::serialize(rk, {.seeded = true})));
    seed("fuzz_relin_key", "seeded-zstd", framed(R, ckks::serialize(rk, {.seeded = true, .compress = true})));
    const std::vector<int> steps = {1, -1, 3};
    const auto gk = keygen.create_rotation_keys(steps, /*conjugation=*/true);
    const std::vector<int> one = {2};
    const auto gk1 = keygen.create_rotation_keys(one);
    seed("fuzz_galois_keys", "full", framed(0, ckks::serialize(gk)));
    seed("fuzz_galois_keys", "seeded", framed(R, ckks::serialize(gk, {.seeded = true})));
    seed("fuzz_galois_keys", "one-seeded", framed(R, ckks::serialize(gk1, {.seeded = true})));
    seed("fuzz_plaintext", "coeff", framed(0, ckks::serialize(pt)));
    seed("fuzz_plaintext", "ntt-zstd", framed(R, ckks::serialize(pt_ntt, z)));
    seed("fuzz_ciphertext", "full", framed(0, ckks::serialize(ct)));
    seed("fuzz_ciphertext", "level1-zstd", framed(R, ckks::serialize(ct_low, z)));
    seed("fuzz_ciphertext", "size3", framed(R, ckks::serialize(ct3)));
    seed("fuzz_ciphertext", "seeded-as-full", framed(0, ckks::serialize(sct)));
    seed("fuzz_ciphertext", "seeded", framed(V, ckks::serialize(sct)));
    seed("fuzz_ciphertext", "seeded-zstd", framed(V | R, ckks::serialize(sct, z)));

    // peek_header reads raw bytes: one object of each kind.
    seed("fuzz_peek_header", "parameters", ckks::serialize(*ctx));
    seed("fuzz_peek_header", "secret-key", ckks::serialize(keygen.secret_key(), z));
    seed("fuzz_peek_header", "relin-seeded", ckks::serialize(rk, {.seeded = true}));
    seed("fuzz_peek_header", "plaintext", ckks::serialize(pt));
    seed("fuzz_peek_header", "ciphertext-seeded", ckks::serialize(sct));
    seed("fuzz_peek_header", "galois-seeded", ckks::serialize(gk1, {.seeded = true}));
}

// ---- ONNX ----------------------------------------------------------------------------------

nn::Tensor ramp(nn::Shape s, double step) {
    nn::Tensor t(std::move(s));
    for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = step * static_cast<double>(static_cast<int>(i % 7) - 3);
    return t;
}
nn::Node node(nn::Op op, const std::string& name, std::vector<int> in, int out) {
    nn::Node n;
    n.op = op, n.name = name, n.inputs = std::move(in), n.output = out;
    return n;
}

// Pad → Conv → x² → BatchNorm → AveragePool → Concat → GlobalAveragePool → Flatten →
// Gemm: every operator hecnn exports, on a [2,6,6] input.
nn::Model every_op_model() {
    nn::Model m;
    m.input = m.add_value("input", {2, 6, 6});
    const int pad = m.add_value("pad"), conv = m.add_value("conv"), sq = m.add_value("sq"), act = m.add_value("act"), bn = m.add_value("bn"),
              pool = m.add_value("pool"), c2 = m.add_value("c2"), cat = m.add_value("cat"), gap = m.add_value("gap"), flat = m.add_value("flat");
    m.output = m.add_value("logits");
    auto p = node(nn::Op::Pad, "pad", {m.input}, pad);
    p.pads = {1, 0, 1, 2};
    m.nodes.push_back(p);
    auto c = node(nn::Op::Conv, "conv", {pad}, conv);
    c.weight = ramp({4, 2, 3, 3}, 0.1), c.bias = ramp({4}, 0.05), c.kernel = {3, 3};
    m.nodes.push_back(c);
    m.nodes.push_back(node(nn::Op::Mul, "sq", {conv, conv}, sq));
    auto a = node(nn::Op::Add, "c", {sq}, act);
    a.weight = nn::Tensor({1}, {0.125});
    m.nodes.push_back(a);
    auto b = node(nn::Op::BatchNorm, "bn", {act}, bn);
    b.weight = ramp({4}, 0.2), b.bias = ramp({4}, 0.1), b.mean = ramp({4}, 0.1), b.var = nn::Tensor({4}, {0.5, 1, 1.5, 2});
    m.nodes.push_back(b);
    auto ap = node(nn::Op::AveragePool, "pool", {bn}, pool);
    ap.kernel = {3, 3}, ap.stride = {2, 2}, ap.pads = {1, 1, 1, 1}, ap.count_include_pad = true;
    m.nodes.push_back(ap);
    auto c2n = node(nn::Op::Conv, "conv2", {pool}, c2);
    c2n.weight = ramp({2, 4, 1, 1}, 0.3), c2n.kernel = {1, 1};
    m.nodes.push_back(c2n);
    auto ct = node(nn::Op::Concat, "cat", {pool, c2}, cat);
    ct.axis = 0;
    m.nodes.push_back(ct);
    m.nodes.push_back(node(nn::Op::GlobalAveragePool, "gap", {cat}, gap));
    m.nodes.push_back(node(nn::Op::Reshape, "flatten", {gap}, flat));
    auto g = node(nn::Op::Gemm, "fc", {flat}, m.output);
    g.weight = ramp({3, 6}, 0.2), g.bias = ramp({3}, 0.1);
    m.nodes.push_back(g);
    m.preprocessing.mean = {0.5, 0.25};
    m.preprocessing.std = {0.5, 0.25};
    m.preprocessing.classes = {"cat", "dog", "emu"};
    m.infer_shapes();
    return m;
}

// Flat input, Gemm → x² (as Mul of a value by itself, and by a constant) → Gemm.
nn::Model mlp_model() {
    nn::Model m;
    m.input = m.add_value("x", {5});
    const int h = m.add_value("h"), s = m.add_value("s"), t = m.add_value("t");
    m.output = m.add_value("y");
    auto g1 = node(nn::Op::Gemm, "fc1", {m.input}, h);
    g1.weight = ramp({4, 5}, 0.1);
    m.nodes.push_back(g1);
    m.nodes.push_back(node(nn::Op::Mul, "sq", {h, h}, s));
    auto k = node(nn::Op::Mul, "k", {s}, t);
    k.weight = ramp({4}, 0.5);
    m.nodes.push_back(k);
    auto g2 = node(nn::Op::Gemm, "fc2", {t}, m.output);
    g2.weight = ramp({2, 4}, 0.1), g2.bias = ramp({2}, 0.1);
    m.nodes.push_back(g2);
    m.infer_shapes();
    return m;
}

void onnx_models(const fs::path& fixtures) {
    const auto a = io::serialize_onnx(every_op_model()), b = io::serialize_onnx(mlp_model());
    seed("fuzz_onnx", "every-op", bytes_of(a));
    seed("fuzz_onnx", "mlp", bytes_of(b));
    // PyTorch's own exports (tests/data), when the source tree is at hand.
    for (const char* f : {"torch_export_opset13.onnx", "torch_export_opset9.onnx"}) {
        std::ifstream in(fixtures / f, std::ios::binary);
        if (in) seed("fuzz_onnx", f, Bytes(std::istreambuf_iterator<char>(in), {}));
    }
}

// ---- data sets -----------------------------------------------------------------------------

Bytes gzip(const Bytes& raw) {
    z_stream zs{};
    if (deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("deflateInit2");
    Bytes out(deflateBound(&zs, raw.size()) + 32);
    zs.next_in = const_cast<Bytef*>(raw.data()), zs.avail_in = static_cast<uInt>(raw.size());
    zs.next_out = out.data(), zs.avail_out = static_cast<uInt>(out.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) fail("deflate");
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

void datasets() {
    // IDX: u8 limit ‖ u16-prefixed labels file ‖ images file. Three 4×3 images.
    const Bytes labels = concat({be32(0x801), be32(3), {0, 9, 4}});
    Bytes images = concat({be32(0x803), be32(3), be32(4), be32(3)});
    for (int i = 0; i < 36; ++i) images.push_back(static_cast<std::uint8_t>(i * 7));
    seed("fuzz_idx", "plain", concat({{0}, u16_prefixed(labels), images}));
    seed("fuzz_idx", "gzip-limit2", concat({{2}, u16_prefixed(gzip(labels)), gzip(images)}));

    // CIFAR-10: u8 limit ‖ u16-prefixed batches.meta.txt ‖ test_batch.bin (two records).
    Bytes batch;
    for (int r = 0; r < 2; ++r) {
        batch.push_back(static_cast<std::uint8_t>(3 + 5 * r));
        for (int i = 0; i < 3072; ++i) batch.push_back(static_cast<std::uint8_t>((i * 13 + r) & 0xff));
    }
    seed("fuzz_cifar10", "no-meta", concat({{0}, u16_prefixed({}), batch}));
    seed("fuzz_cifar10", "meta-limit1", concat({{1}, u16_prefixed(bytes_of("a\nb\nc\nd\ne\n\nf\ng\nh\ni\nj\n")), batch}));
}

// ---- images ---------------------------------------------------------------------------------

Bytes png(int w, int h, bool colour) {
    png_image img{};
    img.version = PNG_IMAGE_VERSION;
    img.width = static_cast<png_uint_32>(w), img.height = static_cast<png_uint_32>(h);
    img.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    Bytes px(PNG_IMAGE_SIZE(img));
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 37);
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&img, nullptr, &size, 0, px.data(), 0, nullptr)) fail("png size");
    Bytes out(size);
    if (!png_image_write_to_memory(&img, out.data(), &size, 0, px.data(), 0, nullptr)) fail("png write");
    out.resize(size);
    return out;
}

Bytes jpeg(int w, int h, bool colour, bool progressive) {
    jpeg_compress_struct c{};
    jpeg_error_mgr err{};
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char* mem = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = static_cast<JDIMENSION>(w), c.image_height = static_cast<JDIMENSION>(h);
    c.input_components = colour ? 3 : 1;
    c.in_color_space = colour ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 50, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    Bytes row(static_cast<std::size_t>(w * c.input_components));
    while (c.next_scanline < c.image_height) {
        for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<std::uint8_t>(i * 11 + c.next_scanline * 29);
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    Bytes out(mem, mem + size);
    jpeg_destroy_compress(&c);
    std::free(mem);
    return out;
}

void images() {
    // Mode byte: bit 0 JPEG, bit 1 8×8 output, bit 2 one augmented copy.
    seed("fuzz_image", "png-grey", concat({{0}, png(5, 3, false)}));
    seed("fuzz_image", "png-rgb", concat({{6}, png(3, 4, true)}));
    seed("fuzz_image", "jpeg-rgb", concat({{1}, jpeg(8, 8, true, false)}));
    seed("fuzz_image", "jpeg-grey", concat({{3}, jpeg(9, 5, false, false)}));
    seed("fuzz_image", "jpeg-progressive", concat({{1}, jpeg(16, 16, true, true)}));
}

// ---- the workflow's files (plan, evaluation keys, batches and results) ------------------------

io::PlanFile plan_for(const ckks::ContextPtr& ctx, std::size_t batch) {
    io::PlanFile p;
    p.params = ctx->literal();
    p.params_id = ctx->id();
    p.model_name = "mlp.onnx";
    p.model_digest = io::model_digest(io::serialize_onnx(mlp_model()));
    p.input_shape = {1, 2, 2};
    p.outputs = 2;
    p.preprocessing.mean = {0.5};
    p.preprocessing.std = {0.25};
    p.preprocessing.classes = {"no", "yes"};
    p.batch = batch;
    p.depth = ctx->max_level();
    p.lazy_relin = true;
    p.predicted_server_seconds = 0.25;
    p.predicted_peak_bytes = 1 << 20;
    p.batch_file_bytes = io::batch_file_bytes(*ctx, p.features());
    p.eval_keys_bytes = io::eval_keys_bytes(*ctx);
    return p;
}

Bytes read_all(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(f)), {});
}

void workflow_files(const ckks::ContextPtr& secure_ctx) {
    const auto& ctx = small_context();
    const std::uint8_t R = kModeReseal, V = kModeVariant, D = kModeDeep;
    // Plans: mode ‖ JSON; each must parse (checked here, so a seed is never stale).
    const std::string small = io::plan_to_json(plan_for(ctx, 8)), secure = io::plan_to_json(plan_for(secure_ctx, 1000));
    (void)io::parse_plan(small, true), (void)io::parse_plan(secure, false);
    seed("fuzz_plan", "small-insecure", concat({{static_cast<std::uint8_t>(V | R)}, bytes_of(small)}));
    seed("fuzz_plan", "secure-n2048", concat({{0}, bytes_of(secure)}));
    seed("fuzz_plan", "small-refused", concat({{0}, bytes_of(small)}));

    auto keygen = ckks::KeyGenerator::insecure_test_only_from_seed(ctx, math::Seed{9});
    const auto rk = keygen.create_relin_key();
    const Bytes bundle = io::serialize_eval_keys(*ctx, rk);
    (void)io::load_eval_keys(bundle, true);
    seed("fuzz_eval_keys", "small", framed(V, bundle));
    seed("fuzz_eval_keys", "small-deep", framed(V | D | R, bundle));

    const ckks::Encoder encoder(ctx);
    const ckks::Encryptor enc_sk(ctx, keygen.secret_key());
    std::vector<ckks::SeededCiphertext> seeded;
    std::vector<ckks::Ciphertext> full;
    for (int f = 0; f < 2; ++f) {
        std::vector<double> v(3, 0.25 * (f + 1));
        seeded.push_back(enc_sk.encrypt_seeded(encoder.encode(v)));
        auto ct = enc_sk.encrypt(encoder.encode(v));
        ct.drop_to_level(1);
        full.push_back(std::move(ct));
    }
    io::BatchInfo info;
    info.samples = 3;
    info.keyset_id = io::keyset_id_of(rk);
    info.level = ctx->max_level();
    const fs::path tmp = scratch_dir() / "batch.bin";
    io::write_batch(tmp, *ctx, info, std::span<const ckks::SeededCiphertext>(seeded));
    seed("fuzz_batch", "batch", framed(0, read_all(tmp)));
    seed("fuzz_batch", "batch-deep", framed(D | R, read_all(tmp)));
    info.level = 1;
    info.source.fill(0xab);
    io::write_batch(tmp, *ctx, info, std::span<const ckks::Ciphertext>(full));
    seed("fuzz_batch", "result", framed(V, read_all(tmp)));

    // Predictions: mode (bit 0: JSON) ‖ the file write_predictions writes; each reads back.
    io::Predictions p;
    p.classes = {"T-shirt/top", "a \"quoted\", name"};
    p.names = {"fashion-mnist test #0", "scan, 2"};
    p.labels = {1, -1};
    p.scores = {0.125, -3.5e-7, 1e300, -0.0};
    p.outputs = 2;
    for (const bool json : {false, true}) {
        const fs::path f = scratch_dir() / (json ? "p.json" : "p.csv");
        io::write_predictions(f, p, "seed", true);
        (void)io::read_predictions(f);
        seed("fuzz_predictions", json ? "json" : "csv", framed(json ? 1 : 0, read_all(f)));
    }
    p.labels.clear(), p.classes.clear();
    const fs::path f = scratch_dir() / "bare.csv";
    io::write_predictions(f, p, "seed", true);
    seed("fuzz_predictions", "csv-bare", framed(0, read_all(f)));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        std::cerr << "usage: fuzz_make_corpus OUT_DIR [ONNX_FIXTURE_DIR]\n";
        return 2;
    }
    g_out = argv[1];
    engine_objects();
    onnx_models(argc == 3 ? fs::path(argv[2]) : fs::path());
    datasets();
    images();
    workflow_files(secure_context());
    std::cout << "fuzz_make_corpus: " << g_count << " seeds in " << g_out.string() << "\n";
    return 0;
}
