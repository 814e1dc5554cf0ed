// The plan file (PLAN.json): round trip, exact sizes, and every refusal of parse_plan and
// check_plan_matches.
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <functional>

#include "io/test_workflow_fixture.h"
#include "hecnn/io/planner.h"

using namespace hecnn;
using namespace hecnn::test;
using nlohmann::json;

namespace {

// Apply an edit to the body and re-checksum, so that the field checks (not the checksum)
// must catch it.
std::string edited(const io::PlanFile& p, const std::function<void(json&)>& edit, bool fix_checksum = true) {
    json top = json::parse(io::plan_to_json(p));
    edit(top);
    if (fix_checksum) {
        const std::string dump = top["body"].dump();
        std::array<std::uint8_t, 16> h{};
        crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(dump.data()), dump.size(), nullptr, 0);
        static const char* d = "0123456789abcdef";
        std::string hex;
        for (auto b : h) hex += d[b >> 4], hex += d[b & 15];
        top["checksum"] = hex;
    }
    return top.dump();
}

void expect_refused(const std::string& json_text, const std::string& needle, bool allow_insecure = true) {
    expect_format_error([&] { io::parse_plan(json_text, allow_insecure); }, needle);
}

}  // namespace

TEST(WorkflowPlan, RoundTripKeepsEveryField) {
    const Workflow w;
    const auto p = io::parse_plan(io::plan_to_json(w.plan), true);
    EXPECT_EQ(p.params_id, w.plan.params_id);
    EXPECT_EQ(p.params.data_primes, w.plan.params.data_primes);
    EXPECT_EQ(p.params.special_primes, w.plan.params.special_primes);
    EXPECT_EQ(p.params.log_n, 11);
    EXPECT_TRUE(p.insecure());
    EXPECT_EQ(p.model_name, "tiny.onnx");
    EXPECT_EQ(p.model_digest, io::model_digest(w.onnx));
    EXPECT_EQ(p.input_shape, (nn::Shape{1, 5, 5}));
    EXPECT_EQ(p.outputs, 3u);
    EXPECT_EQ(p.preprocessing.classes, (std::vector<std::string>{"zero", "one", "two"}));
    EXPECT_EQ(p.preprocessing.mean, std::vector<double>{0.5});
    EXPECT_EQ(p.preprocessing.std, std::vector<double>{0.25});
    EXPECT_EQ(p.preprocessing.scale, 1.0 / 255);
    EXPECT_EQ(p.batch, 40u);
    EXPECT_EQ(p.depth, w.compiled.plan.depth);
    EXPECT_EQ(p.predicted_server_seconds, w.plan.predicted_server_seconds);
    EXPECT_GT(p.predicted_server_seconds, 0);
    // The budget the prediction assumed: resolved when the plan was made, kept as bytes.
    EXPECT_FALSE(w.plan.predicted_memory_budget.is_default());
    EXPECT_EQ(p.predicted_memory_budget, w.plan.predicted_memory_budget);
    EXPECT_EQ(p.batch_file_bytes, w.plan.batch_file_bytes);
    EXPECT_EQ(p.eval_keys_bytes, w.plan.eval_keys_bytes);
    EXPECT_EQ(io::plan_to_json(p), io::plan_to_json(w.plan));  // canonical

    const ScratchDir dir;
    io::save_plan(dir / "plan.json", w.plan);
    EXPECT_EQ(io::load_plan(dir / "plan.json", true).params_id, w.plan.params_id);
}

TEST(WorkflowPlan, DeclaredSizesAreTheRealOnes) {
    KeyedWorkflow w;
    EXPECT_EQ(fs::file_size(w.keydir() / io::kEvalKeysFile), w.plan.eval_keys_bytes);
    w.encrypt("b", 7);
    EXPECT_EQ(fs::file_size(w.dir / "b"), w.plan.batch_file_bytes);  // any sample count
    w.encrypt("c", 40);
    EXPECT_EQ(fs::file_size(w.dir / "c"), w.plan.batch_file_bytes);
}

TEST(WorkflowPlan, RefusesTestParametersWithoutTheFlag) {
    const Workflow w;
    expect_refused(io::plan_to_json(w.plan), "test-only", false);
}

TEST(WorkflowPlan, RefusesAnEditWithoutANewChecksum) {
    const Workflow w;
    expect_refused(edited(w.plan, [](json& j) { j["body"]["batch"] = 41; }, false), "checksum mismatch");
}

