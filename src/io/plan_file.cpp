// The plan file: construction from a compiled model, JSON with a checksum, validation of
// every field on the way in, and the server's model check.
#include "hecnn/io/plan_file.h"

#include "hecnn/io/json.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "container.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/io/batch_file.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/onnx.h"

namespace hecnn::io {
namespace {

using nlohmann::json;
using detail::bad;

constexpr std::size_t kMaxText = 256;        // a model or class name
constexpr std::size_t kMaxOutputs = 1 << 16;
constexpr std::int64_t kMaxFeatures = 1 << 20;  // ciphertexts per batch

std::string checksum_of(const json& body) {
    const std::string dump = body.dump();
    detail::Hasher h(16);
    h.update({reinterpret_cast<const std::uint8_t*>(dump.data()), dump.size()});
    return detail::to_hex(h.final());
}

// The prediction's budget: its bytes, "unlimited", or null when not recorded (a plan read
// from version 1 or 2).
json budget_to_json(const he::MemoryBudget& m) {
    if (m.is_unlimited()) return "unlimited";
    if (m.is_default()) return nullptr;
    return m.bytes();
}

// Typed, bounded field access: every message names the field's path.
class Fields {
public:
    Fields(const json& j, std::string path, std::initializer_list<const char*> keys) : j_(j), path_(std::move(path)) {
        if (!j.is_object()) bad("plan: " + path_ + " must be a JSON object");
        for (const auto& [k, v] : j.items()) {
            bool known = false;
            for (const char* key : keys) known |= k == key;
            if (!known) bad("plan: unknown field " + path_ + "." + k + " (a plan of another version, or edited by hand?)");
        }
        for (const char* key : keys)
            if (!j.contains(key)) bad("plan: missing field " + path_ + "." + key);
    }
    const json& at(const char* k) const { return j_.at(k); }
    std::string name(const char* k) const { return path_ + "." + k; }
    std::uint64_t uint(const char* k, std::uint64_t lo, std::uint64_t hi) const {
        const json& v = at(k);
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() < lo || v.get<std::uint64_t>() > hi)
            bad("plan: " + name(k) + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + v.dump());
        return v.get<std::uint64_t>();
    }
    double number(const char* k, double lo, double hi) const {
        const json& v = at(k);
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < lo || v.get<double>() > hi)
            bad("plan: " + name(k) + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + v.dump());
        return v.get<double>();
    }
    bool boolean(const char* k) const {
        if (!at(k).is_boolean()) bad("plan: " + name(k) + " must be true or false");
        return at(k).get<bool>();
    }
    std::string text(const char* k, std::size_t max = kMaxText) const {
        const json& v = at(k);
        if (!v.is_string() || v.get_ref<const std::string&>().size() > max)
            bad("plan: " + name(k) + " must be a string of at most " + std::to_string(max) + " bytes");
        return v.get<std::string>();
    }
    const json& array(const char* k, std::size_t max) const {
        const json& v = at(k);
        if (!v.is_array() || v.size() > max) bad("plan: " + name(k) + " must be an array of at most " + std::to_string(max) + " entries");
        return v;
    }

private:
    const json& j_;
    std::string path_;
};

std::vector<double> numbers(const Fields& f, const char* k, std::size_t max, bool positive) {
    std::vector<double> out;
    for (const auto& v : f.array(k, max)) {
        if (!v.is_number() || !std::isfinite(v.get<double>()) || (positive && !(v.get<double>() > 0)))
            bad("plan: " + f.name(k) + " must hold finite" + (positive ? " positive" : "") + " numbers, got " + v.dump());
        out.push_back(v.get<double>());
    }
    return out;
}

std::vector<std::string> texts(const Fields& f, const char* k, std::size_t max) {
    std::vector<std::string> out;
    for (const auto& v : f.array(k, max)) {
        if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxText)
            bad("plan: " + f.name(k) + " must hold strings of at most " + std::to_string(kMaxText) + " bytes");
        out.push_back(v.get<std::string>());
    }
    return out;
}

ckks::ParametersLiteral parse_params(const Fields& f) {
    ckks::ParametersLiteral lit;
    lit.log_n = static_cast<int>(f.uint("log_n", 1, 17));
    for (const char* k : {"data_primes", "special_primes"})
        for (const auto& v : f.array(k, 64)) {
            if (!v.is_number_unsigned()) bad("plan: " + f.name(k) + " must hold unsigned integers (the primes), got " + v.dump());
            (k[0] == 'd' ? lit.data_primes : lit.special_primes).push_back(v.get<std::uint64_t>());
        }
    lit.dnum = static_cast<int>(f.uint("dnum", 0, 64));
    lit.digit_size = static_cast<int>(f.uint("digit_size", 0, 64));
    lit.log_scale = f.number("log_scale", 1, 62);
    lit.insecure_test_only_allow_below_128_bits = f.boolean("insecure_test_only");
    return lit;
}

}  // namespace

