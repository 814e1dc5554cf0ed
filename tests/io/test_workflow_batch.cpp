// Batch and result files: round trips, and every refusal of the reader and of the
// server's upload check (truncation, flipped bytes, wrong kind, parameters, key set,
// count, trailing bytes, oversized declarations), and atomic writes.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>

#include "io/test_workflow_fixture.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

struct BatchTest : ::testing::Test {
    static void SetUpTestSuite() {
        w = new KeyedWorkflow();
        info = w->encrypt("batch", 11);
        good = read_bytes(w->dir / "batch");
    }
    static void TearDownTestSuite() { delete w; }
    static std::size_t F() { return w->plan.features(); }
    static std::size_t max() { return w->plan.batch_file_bytes; }
    io::BatchInfo verify(const fs::path& p) const { return io::verify_batch_file(p, *w->eval.ctx, w->eval.keyset_id, F(), max()); }
    fs::path put(const std::string& name, std::span<const std::uint8_t> bytes) const {
        write_bytes(w->dir / name, bytes);
        return w->dir / name;
    }
    static KeyedWorkflow* w;
    static io::BatchInfo info;
    static std::vector<std::uint8_t> good;
};
KeyedWorkflow* BatchTest::w = nullptr;
io::BatchInfo BatchTest::info;
std::vector<std::uint8_t> BatchTest::good;

}  // namespace

TEST_F(BatchTest, RoundTripGivesTheEncryptedValues) {
    EXPECT_FALSE(info.is_result);
    EXPECT_EQ(info.samples, 11u);
    EXPECT_EQ(info.count, F());
    EXPECT_EQ(info.keyset_id, w->keys.keyset_id);
    EXPECT_EQ(info.model_id, w->plan.model_id());
    EXPECT_EQ(info.file_bytes, good.size());
    const auto v = verify(w->dir / "batch");
    EXPECT_EQ(v.checksum, info.checksum);
    EXPECT_EQ(v.level, w->keys.ctx->max_level());
    // Decrypting input ciphertext f gives feature f of every image.
    const io::BatchReader r(w->dir / "batch", w->keys.ctx, max());
    const ckks::Encoder enc(w->keys.ctx);
    const ckks::Decryptor dec(w->keys.ctx, w->keys.secret);
    for (std::size_t f : {std::size_t{0}, F() / 2, F() - 1}) {
        const auto got = enc.decode(dec.decrypt(r.ciphertext(f)));
        for (std::size_t b = 0; b < 11; ++b) EXPECT_NEAR(got[b], w->inputs[b * F() + f], 1e-6) << f << " " << b;
    }
    EXPECT_THROW(r.ciphertext(F()), std::out_of_range);
}

TEST_F(BatchTest, ResultRoundTrip) {
    const auto& ctx = w->keys.ctx;
    const ckks::Encoder enc(ctx);
    const ckks::Encryptor e(ctx, w->keys.secret);
    std::vector<ckks::Ciphertext> cts;
    for (int k = 0; k < 3; ++k) cts.push_back(e.encrypt(enc.encode(std::vector<double>(5, k + 0.25), ctx->scale(), 1)));
    io::BatchInfo out;
    out.keyset_id = w->keys.keyset_id;
    out.samples = 5;
    out.level = 1;
    out.source = info.checksum;
    const auto written = io::write_batch(w->dir / "result", *ctx, out, cts);
    EXPECT_TRUE(written.is_result);
    EXPECT_EQ(written.file_bytes, io::result_file_bytes(*ctx, 3, 1));
    const io::BatchReader r(w->dir / "result", ctx, written.file_bytes, io::BatchKind::result);
    EXPECT_EQ(r.info().source, info.checksum);
    EXPECT_EQ(r.info().count, 3u);
    const auto d = io::decrypt_result_file(w->keys, w->dir / "result");
    ASSERT_EQ(d.logits.size(), 15u);
    for (std::size_t b = 0; b < 5; ++b)
        for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(d.logits[b * 3 + k], k + 0.25, 1e-6);
    // A result is not a batch, and the other way round.
    expect_format_error([&] { verify(w->dir / "result"); }, "got an encrypted result");
    expect_format_error([&] { io::BatchReader(w->dir / "batch", ctx, max(), io::BatchKind::result); }, "got a batch");
}