TEST(WorkflowPlan, RefusesEachInvalidField) {
    const Workflow w;
    const auto& p = w.plan;
    expect_refused(edited(p, [](json& j) { j["body"]["batch"] = 1025; }), "body.batch");  // > slots of N = 2^11
    expect_refused(edited(p, [](json& j) { j["body"]["batch"] = 0; }), "body.batch");
    expect_refused(edited(p, [](json& j) { j["body"]["batch"] = -3; }), "body.batch");
    expect_refused(edited(p, [](json& j) { j["body"]["batch"] = 2.5; }), "body.batch");
    expect_refused(edited(p, [](json& j) { j["body"]["depth"] = 99; }), "body.depth");
    expect_refused(edited(p, [](json& j) { j["body"]["extra"] = 1; }), "unknown field body.extra");
    expect_refused(edited(p, [](json& j) { j["body"].erase("sizes"); }), "missing field body.sizes");
    expect_refused(edited(p, [](json& j) { j["body"]["sizes"]["batch_file_bytes"] = 12345; }), "batch_file_bytes");
    expect_refused(edited(p, [](json& j) { j["body"]["sizes"]["eval_keys_bytes"] = 12345; }), "eval_keys_bytes");
    expect_refused(edited(p, [](json& j) { j["body"]["model"]["digest"] = "XYZ"; }), "digest");
    expect_refused(edited(p, [](json& j) { j["body"]["model"]["input_shape"] = json::array(); }), "input_shape");
    expect_refused(edited(p, [](json& j) { j["body"]["model"]["input_shape"] = {1, 0, 5}; }), "input_shape");
    expect_refused(edited(p, [](json& j) { j["body"]["model"]["input_shape"] = {4096, 4096, 4096}; }), "input_shape");
    expect_refused(edited(p, [](json& j) { j["body"]["model"]["preprocessing"]["classes"] = {"a", "b"}; }), "class names for a model of 3 outputs");
    expect_refused(edited(p, [](json& j) { j["body"]["model"]["preprocessing"]["std"] = {0.0}; }), "std");
    expect_refused(edited(p, [](json& j) { j["body"]["model"]["preprocessing"]["mean"] = {1, 2}; }), "mean");
    expect_refused(edited(p, [](json& j) { j["body"]["parameters"]["data_primes"][0] = 12; }), "not valid CKKS parameters");
    expect_refused(edited(p, [](json& j) { j["body"]["parameters"]["log_n"] = 40; }), "log_n");
    expect_refused(edited(p, [](json& j) { j["params_id"] = "0000000000000000"; }), "params_id");
    expect_refused(edited(p, [](json& j) { j["version"] = 7; }), "version");
    expect_refused(edited(p, [](json& j) { j["hecnn"] = "labels"; }), "not a plan");
}

TEST(WorkflowPlan, RefusesMalformedJson) {
    const Workflow w;
    const std::string good = io::plan_to_json(w.plan);
    expect_refused("", "not valid JSON");
    expect_refused("[1,2]", "not a hecnn plan");
    expect_refused(good.substr(0, good.size() / 2), "not valid JSON");
    expect_refused(std::string(100000, '[') + std::string(100000, ']'), "nested deeper");
    expect_refused(std::string(io::kMaxPlanBytes + 1, ' '), "above the limit");
    // Truncation at a dense sample of prefixes: refused, never a crash.
    for (std::size_t n = 0; n < good.size(); n += 7)
        EXPECT_THROW(io::parse_plan(good.substr(0, n), true), ckks::FormatError) << n;
}

TEST(WorkflowPlan, ServerChecksTheModelItServes) {
    const Workflow w;
    EXPECT_NO_THROW(io::check_plan_matches(w.plan, w.onnx, w.compiled.plan));
    const Workflow other(6);  // same shapes, other weights: only the digest differs
    try {
        io::check_plan_matches(w.plan, other.onnx, other.compiled.plan);
        ADD_FAILURE() << "another model accepted";
    } catch (const ckks::FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("digest"), std::string::npos) << e.what();
    }
    auto deeper = w.compiled.plan;
    deeper.depth += 1;
    EXPECT_THROW(io::check_plan_matches(w.plan, w.onnx, deeper), ckks::FormatError);
    auto wider = w.compiled.plan;
    wider.outputs.push_back(0);
    EXPECT_THROW(io::check_plan_matches(w.plan, w.onnx, wider), ckks::FormatError);
}