std::size_t PlanFile::features() const { return static_cast<std::size_t>(nn::element_count(input_shape, kMaxFeatures)); }

std::uint64_t PlanFile::model_id() const { return model_id_of(model_digest); }

std::uint64_t model_id_of(std::string_view digest) {
    std::array<std::uint8_t, 8> b{};
    if (!detail::from_hex(digest.substr(0, 16), b)) return 0;
    return detail::le_u64(b);
}

std::string model_digest(std::string_view onnx_bytes) {
    return detail::to_hex(detail::blake2b_256({reinterpret_cast<const std::uint8_t*>(onnx_bytes.data()), onnx_bytes.size()}));
}

PlanFile make_plan_file(const nn::Preprocessing& preprocessing, std::string_view onnx_bytes, const he::CompiledModel& compiled,
                        std::size_t batch, const he::Prediction* prediction) {
    const auto ctx = ckks::Context::create(compiled.choice.literal);
    if (batch > ctx->slots())
        throw std::invalid_argument("make_plan_file: batch " + std::to_string(batch) + " exceeds the " + std::to_string(ctx->slots()) + " slots");
    PlanFile p;
    p.params = ctx->literal();
    p.params_id = ctx->id();
    p.model_digest = model_digest(onnx_bytes);
    p.input_shape = compiled.plan.input_shape;
    p.outputs = compiled.plan.outputs.size();
    p.preprocessing = preprocessing;
    p.preprocessing.check(p.input_shape.at(0), p.outputs);
    p.batch = batch ? batch : ctx->slots();
    p.depth = compiled.plan.depth;
    p.lazy_relin = false;
    for (const auto& s : compiled.plan.steps) p.lazy_relin |= s.lazy_relin;
    const he::Prediction pred = prediction ? *prediction : he::simulate(compiled.plan, *ctx, he::Rates::for_machine(ctx->log_n()));
    p.predicted_server_seconds = pred.seconds;
    p.predicted_peak_bytes = pred.peak_bytes;
    p.predicted_memory_budget = pred.memory_budget;
    p.batch_file_bytes = batch_file_bytes(*ctx, p.features());
    p.eval_keys_bytes = eval_keys_bytes(*ctx);
    return p;
}

std::string plan_to_json(const PlanFile& p) {
    json params = {{"log_n", p.params.log_n},
                   {"data_primes", p.params.data_primes},
                   {"special_primes", p.params.special_primes},
                   {"dnum", p.params.dnum},
                   {"digit_size", p.params.digit_size},
                   {"log_scale", p.params.log_scale},
                   {"insecure_test_only", p.params.insecure_test_only_allow_below_128_bits}};
    json pre = {{"scale", p.preprocessing.scale}, {"mean", p.preprocessing.mean}, {"std", p.preprocessing.std},
                {"classes", p.preprocessing.classes}};
    json model = {{"name", p.model_name}, {"digest", p.model_digest}, {"input_shape", p.input_shape}, {"outputs", p.outputs},
                  {"preprocessing", pre}};
    json body = {{"model", model},
                 {"parameters", params},
                 {"batch", p.batch},
                 {"depth", p.depth},
                 {"lazy_relin", p.lazy_relin},
                 {"predicted", {{"server_seconds", p.predicted_server_seconds}, {"peak_bytes", p.predicted_peak_bytes},
                                {"memory_budget", budget_to_json(p.predicted_memory_budget)}}},
                 {"sizes", {{"batch_file_bytes", p.batch_file_bytes}, {"eval_keys_bytes", p.eval_keys_bytes}}}};
    // Ordered at the top level so that a reader sees what the file is first; the body's
    // keys stay sorted (its checksum is over the canonical dump).
    nlohmann::ordered_json top = {{"hecnn", "plan"}, {"version", kPlanVersion}, {"params_id", detail::hex64(p.params_id)},
                                  {"checksum", checksum_of(body)}, {"body", body}};
    return top.dump(2) + "\n";
}

