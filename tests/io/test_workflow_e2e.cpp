// The whole file workflow on a tiny model at small insecure parameters: plan file →
// keygen → encrypt → infer_batch_file (evaluation keys only) → decrypt, compared with the
// plaintext reference runner. Stated bound: max |logit error| ≤ 2^-20 · max(1, max |logit|)
// at Δ = 2^40 (as tests/he/test_infer.cpp); every predicted class equal.
#include "io/test_workflow_fixture.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

int argmax(std::span<const double> v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }

}  // namespace

TEST(WorkflowEndToEnd, FilesGiveTheReferencePredictions) {
    const ScratchDir dir;
    Workflow w(5, 40);
    io::save_plan(dir / "plan.json", w.plan);

    // Client: keys from the plan file; encrypt 37 images.
    const auto plan = io::load_plan(dir / "plan.json", true);
    io::create_keyset(plan, dir / "keys", false);
    const auto keys = io::load_client_keys(dir / "keys", true);
    const std::size_t samples = 37, F = plan.features(), K = plan.outputs;
    const auto x = random_inputs(samples * F, 17, -2, 2);
    std::size_t progress_calls = 0;
    io::encrypt_batch_file(keys, x, samples, dir / "batch", [&](std::size_t done, std::size_t total) {
        EXPECT_LE(done, total);
        ++progress_calls;
    });
    EXPECT_GE(progress_calls, 1u);

    // Server: the model from its ONNX bytes, the plan check, evaluation keys only.
    const auto model = io::parse_onnx(w.onnx);
    he::CompileOptions copt;
    copt.lazy_relin = plan.lazy_relin;
    const auto compiled = he::compile(model, copt);
    io::check_plan_matches(plan, w.onnx, compiled);
    const auto eval = io::load_eval_keys_file(dir / "keys" / io::kEvalKeysFile, true, plan.eval_keys_bytes);
    std::vector<std::size_t> steps;
    std::size_t units = 0, units_total = 0;
    io::JobOptions jopt;
    jopt.model_id = plan.model_id();
    jopt.progress = [&](const io::JobProgress& p) {
        EXPECT_EQ(p.steps, compiled.steps.size());
        EXPECT_GE(p.remaining, 0);
        EXPECT_GE(p.units, units);  // units only grow, steps are reported once each
        units = p.units, units_total = p.units_total;
        if (steps.empty() || steps.back() != p.step) steps.push_back(p.step);
    };
    const auto job = io::infer_batch_file(compiled, eval, dir / "batch", dir / "result", jopt);
    EXPECT_EQ(job.samples, samples);
    EXPECT_EQ(job.result_bytes, fs::file_size(dir / "result"));
    EXPECT_EQ(steps.size(), compiled.steps.size() + 1);
    EXPECT_EQ(steps.back(), compiled.steps.size());
    EXPECT_GT(units_total, 0u);
    EXPECT_EQ(units, units_total);  // the last report: every unit run
    EXPECT_EQ(job.result.source, job.batch.checksum);  // the result names the batch it answers

    // Client: decrypt and compare with the plaintext reference on the same inputs.
    const auto got = io::decrypt_result_file(keys, dir / "result");
    ASSERT_EQ(got.logits.size(), samples * K);
    const nn::ReferenceRunner ref(w.model);
    double max_err = 0, max_logit = 0;
    for (std::size_t s = 0; s < samples; ++s) {
        const auto want = ref.run(std::span(x).subspan(s * F, F));
        const std::span<const double> g(got.logits.data() + s * K, K);
        EXPECT_EQ(argmax(g), argmax(want)) << "image " << s;
        for (std::size_t k = 0; k < K; ++k) max_err = std::max(max_err, std::fabs(g[k] - want[k])), max_logit = std::max(max_logit, std::fabs(want[k]));
    }
    EXPECT_LE(max_err, std::max(1.0, max_logit) / (1 << 20)) << "max |logit| " << max_logit;
    EXPECT_GT(max_logit, 1e-2);
    std::printf("    %zu images: max |logit error| %.3g (max |logit| %.3g)\n", samples, max_err, max_logit);
}