// Version 1 (class names in body.model.classes, beside the preprocessing) and version 2
// (no memory budget) are read with the same meaning; a newer or unknown version is
// refused, naming it.
TEST(WorkflowPlan, ReadsVersions1And2AndRefusesOtherVersions) {
    const Workflow w;
    const auto older = [](json& j, int version) {
        j["version"] = version;
        j["body"]["predicted"].erase("memory_budget");
        if (version > 1) return;
        auto& m = j["body"]["model"];
        m["classes"] = m["preprocessing"]["classes"];
        m["preprocessing"].erase("classes");
    };
    const std::string v1 = edited(w.plan, [&](json& j) { older(j, 1); });
    const std::string v2 = edited(w.plan, [&](json& j) { older(j, 2); });
    for (const auto* text : {&v1, &v2}) {
        auto p = io::parse_plan(*text, true);
        EXPECT_EQ(p.preprocessing.classes, (std::vector<std::string>{"zero", "one", "two"}));
        EXPECT_EQ(p.preprocessing.mean, std::vector<double>{0.5});
        EXPECT_EQ(p.predicted_server_seconds, w.plan.predicted_server_seconds);
        EXPECT_TRUE(p.predicted_memory_budget.is_default());  // not recorded
        // Written back as the current version, the budget as unknown (null), read again.
        const std::string v3 = io::plan_to_json(p);
        EXPECT_TRUE(json::parse(v3)["body"]["predicted"]["memory_budget"].is_null());
        EXPECT_EQ(json::parse(v3)["version"], io::kPlanVersion);
        EXPECT_TRUE(io::parse_plan(v3, true).predicted_memory_budget.is_default());
        p.predicted_memory_budget = w.plan.predicted_memory_budget;
        EXPECT_EQ(io::plan_to_json(p), io::plan_to_json(w.plan));
    }
    // A body of one version under another version number: unknown or missing fields.
    expect_refused(edited(w.plan, [](json& j) { j["version"] = 1; }), "missing field body.model.classes");
    expect_refused(edited(w.plan, [&](json& j) { j = json::parse(v1); j["version"] = 2; }), "unknown field body.model.classes");
    expect_refused(edited(w.plan, [](json& j) { j["version"] = 2; }), "unknown field body.predicted.memory_budget");
    expect_refused(edited(w.plan, [&](json& j) { j = json::parse(v2); j["version"] = 3; }), "missing field body.predicted.memory_budget");
    expect_refused(edited(w.plan, [](json& j) { j["version"] = 4; }), "newer hecnn");
    expect_refused(edited(w.plan, [](json& j) { j["version"] = 0; }), "version 0");
}

TEST(WorkflowPlan, RecordsTheMemoryBudgetOfThePrediction) {
    const Workflow w;
    for (const auto& budget : {he::MemoryBudget::of(123456789), he::MemoryBudget::unlimited()}) {
        auto p = w.plan;
        p.predicted_memory_budget = budget;
        const auto text = io::plan_to_json(p);
        EXPECT_EQ(io::parse_plan(text, true).predicted_memory_budget, budget) << text;
    }
    const auto bad = [&](const json& v) { return edited(w.plan, [&](json& j) { j["body"]["predicted"]["memory_budget"] = v; }); };
    for (const json& v : {json(0), json(-5), json(1.5), json("lots"), json("Unlimited "), json::array(), json::object()})
        expect_refused(bad(v), "body.predicted.memory_budget");
}

// What a client must agree on with the service: every contract field counts, predictions
// and the model's file name do not.
TEST(WorkflowPlan, ContractDifferenceNamesTheField) {
    const Workflow w;
    auto p = w.plan;
    EXPECT_EQ(io::contract_difference(p, w.plan), "");
    p.model_name = "renamed.onnx";
    p.predicted_server_seconds *= 2;
    EXPECT_EQ(io::contract_difference(p, w.plan), "");
    p.preprocessing.mean = {0.4};
    EXPECT_EQ(io::contract_difference(p, w.plan), "preprocessing");
    p = w.plan;
    p.preprocessing.classes[0] = "nought";
    EXPECT_EQ(io::contract_difference(p, w.plan), "class names");
    p = w.plan;
    p.batch = 7;
    EXPECT_EQ(io::contract_difference(p, w.plan), "batch");
    p = w.plan;
    p.model_digest[0] = p.model_digest[0] == 'a' ? 'b' : 'a';
    EXPECT_EQ(io::contract_difference(p, w.plan), "model");
}

