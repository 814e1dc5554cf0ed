// The key directory and the evaluation-key bundle: file modes, no overwriting without
// force, cross-checks on load, and every refusal of load_eval_keys.
#include "io/test_workflow_fixture.h"

using namespace hecnn;
using namespace hecnn::test;

TEST(WorkflowKeys, KeyDirectoryHasEveryFileAndAPrivateSecretKey) {
    const Workflow w;
    const ScratchDir dir;
    const auto s = io::create_keyset(w.plan, dir / "k", false);
    for (const char* f : {io::kSecretKeyFile, io::kPublicKeyFile, io::kEvalKeysFile, io::kParamsFile, io::kPlanCopyFile})
        EXPECT_TRUE(fs::exists(dir / "k" / f)) << f;
    struct stat st;
    ASSERT_EQ(::stat((dir / "k" / io::kSecretKeyFile).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat((dir / "k").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 077, 0u);  // the directory too
    EXPECT_EQ(files_in(dir / "k"), 5u);  // no temporary left behind
    EXPECT_EQ(s.eval_keys_bytes, w.plan.eval_keys_bytes);
    EXPECT_EQ(s.secret_bytes, fs::file_size(dir / "k" / io::kSecretKeyFile));

    const auto k = io::load_client_keys(dir / "k", true);
    EXPECT_EQ(k.keyset_id, s.keyset_id);
    EXPECT_EQ(k.ctx->id(), w.plan.params_id);
    EXPECT_EQ(k.plan.model_digest, w.plan.model_digest);
    const auto e = io::load_eval_keys_file(dir / "k" / io::kEvalKeysFile, true);
    EXPECT_EQ(e.keyset_id, s.keyset_id);
    EXPECT_EQ(io::keyset_id_of(e.relin), s.keyset_id);
}

TEST(WorkflowKeys, NeverOverwritesKeysWithoutForce) {
    const Workflow w;
    const ScratchDir dir;
    io::create_keyset(w.plan, dir / "k", false);
    const auto secret = read_bytes(dir / "k" / io::kSecretKeyFile);
    const auto eval = read_bytes(dir / "k" / io::kEvalKeysFile);
    try {
        io::create_keyset(w.plan, dir / "k", false);
        ADD_FAILURE() << "overwrote a key directory";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("secret.key"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
    }
    EXPECT_EQ(read_bytes(dir / "k" / io::kSecretKeyFile), secret);
    EXPECT_EQ(read_bytes(dir / "k" / io::kEvalKeysFile), eval);
    // A single existing file is enough to refuse.
    io::create_keyset(w.plan, dir / "k2", false);
    for (const char* f : {io::kSecretKeyFile, io::kPublicKeyFile, io::kParamsFile, io::kPlanCopyFile}) fs::remove(dir / "k2" / f);
    EXPECT_THROW(io::create_keyset(w.plan, dir / "k2", false), std::runtime_error);
    // With force: new keys (another key set), consistent again.
    const auto s = io::create_keyset(w.plan, dir / "k", true);
    EXPECT_NE(read_bytes(dir / "k" / io::kSecretKeyFile), secret);
    EXPECT_EQ(io::load_client_keys(dir / "k", true).keyset_id, s.keyset_id);
}

TEST(WorkflowKeys, RefusesASecretKeyReadableByOthers) {
    const Workflow w;
    const ScratchDir dir;
    io::create_keyset(w.plan, dir / "k", false);
    fs::permissions(dir / "k" / io::kSecretKeyFile, fs::perms::group_read, fs::perm_options::add);
    try {
        io::load_client_keys(dir / "k", true);
        ADD_FAILURE() << "group-readable secret key accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
    }
}

TEST(WorkflowKeys, RefusesAnIncompleteOrMixedDirectory) {
    const Workflow w;
    const ScratchDir dir;
    io::create_keyset(w.plan, dir / "a", false);
    fs::remove(dir / "a" / io::kSecretKeyFile);
    EXPECT_THROW(io::load_client_keys(dir / "a", true), std::runtime_error);
    // Parameters of another plan next to this plan's copy.
    const Workflow other(5, 20);
    auto p2 = other.plan;
    p2.params.log_scale = 39;  // other parameters → other id
    p2.params_id = ckks::Context::create(p2.params)->id();
    io::create_keyset(p2, dir / "b", false);
    io::create_keyset(w.plan, dir / "c", false);
    fs::copy_file(dir / "b" / io::kParamsFile, dir / "c" / io::kParamsFile, fs::copy_options::overwrite_existing);
    EXPECT_THROW(io::load_client_keys(dir / "c", true), ckks::FormatError);
}

TEST(WorkflowKeys, EvalKeysRefuseASecretKey) {
    const Workflow w;
    const ScratchDir dir;
    io::create_keyset(w.plan, dir / "k", false);
    const auto sk = read_bytes(dir / "k" / io::kSecretKeyFile);
    expect_format_error([&] { io::load_eval_keys(sk, true); }, "never");
    // A secret key smuggled inside a bundle in place of the relinearisation key.
    auto bundle = read_bytes(dir / "k" / io::kEvalKeysFile);
    const std::size_t params_len = io::detail::get_u64(bundle.data() + ckks::kHeaderSize + 8);
    bundle.resize(ckks::kHeaderSize + 16 + params_len);
    std::vector<std::uint8_t> payload(bundle.begin() + ckks::kHeaderSize, bundle.end());
    for (int i = 0; i < 8; ++i) payload.push_back(static_cast<std::uint8_t>(sk.size() >> (8 * i)));
    payload.insert(payload.end(), sk.begin(), sk.end());
    const auto smuggled = rebuild_container(bundle, payload);
    expect_format_error([&] { io::load_eval_keys(smuggled, true); }, "SECRET KEY");
}

TEST(WorkflowKeys, EvalKeysRefuseOtherKinds) {
    KeyedWorkflow w;
    w.encrypt("b", 3);
    expect_format_error([&] { io::load_eval_keys(read_bytes(w.dir / "b"), true); }, "got a batch of encrypted images");
    expect_format_error([&] { io::load_eval_keys(read_bytes(w.keydir() / io::kPublicKeyFile), true); }, "got a public key");
    expect_format_error([&] { io::load_eval_keys(read_bytes(w.keydir() / io::kParamsFile), true); }, "got parameters");
    const auto plan = read_bytes(w.keydir() / io::kPlanCopyFile);
    expect_format_error([&] { io::load_eval_keys(plan, true); }, "JSON");
    // A bare relinearisation key (not the bundle).
    const auto rk = ckks::serialize(w.eval.relin, {.seeded = true});
    expect_format_error([&] { io::load_eval_keys(rk, true); }, "got a relinearisation key");
}

TEST(WorkflowKeys, EvalKeysRefuseTestParametersWithoutTheFlag) {
    KeyedWorkflow w;
    expect_format_error([&] { io::load_eval_keys(read_bytes(w.keydir() / io::kEvalKeysFile), false); }, "128-bit");
}

TEST(WorkflowKeys, EvalKeysRefuseTruncationFlipsAndTrailingBytes) {
    KeyedWorkflow w;
    const auto good = read_bytes(w.keydir() / io::kEvalKeysFile);
    ASSERT_NO_THROW(io::load_eval_keys(good, true));
    // Every prefix in the header and nested headers, then a sample: refused, no crash.
    for (std::size_t n = 0; n < good.size(); n += n < 400 ? 1 : 997)
        EXPECT_THROW(io::load_eval_keys(std::span(good).first(n), true), ckks::FormatError) << n;
    auto longer = good;
    longer.push_back(0);
    expect_format_error([&] { io::load_eval_keys(longer, true); }, "trailing");
    // A flipped byte anywhere: refused (header fields, or the checksum).
    for (std::size_t i = 0; i < good.size(); i += i < 200 ? 1 : 1009) {
        auto bad = good;
        bad[i] ^= 0x20;
        EXPECT_THROW(io::load_eval_keys(bad, true), ckks::FormatError) << i;
    }
}

TEST(WorkflowKeys, EvalKeysRefuseAForgedKeysetId) {
    KeyedWorkflow w;
    auto b = read_bytes(w.keydir() / io::kEvalKeysFile);
    std::vector<std::uint8_t> payload(b.begin() + ckks::kHeaderSize, b.end());
    payload[0] ^= 1;  // keyset id
    expect_format_error([&] { io::load_eval_keys(rebuild_container(b, payload), true); }, "does not match");
}

TEST(WorkflowKeys, OversizedNestedLengthIsRefusedBeforeReading) {
    KeyedWorkflow w;
    auto b = read_bytes(w.keydir() / io::kEvalKeysFile);
    std::vector<std::uint8_t> payload(b.begin() + ckks::kHeaderSize, b.end());
    for (int i = 0; i < 8; ++i) payload[8 + i] = 0xff;  // parameters length 2^64 − 1
    expect_format_error([&] { io::load_eval_keys(rebuild_container(b, payload), true); }, "declares");
    EXPECT_THROW(io::load_eval_keys_file(w.keydir() / io::kEvalKeysFile, true, 1000), ckks::FormatError);  // file above the limit
}

// Two key sets made for the same plan: every file checks against the plan and the
// parameters, but a secret key from one with the evaluation keys of the other cannot
// decrypt anything the server computes. load_client_keys refuses the mix either way.
TEST(WorkflowKeys, RefusesASecretKeyAndEvaluationKeysOfTwoKeygens) {
    const Workflow w;
    const ScratchDir dir;
    io::create_keyset(w.plan, dir / "a", false);
    io::create_keyset(w.plan, dir / "b", false);
    EXPECT_NO_THROW(io::load_client_keys(dir / "a", true));
    EXPECT_NO_THROW(io::load_client_keys(dir / "b", true));
    for (const char* moved : {io::kSecretKeyFile, io::kEvalKeysFile}) {
        const fs::path mixed = dir / (std::string("mixed-") + moved);
        fs::create_directory(mixed);
        fs::permissions(mixed, fs::perms::owner_all, fs::perm_options::replace);
        for (const char* f : {io::kParamsFile, io::kPlanCopyFile, io::kPublicKeyFile, io::kEvalKeysFile, io::kSecretKeyFile})
            fs::copy_file(dir / (f == std::string(moved) ? "b" : "a") / f, mixed / f);
        fs::permissions(mixed / io::kSecretKeyFile, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
        expect_format_error([&] { io::load_client_keys(mixed, true); }, "do not belong together");
    }
}