PlanFile parse_plan(std::string_view text, bool allow_insecure) {
    if (text.size() > kMaxPlanBytes) bad("plan: " + std::to_string(text.size()) + " bytes, above the limit of " + std::to_string(kMaxPlanBytes));
    json top = parse_json_bounded(text, "plan");
    if (!top.is_object() || !top.contains("hecnn") || !top["hecnn"].is_string())
        bad("plan: not a hecnn plan (no \"hecnn\": \"plan\" field); write one with `hecnn plan MODEL.onnx --out PLAN.json`");
    if (top["hecnn"] != "plan") bad("plan: this JSON is a hecnn \"" + top["hecnn"].get<std::string>() + "\" file, not a plan");
    const Fields t(top, "plan", {"hecnn", "version", "params_id", "checksum", "body"});
    const auto version = t.uint("version", 0, 1u << 16);
    if (version < 1 || version > kPlanVersion)
        bad("plan: version " + top["version"].dump() + ", this build reads versions 1 to " + std::to_string(kPlanVersion) +
            (version > kPlanVersion ? ": it was written by a newer hecnn" : "") + "; make the plan again with this build's `hecnn plan`");
    if (t.text("checksum") != checksum_of(top["body"]))
        bad("plan: checksum mismatch — the body was changed after the plan was written; make a new plan with `hecnn plan`");

    const Fields body(top["body"], "body", {"model", "parameters", "batch", "depth", "lazy_relin", "predicted", "sizes"});
    PlanFile p;
    const Fields pf(body.at("parameters"), "body.parameters",
                    {"log_n", "data_primes", "special_primes", "dnum", "digit_size", "log_scale", "insecure_test_only"});
    p.params = parse_params(pf);
    if (p.params.insecure_test_only_allow_below_128_bits && !allow_insecure)
        bad("plan: its parameters are marked test-only (they may be below 128-bit security); refused without --insecure-test-params");
    ckks::ContextPtr ctx;
    try {
        ctx = ckks::Context::create(p.params);
    } catch (const std::invalid_argument& e) {
        bad(std::string("plan: body.parameters are not valid CKKS parameters: ") + e.what());
    }
    p.params_id = ctx->id();
    if (t.text("params_id") != ctx->id_hex())
        bad("plan: params_id " + t.text("params_id") + " is not the id of its parameters (" + ctx->id_hex() + ")");

    const Fields m = version == 1 ? Fields(body.at("model"), "body.model", {"name", "digest", "input_shape", "outputs", "classes", "preprocessing"})
                                  : Fields(body.at("model"), "body.model", {"name", "digest", "input_shape", "outputs", "preprocessing"});
    p.model_name = m.text("name");
    p.model_digest = m.text("digest", 64);
    std::array<std::uint8_t, 32> digest{};
    if (p.model_digest.size() != 64 || !detail::from_hex(p.model_digest, digest) || detail::to_hex(digest) != p.model_digest)
        bad("plan: body.model.digest must be 64 lowercase hex digits (BLAKE2b-256 of the ONNX file)");
    for (const auto& v : m.array("input_shape", 4)) {
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() < 1 || v.get<std::uint64_t>() > 65536)
            bad("plan: body.model.input_shape must hold 1 to 4 dimensions from 1 to 65536, got " + v.dump());
        p.input_shape.push_back(v.get<std::int64_t>());
    }
    if (p.input_shape.empty()) bad("plan: body.model.input_shape is empty");
    try {
        (void)p.features();
    } catch (const std::exception&) {
        bad("plan: body.model.input_shape " + nn::to_string(p.input_shape) + " has more than " + std::to_string(kMaxFeatures) + " elements");
    }
    p.outputs = m.uint("outputs", 1, kMaxOutputs);
    // Version 1 kept the class names beside the preprocessing (body.model.classes).
    const Fields pre = version == 1 ? Fields(m.at("preprocessing"), "body.model.preprocessing", {"scale", "mean", "std"})
                                    : Fields(m.at("preprocessing"), "body.model.preprocessing", {"scale", "mean", "std", "classes"});
    const auto channels = static_cast<std::size_t>(p.input_shape[0]);
    p.preprocessing.scale = pre.number("scale", 1e-12, 1e12);
    p.preprocessing.mean = numbers(pre, "mean", channels, false);
    p.preprocessing.std = numbers(pre, "std", channels, true);
    p.preprocessing.classes = texts(version == 1 ? m : pre, "classes", kMaxOutputs);
    try {
        p.preprocessing.check(p.input_shape[0], p.outputs);
    } catch (const std::invalid_argument& e) {
        bad(std::string("plan: body.model.") + e.what());
    }

    p.batch = body.uint("batch", 1, ctx->slots());
    p.depth = static_cast<int>(body.uint("depth", 1, static_cast<std::uint64_t>(ctx->max_level())));
    p.lazy_relin = body.boolean("lazy_relin");
    const Fields pr = version < 3 ? Fields(body.at("predicted"), "body.predicted", {"server_seconds", "peak_bytes"})
                                  : Fields(body.at("predicted"), "body.predicted", {"server_seconds", "peak_bytes", "memory_budget"});
    p.predicted_server_seconds = pr.number("server_seconds", 0, 1e12);
    p.predicted_peak_bytes = pr.uint("peak_bytes", 0, ~std::uint64_t{0});
    if (version >= 3) {
        const json& m = pr.at("memory_budget");
        if (m == "unlimited") p.predicted_memory_budget = he::MemoryBudget::unlimited();
        else if (m.is_number_unsigned() && m.get<std::uint64_t>() > 0) p.predicted_memory_budget = he::MemoryBudget::of(m.get<std::uint64_t>());
        else if (!m.is_null()) bad("plan: body.predicted.memory_budget must be a byte count (≥ 1), \"unlimited\" or null, got " + m.dump());
    }
    const Fields sz(body.at("sizes"), "body.sizes", {"batch_file_bytes", "eval_keys_bytes"});
    p.batch_file_bytes = sz.uint("batch_file_bytes", 0, ~std::uint64_t{0});
    p.eval_keys_bytes = sz.uint("eval_keys_bytes", 0, ~std::uint64_t{0});
    if (p.batch_file_bytes != batch_file_bytes(*ctx, p.features()))
        bad("plan: body.sizes.batch_file_bytes " + std::to_string(p.batch_file_bytes) + " is not the size these parameters imply (" +
            std::to_string(batch_file_bytes(*ctx, p.features())) + ")");
    if (p.eval_keys_bytes != eval_keys_bytes(*ctx))
        bad("plan: body.sizes.eval_keys_bytes " + std::to_string(p.eval_keys_bytes) + " is not the size these parameters imply (" +
            std::to_string(eval_keys_bytes(*ctx)) + ")");
    return p;
}