// io::make_plan (what `hecnn plan --out` and `hecnn demo` call) against its parts made by
// hand from the same file: the parsed model planned (plan_model), the prediction under the
// request's server execution at the rates the request gives for the chosen ring, and
// make_plan_file of those, named by the file.
TEST(WorkflowPlan, MakePlanIsThePlannedModelItsPredictionAndThePlanFile) {
    const ScratchDir dir;
    const fs::path path = dir / "tiny.onnx";
    io::save_onnx(tiny_model(), path.string());
    const std::size_t MiB = std::size_t{1} << 20;
    io::PlanRequest req;
    req.calib_samples = 64;
    req.pipeline.params = insecure_small(11);
    req.pipeline.params.batch = 40;
    req.server = {.memory = he::MemoryBudget::of(64 * MiB), .threads = 1, .lazy_inputs = true};
    // A rates file with an entry for the ring the plan chooses (2^11: the built-in figures
    // doubled) and one for another (2^14: tripled): the plan's is used.
    auto scaled = [](int log_n, double f) {
        auto r = he::Rates::defaults();
        r.log_n = log_n;
        r.mac_ms *= f, r.square_relin_rescale_ms *= f, r.square_ms *= f, r.relin_ms *= f, r.rescale_ms *= f;
        return r;
    };
    req.rates_file = (dir / "rates.json").string();
    he::save_rates({scaled(14, 3), scaled(11, 2)}, req.rates_file);
    auto doubled = [&] {
        auto r = scaled(11, 2);
        r.source = "doubled";
        return r;
    };
    const auto made = io::make_plan(path, req);
    EXPECT_EQ(made.rates.log_n, 11);
    EXPECT_DOUBLE_EQ(made.rates.mac_ms, doubled().mac_ms);
    EXPECT_NE(made.rates.source.find(req.rates_file), std::string::npos) << made.rates.source;
    ASSERT_TRUE(made.context);
    EXPECT_EQ(made.context->log_n(), 11);

    const auto bytes = read_bytes(path);
    const std::string_view onnx(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const auto planned = io::plan_model(io::parse_onnx(onnx), req);
    const auto ctx = ckks::Context::create(planned.compiled.choice.literal);
    he::SimulateOptions so;
    so.exec = {.memory = he::MemoryBudget::of(64 * MiB), .threads = 1, .lazy_inputs = true};
    const auto pred = he::simulate(planned.compiled.plan, *ctx, doubled(), so);
    auto file = io::make_plan_file(planned.preprocessing, onnx, planned.compiled, 40, &pred);
    file.model_name = "tiny.onnx";
    EXPECT_EQ(io::plan_to_json(made.file), io::plan_to_json(file));
    EXPECT_EQ(made.file.model_digest, io::model_digest(onnx));
    EXPECT_EQ(made.file.predicted_memory_budget, he::MemoryBudget::of(64 * MiB));
    EXPECT_EQ(made.prediction.seconds, pred.seconds);
    EXPECT_EQ(made.prediction.peak_bytes, pred.peak_bytes);
    EXPECT_EQ(made.planned.calib_source, planned.calib_source);
    EXPECT_EQ(nn::element_count(made.model.input_shape()), 25);
    // The rates given are the ones predicted with: the built-in ones predict less time.
    EXPECT_GT(made.prediction.seconds, he::simulate(planned.compiled.plan, *ctx, he::Rates::defaults(), so).seconds);

    // No rates file: this machine's, and the tests' machine is not measured (HECNN_RATES
    // names no file): the built-in ones; batch 0: every slot.
    req.rates_file.clear();
    req.pipeline.params.batch = 0;
    const auto plain = io::make_plan(path, req);
    EXPECT_DOUBLE_EQ(plain.rates.mac_ms, he::Rates::defaults().mac_ms);
    EXPECT_NE(plain.rates.source.find("built-in"), std::string::npos) << plain.rates.source;
    EXPECT_EQ(plain.file.batch, plain.context->slots());

    EXPECT_ANY_THROW(io::make_plan(dir / "missing.onnx", req));
    std::ofstream(dir / "junk.onnx") << "not a model";
    EXPECT_ANY_THROW(io::make_plan(dir / "junk.onnx", req));
}