TEST(WorkflowEndToEnd, ServerRefusesABatchOfAnotherKeySetOrModel) {
    KeyedWorkflow a, b;
    a.encrypt("batch", 4);
    const auto compiled = he::compile(a.model);
    try {
        io::infer_batch_file(compiled, b.eval, a.dir / "batch", a.dir / "result");
        ADD_FAILURE() << "batch of another key set accepted";
    } catch (const ckks::FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("key set"), std::string::npos) << e.what();
    }
    io::JobOptions o;
    o.model_id = a.plan.model_id() ^ 1;
    EXPECT_THROW(io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "result", o), ckks::FormatError);
    EXPECT_FALSE(fs::exists(a.dir / "result"));
    // Cancellation after the first step: no result file.
    o.model_id = 0;
    o.cancelled = [] { return true; };
    EXPECT_THROW(io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "result", o), io::JobCancelled);
    EXPECT_FALSE(fs::exists(a.dir / "result"));
    // A finished result is not overwritten unless asked.
    o.cancelled = {};
    io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "result", o);
    EXPECT_THROW(io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "result", o), std::system_error);
    o.replace_result = true;
    EXPECT_NO_THROW(io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "result", o));
    // A result made with other keys is refused by decrypt.
    EXPECT_THROW(io::decrypt_result_file(b.keys, a.dir / "result"), ckks::FormatError);
}

// The execution options reach the runtime through the job: under a budget that spills,
// spill files appear in the given directory while the job runs and are gone after it; the
// job reports the budget it ran under; spilling is exact (the same result as unbudgeted).
TEST(WorkflowEndToEnd, TheJobSpillsIntoItsSpillDirectoryUnderItsBudget) {
    KeyedWorkflow a;
    a.encrypt("batch", 9);
    he::CompileOptions copt;
    copt.lazy_relin = a.plan.lazy_relin;
    const auto compiled = he::compile(a.model, copt);
    io::JobOptions unbudgeted;
    unbudgeted.exec.memory = he::MemoryBudget::unlimited();
    const auto free_job = io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "free", unbudgeted);
    EXPECT_TRUE(free_job.memory_budget.is_unlimited());

    io::JobOptions o;
    o.exec.memory = spilling_budget(compiled, a.plan);
    o.exec.spill_dir = a.dir / "spills";
    std::size_t most_files = 0, most_bytes = 0;
    o.progress = [&](const io::JobProgress&) {
        most_files = std::max(most_files, files_below(o.exec.spill_dir));
        most_bytes = std::max(most_bytes, bytes_below(o.exec.spill_dir));
    };
    const auto job = io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "result", o);
    EXPECT_EQ(job.memory_budget, o.exec.memory);
    EXPECT_GT(most_files, 0u) << "no spill file seen in " << o.exec.spill_dir;
    EXPECT_EQ(files_below(o.exec.spill_dir), 0u) << "spill files left behind";
    EXPECT_EQ(io::decrypt_result_file(a.keys, a.dir / "result").logits, io::decrypt_result_file(a.keys, a.dir / "free").logits);
    // The job reports every step as run and as predicted: the same memory, spill and
    // operations (he::differences compares all but time), and the spill the run wrote.
    ASSERT_EQ(job.steps.size(), compiled.steps.size());
    ASSERT_EQ(job.predicted_steps.size(), compiled.steps.size());
    std::size_t spilled = 0;
    for (std::size_t i = 0; i < job.steps.size(); ++i) {
        for (const auto& d : he::differences(job.predicted_steps[i], job.steps[i])) ADD_FAILURE() << "step " << i << ": " << d.describe();
        spilled += job.steps[i].spill_bytes;
    }
    EXPECT_GT(spilled, 0u);
    // The disk the job was checked for covers what its spill files held at once (seen
    // after every wave).
    EXPECT_GT(most_bytes, 0u);
    EXPECT_GE(job.predicted_spill_disk_bytes, most_bytes);
    // A spill directory without that much room is refused before the run, saying why.
    const auto free_bytes = fs::space(o.exec.spill_dir.parent_path()).available;
    EXPECT_NO_THROW(io::check_spill_space(free_bytes / 2, o.exec.spill_dir.parent_path()));
    try {
        io::check_spill_space(free_bytes + (std::size_t{1} << 30), o.exec.spill_dir.parent_path());
        ADD_FAILURE() << "a spill larger than the free space was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("--spill-dir"), std::string::npos) << e.what();
    }
    const std::string report = io::step_report(job);
    EXPECT_EQ(static_cast<std::size_t>(std::count(report.begin(), report.end(), '\n')), compiled.steps.size() + 2);  // header, steps, total
    // The default budget is resolved by the job, once: it reports bytes.
    const auto d = io::infer_batch_file(compiled, a.eval, a.dir / "batch", a.dir / "default", {});
    EXPECT_TRUE(d.memory_budget.from_default());
}
