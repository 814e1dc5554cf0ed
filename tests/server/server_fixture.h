// Set-up shared by the service tests: the tiny model of the file-workflow tests with its
// plan at small INSECURE test-only parameters, client key sets, encrypted batches, and the
// plaintext reference the decrypted results are checked against.
#pragma once

#include <chrono>
#include <thread>

#include "io/test_workflow_fixture.h"
#include "hecnn/server/service.h"

namespace hecnn::test {

// One client: its own key set and encrypted batches for the shared plan.
struct TestClient {
    TestClient(const io::PlanFile& plan, const fs::path& dir) : dir(dir) {
        io::create_keyset(plan, dir / "keys", false);
        keys = io::load_client_keys(dir / "keys", true);
    }
    fs::path eval_keys() const { return dir / "keys" / io::kEvalKeysFile; }
    // `samples` random preprocessed images encrypted to dir/name; the inputs are kept.
    fs::path encrypt(const std::string& name, std::size_t samples, unsigned seed) {
        auto& x = inputs[name];
        x = random_inputs(samples * keys.plan.features(), seed, -2, 2);
        io::encrypt_batch_file(keys, x, samples, dir / name);
        return dir / name;
    }
    // Decrypts a result of the batch `name` and checks it against the reference runner:
    // every class equal, max |logit error| ≤ 2^-20 · max(1, max |logit|) (Δ = 2^40, as the
    // file-workflow tests state).
    void expect_matches(const nn::Model& model, const std::string& name, const fs::path& result) const {
        const auto got = io::decrypt_result_file(keys, result);
        const auto& x = inputs.at(name);
        const std::size_t F = keys.plan.features(), K = keys.plan.outputs, S = x.size() / F;
        ASSERT_EQ(got.logits.size(), S * K);
        const nn::ReferenceRunner ref(model);
        double max_err = 0, max_logit = 1;
        for (std::size_t s = 0; s < S; ++s) {
            const auto want = ref.run(std::span<const double>(x.data() + s * F, F));
            const std::span<const double> g(got.logits.data() + s * K, K);
            for (std::size_t k = 0; k < K; ++k) max_err = std::max(max_err, std::fabs(g[k] - want[k])), max_logit = std::max(max_logit, std::fabs(want[k]));
            EXPECT_EQ(std::max_element(g.begin(), g.end()) - g.begin(), std::max_element(want.begin(), want.end()) - want.begin()) << "image " << s;
        }
        EXPECT_LE(max_err, std::ldexp(max_logit, -20));
    }
    fs::path dir;
    io::ClientKeys keys;
    std::map<std::string, std::vector<double>> inputs;
};

// The server side of the workflow: the model compiled as `hecnn serve` does.
inline he::Plan compile_served(const Workflow& w) {
    he::CompileOptions o;
    o.lazy_relin = w.plan.lazy_relin;
    auto p = he::compile(io::parse_onnx(w.onnx), o);
    io::check_plan_matches(w.plan, w.onnx, p);
    return p;
}

// A plan for the same model at other parameters (N = 2^10, so its keys are smaller and
// pass the size check): keys and batches made for it
// carry another parameter id.
inline io::PlanFile other_params_plan(const Workflow& w) {
    he::PipelineOptions o;
    o.params = insecure_small(10);
    o.params.min_log_n = 10;
    const auto calib = random_inputs(64 * 25, 3, -2, 2);
    const auto compiled = he::compile_for_batch(w.model, calib, 64, o);
    auto p = io::make_plan_file(w.model.preprocessing, w.onnx, compiled, 40);
    EXPECT_NE(p.params_id, w.plan.params_id);
    return p;
}

template <class F>
bool eventually(F&& done, double seconds = 60) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
}

}  // namespace hecnn::test