TEST_F(BatchTest, RefusesTruncationAtEveryPrefix) {
    // Every prefix through the header, meta and first record header; then a dense sample
    // (every record boundary ± 1 and a stride) — the reader refuses all, from the size alone.
    std::vector<std::size_t> cuts;
    for (std::size_t n = 0; n < 200; ++n) cuts.push_back(n);
    const std::size_t rec = 8 + (good.size() - ckks::kHeaderSize - io::kBatchMetaBytes) / F();
    for (std::size_t i = 1; i <= F(); ++i)
        for (std::size_t d : {rec - 1, rec}) cuts.push_back(ckks::kHeaderSize + io::kBatchMetaBytes + (i - 1) * rec + d);
    for (std::size_t n = 200; n < good.size(); n += 4099) cuts.push_back(n);
    for (std::size_t n : cuts) {
        if (n >= good.size()) continue;
        const auto p = put("cut", std::span(good).first(n));
        EXPECT_THROW(verify(p), ckks::FormatError) << n;
    }
    expect_format_error([&] { verify(put("cut", std::span(good).first(good.size() - 1))); }, "truncated");
}

TEST_F(BatchTest, RefusesTrailingBytes) {
    auto longer = good;
    longer.push_back(0);
    const auto p = put("long", longer);
    expect_format_error([&] { io::verify_batch_file(p, *w->eval.ctx, w->eval.keyset_id, F(), max() + 1); }, "trailing");
    expect_format_error([&] { verify(p); }, "above the limit");  // the server's exact limit comes first
}

TEST_F(BatchTest, RefusesFlippedBytes) {
    // Every byte of header and meta, then a sample of the records: each flip is caught by
    // a field check or the checksum (the server never sees a silently altered batch).
    std::vector<std::size_t> at;
    for (std::size_t i = 0; i < ckks::kHeaderSize + io::kBatchMetaBytes + 100; ++i) at.push_back(i);
    for (std::size_t i = 300; i < good.size(); i += 2003) at.push_back(i);
    for (std::size_t i : at) {
        auto bad = good;
        bad[i] ^= 0x01;
        EXPECT_THROW(verify(put("flip", bad)), ckks::FormatError) << i;
    }
    auto bad = good;
    bad[good.size() / 2] ^= 0x80;
    expect_format_error([&] { verify(put("flip", bad)); }, "checksum");
}

TEST_F(BatchTest, RefusesOtherKinds) {
    expect_format_error([&] { verify(w->keydir() / io::kEvalKeysFile); }, "got evaluation keys");
    expect_format_error([&] { verify(w->keydir() / io::kSecretKeyFile); }, "SECRET KEY");
    expect_format_error([&] { verify(w->keydir() / io::kPlanCopyFile); }, "JSON");
    const auto rk = ckks::serialize(w->eval.relin, {.seeded = true});
    expect_format_error([&] { verify(put("rk", rk)); }, "expected a batch of encrypted images, got a relinearisation key");
    expect_format_error([&] { verify(put("empty", {})); }, "empty file");
}

TEST_F(BatchTest, RefusesOtherParameters) {
    KeyedWorkflow other;  // same plan shape, other keys; now other parameters too
    auto p = other.plan;
    p.params.log_scale = 39;
    p.params_id = ckks::Context::create(p.params)->id();
    io::create_keyset(p, other.dir / "k39", false);
    const auto k39 = io::load_client_keys(other.dir / "k39", true);
    expect_format_error([&] { io::verify_batch_file(w->dir / "batch", *k39.ctx, k39.keyset_id, F(), max()); }, "parameters");
}

TEST_F(BatchTest, RefusesAnotherKeySet) {
    KeyedWorkflow other;
    ASSERT_EQ(other.keys.ctx->id(), w->keys.ctx->id());  // same parameters, other keys
    expect_format_error([&] { io::verify_batch_file(w->dir / "batch", *other.eval.ctx, other.eval.keyset_id, F(), max()); }, "key set");
}

TEST_F(BatchTest, RefusesAWrongCiphertextCount) {
    expect_format_error([&] { io::verify_batch_file(w->dir / "batch", *w->eval.ctx, w->eval.keyset_id, F() + 1, max()); }, "model takes");
}

TEST_F(BatchTest, RefusesOversizedDeclarationsBeforeReading) {
    // Declared counts and lengths far beyond the file: refused from the header and meta,
    // nothing allocated for them (the reader's buffers are bounded by one record).
    std::vector<std::uint8_t> payload(good.begin() + ckks::kHeaderSize, good.end());
    auto count = payload;
    for (int i = 0; i < 8; ++i) count[16 + i] = 0xff;  // ciphertext count 2^64 − 1
    expect_format_error([&] { verify(put("count", rebuild_container(good, count))); }, "ciphertexts declared");
    auto big = payload;
    big[16] = 0, big[17] = 0, big[18] = 0, big[19] = 1;  // 2^24 ciphertexts: the limit, but the payload is not that long
    for (int i = 20; i < 24; ++i) big[i] = 0;
    expect_format_error([&] { verify(put("big", rebuild_container(good, big))); }, "payload bytes");
    auto len = payload;
    for (int i = 0; i < 8; ++i) len[io::kBatchMetaBytes + i] = 0xff;  // first record length 2^64 − 1
    expect_format_error([&] { verify(put("len", rebuild_container(good, len))); }, "declares");
    auto samples = payload;
    samples[8] = 0, samples[9] = 0x10;  // 4096 images > 1024 slots
    expect_format_error([&] { verify(put("samples", rebuild_container(good, samples))); }, "images declared");
    // A file above the caller's limit is refused before it is read.
    expect_format_error([&] { io::verify_batch_file(w->dir / "batch", *w->eval.ctx, w->eval.keyset_id, F(), good.size() - 1); }, "above the limit");
}