void save_plan(const std::filesystem::path& path, const PlanFile& plan) {
    const std::string s = plan_to_json(plan);
    ckks::write_file_atomic(path, {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

PlanFile load_plan(const std::filesystem::path& path, bool allow_insecure) {
    const auto bytes = ckks::read_file(path, kMaxPlanBytes);
    try {
        return parse_plan({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, allow_insecure);
    } catch (const ckks::FormatError& e) {
        throw ckks::FormatError(path.string() + ": " + e.what());
    }
}

void check_plan_matches(const PlanFile& plan, std::string_view onnx_bytes, const he::Plan& compiled) {
    const std::string what = "the served model is not the one the plan was made for: ";
    if (const auto d = model_digest(onnx_bytes); d != plan.model_digest)
        bad(what + "its digest is " + d.substr(0, 16) + "…, the plan's " + plan.model_digest.substr(0, 16) +
            "… (serve the plan's model file, or make a new plan for this one)");
    if (compiled.input_shape != plan.input_shape)
        bad(what + "input " + nn::to_string(compiled.input_shape) + ", the plan's " + nn::to_string(plan.input_shape));
    if (compiled.outputs.size() != plan.outputs)
        bad(what + std::to_string(compiled.outputs.size()) + " outputs, the plan's " + std::to_string(plan.outputs));
    if (compiled.depth != plan.depth)
        bad("compiling the model gives depth " + std::to_string(compiled.depth) + ", the plan says " + std::to_string(plan.depth) +
            " (compile with lazy_relin=" + (plan.lazy_relin ? "true" : "false") + " as the plan was)");
}

std::string contract_difference(const PlanFile& a, const PlanFile& b) {
    if (a.params_id != b.params_id) return "parameters";
    if (a.model_digest != b.model_digest) return "model";
    if (a.input_shape != b.input_shape) return "input shape";
    if (a.outputs != b.outputs) return "outputs";
    if (a.batch != b.batch) return "batch";
    const auto &p = a.preprocessing, &q = b.preprocessing;
    if (p.scale != q.scale || p.mean != q.mean || p.std != q.std) return "preprocessing";
    if (p.classes != q.classes) return "class names";
    return "";
}

PlanFile write_plan_for(const std::filesystem::path& out, const std::filesystem::path& onnx_path, const nn::Preprocessing& preprocessing,
                        const he::CompiledModel& compiled, std::size_t batch, const he::Prediction* prediction) {
    const auto bytes = ckks::read_file(onnx_path, kMaxOnnxBytes);
    auto p = make_plan_file(preprocessing, {reinterpret_cast<const char*>(bytes.data()), bytes.size()}, compiled, batch, prediction);
    p.model_name = onnx_path.filename().string().substr(0, kMaxText);
    save_plan(out, p);
    return p;
}

}  // namespace hecnn::io