TEST_F(BatchTest, InterruptedWriteLeavesTheOriginalIntact) {
    const auto before = read_bytes(w->dir / "batch");
    const std::size_t files = files_in(w->dir.path());
    {
        // Fails half-way (a ciphertext of the wrong level): the writer is destroyed uncommitted.
        io::BatchInfo b;
        b.keyset_id = w->keys.keyset_id;
        b.samples = 2;
        b.count = 3;
        b.level = w->keys.ctx->max_level();
        io::BatchWriter writer(w->dir / "batch", *w->keys.ctx, b);
        const ckks::Encoder enc(w->keys.ctx);
        const ckks::Encryptor e(w->keys.ctx, w->keys.secret);
        writer.add(e.encrypt_seeded(enc.encode(std::vector<double>{1, 2}, w->keys.ctx->scale(), b.level)));
        EXPECT_THROW(writer.add(e.encrypt_seeded(enc.encode(std::vector<double>{1, 2}, w->keys.ctx->scale(), 0))), std::invalid_argument);
        EXPECT_THROW(writer.commit(), std::logic_error);  // 1 of 3 ciphertexts
    }
    EXPECT_EQ(read_bytes(w->dir / "batch"), before);
    EXPECT_EQ(files_in(w->dir.path()), files);  // no temporary left
    // Refusing to replace: the original stays.
    EXPECT_THROW(io::encrypt_batch_file(w->keys, w->inputs, 11, w->dir / "batch"), std::system_error);
    EXPECT_EQ(read_bytes(w->dir / "batch"), before);
    EXPECT_EQ(files_in(w->dir.path()), files);
}

TEST_F(BatchTest, AWriteFailingMidStreamLeavesTheOriginalIntact) {
    // The file-size limit makes write(2) fail half-way through (EFBIG), as a full disk
    // would — and it binds root too, unlike a read-only directory.
    const ScratchDir d;
    write_bytes(d / "batch", good);
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = good.size() / 2;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    EXPECT_THROW(io::encrypt_batch_file(w->keys, w->inputs, 11, d / "batch", {}, true), std::system_error);
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_EQ(read_bytes(d / "batch"), good);
    EXPECT_EQ(files_in(d.path()), 1u);  // the temporary is gone
}

TEST_F(BatchTest, LabelsSidecarRoundTrip) {
    io::BatchLabels l;
    l.batch = info.checksum;
    l.names = {"a.png", "b.png"};
    l.labels = {1, -1};
    l.classes = {"x", "y"};
    io::save_labels(io::labels_path(w->dir / "batch"), l);
    EXPECT_EQ(io::labels_path(w->dir / "batch").filename(), "batch.labels.json");
    const auto r = io::load_labels(io::labels_path(w->dir / "batch"));
    EXPECT_EQ(r.batch, l.batch);
    EXPECT_EQ(r.names, l.names);
    EXPECT_EQ(r.labels, l.labels);
    EXPECT_EQ(r.classes, l.classes);
    l.labels = {1, 2};  // 2 is not a class
    io::save_labels(w->dir / "bad.json", l);
    EXPECT_THROW(io::load_labels(w->dir / "bad.json"), ckks::FormatError);
    EXPECT_THROW(io::load_labels(w->dir / "batch"), ckks::FormatError);  // not JSON
}

// io::find_labels: among the sidecars next to a result, the one bound to the result's
// batch checksum; sidecars of other batches and broken ones are passed over.
TEST_F(BatchTest, FindLabelsPicksTheSidecarOfTheBatch) {
    const fs::path d = w->dir / "found";
    fs::create_directories(d);
    io::BatchLabels mine, other;
    mine.batch = info.checksum;
    mine.names = {"mine.png"};
    other.batch = info.checksum;
    other.batch[0] ^= 1;
    other.names = {"other.png"};
    io::save_labels(d / "a.labels.json", other);
    std::ofstream(d / "b.labels.json") << "{ broken";
    io::save_labels(d / "c.labels.json", mine);
    const auto found = io::find_labels(d / "result.hecnn", info.checksum);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->first, d / "c.labels.json");
    EXPECT_EQ(found->second.names, mine.names);
    fs::remove(d / "c.labels.json");
    EXPECT_FALSE(io::find_labels(d / "result.hecnn", info.checksum).has_value());
}
