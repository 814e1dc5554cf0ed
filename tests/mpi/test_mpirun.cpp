// `mpirun -np 2 hecnn infer …` on loopback (docs/MPI.md): the result file is the
// one-process result byte for byte, the bytes each rank sends are the ones
// he::predict_exchange computes from the plan and the partition, and a rank killed in the
// middle fails the job, naming the rank, with no result file left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "cli/subprocess.h"
#include "hecnn/he/compiler.h"
#include "hecnn/he/partition.h"
#include "hecnn/he/scaling.h"
#include "io/test_workflow_fixture.h"

namespace hecnn::test {
namespace {

using namespace std::chrono_literals;

// Open MPI on this machine: root allowed (CI runs as root), no single-copy transfers
// (they need ptrace rights a container may not grant; the fallback is a copy through
// shared memory).
class Mpirun : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        ::setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
    }
};

// Under AddressSanitizer (the asan preset) the ranks run without LeakSanitizer: Open MPI's
// components, loaded with dlopen and unloaded by MPI_Finalize, leave allocations whose
// stacks LeakSanitizer can attribute to no library ("<unknown module>"), so no suppression
// can single them out. Every other ASan/UBSan check stays on in the ranks, and the same
// job code is leak-checked in each test's one-process run (MPI never initialised there).
std::string rank_environment() {
#if defined(__SANITIZE_ADDRESS__)
    const char* asan = std::getenv("ASAN_OPTIONS");
    return "env ASAN_OPTIONS=" + std::string(asan && *asan ? std::string(asan) + ":" : "") + "detect_leaks=0 ";
#else
    return "";
#endif
}

// A model large enough that the waves have units for both ranks and that a run lasts
// long enough to be stopped in the middle: conv 3×3 (1→4) on 1×10×10, x², dense 3.
struct MpiWorkflow : KeyedWorkflow {
    explicit MpiWorkflow(std::size_t samples = 40) : KeyedWorkflow(conv_square_model(10, 4, 7), 200, 11) {
        batch = encrypt("batch.hecnn", samples);
        write_bytes(onnx_path(), std::span(reinterpret_cast<const std::uint8_t*>(onnx.data()), onnx.size()));
        // The plan `hecnn infer` compiles from the ONNX file (lazy relinearisation, its default).
        he::CompileOptions copt;
        copt.lazy_relin = true;
        cli_plan = he::compile(io::parse_onnx(onnx), copt);
    }
    fs::path onnx_path() const { return dir / "model.onnx"; }
    std::vector<std::string> infer(const fs::path& out, const std::string& memory) const {
        return {HECNN_EXE, "infer", "--model", onnx_path().string(), "--eval-keys", (keydir() / io::kEvalKeysFile).string(), "--in",
                (dir / "batch.hecnn").string(), "--out", out.string(), "--threads", "1", "--memory", memory, "--insecure-test-params"};
    }
    io::BatchInfo batch;
    he::Plan cli_plan;
};

std::string join(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
}

// `mpirun -np 2 … ARGS` (stderr into the captured stdout: mpirun's own reports).
cli::Subprocess mpirun2(const std::vector<std::string>& args) {
    return cli::Subprocess({"/bin/sh", "-c", "exec " + rank_environment() + "mpirun -np 2 --oversubscribe " + join(args) + " 2>&1"}, true);
}

struct Output {
    int status = -1;
    std::string text;
};
Output finish(cli::Subprocess& p) {
    Output o;
    while (auto line = p.read_line(120s)) o.text += *line + "\n";
    o.status = p.wait();
    return o;
}
Output run(const std::vector<std::string>& args) {
    cli::Subprocess p({"/bin/sh", "-c", "exec " + join(args) + " 2>&1"}, true);
    return finish(p);
}

// The bytes each rank sent and the prediction it printed: "rank K sent B bytes (predicted P)".
std::vector<std::pair<std::uint64_t, std::uint64_t>> exchanged(const std::string& text) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> v;
    const std::regex re("rank ([0-9]+) sent ([0-9]+) bytes \\(predicted ([0-9]+)\\)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
        EXPECT_EQ(std::stoul((*it)[1]), v.size());
        v.emplace_back(std::stoull((*it)[2]), std::stoull((*it)[3]));
    }
    return v;
}

// `samples` logits of the result file, decrypted with the client's keys.
std::vector<double> decrypted(const MpiWorkflow& w, const fs::path& result) { return io::decrypt_result_file(w.keys, result).logits; }

void expect_same_result(const MpiWorkflow& w, const fs::path& one, const fs::path& two) {
    EXPECT_EQ(read_bytes(one), read_bytes(two)) << "the two-rank result file differs from the one-process one";
    const auto a = decrypted(w, one), b = decrypted(w, two);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-9) << "logit " << i;
    // And both are the model's answer (the plaintext plan on the same inputs).
    const auto ref = he::run_plaintext(w.cli_plan, w.inputs, w.batch.samples);
    ASSERT_EQ(ref.size(), a.size());
    double err = 0;
    for (std::size_t i = 0; i < a.size(); ++i) err = std::max(err, std::abs(a[i] - ref[i]));
    EXPECT_LT(err, 1e-2);
}

// What he::predict_exchange gives for the run: the runtime's schedule (inputs read lazily,
// each rank's share of the budget) and its partition over 2 ranks.
he::ExchangePrediction predicted(const MpiWorkflow& w, he::MemoryBudget rank_budget) {
    he::ExecutionOptions exec{.memory = rank_budget, .threads = 1, .lazy_inputs = true};
    const he::Schedule sch(w.cli_plan, w.batch.level, w.eval.ctx->n(), exec);
    const he::Partition part(w.cli_plan, sch, 2);
    std::size_t units[2] = {0, 0};
    for (std::size_t i = 0; i < sch.units().size(); ++i) ++units[part.owner(i)];
    EXPECT_GT(units[0], 0u) << "rank 0 computes nothing";
    EXPECT_GT(units[1], 0u) << "rank 1 computes nothing";
    return he::predict_exchange(w.cli_plan, sch, part, *w.eval.ctx, w.batch.level);
}

TEST_F(Mpirun, TwoRanksWriteTheOneProcessResultAndSendThePredictedBytes) {
    MpiWorkflow w;
    const auto one = run(w.infer(w.dir / "one.hecnn", "unlimited"));
    ASSERT_EQ(one.status, 0) << one.text;
    EXPECT_EQ(one.text.find("ranks"), std::string::npos) << "a run outside mpirun speaks of ranks:\n" << one.text;
    auto p = mpirun2(w.infer(w.dir / "two.hecnn", "unlimited"));
    const auto two = finish(p);
    ASSERT_EQ(two.status, 0) << two.text;
    EXPECT_NE(two.text.find("ranks       2 MPI ranks"), std::string::npos) << two.text;
    expect_same_result(w, w.dir / "one.hecnn", w.dir / "two.hecnn");

    const auto sent = exchanged(two.text);
    ASSERT_EQ(sent.size(), 2u) << two.text;
    const auto pred = predicted(w, he::MemoryBudget::unlimited());
    // Only to the ranks that read them: less than every produced wire once to the other
    // rank (the activation follows its conv; only the dense layer's inputs and the
    // outputs cross).
    std::uint64_t wires = 0;
    for (int x = w.cli_plan.input_count; x < w.cli_plan.wire_count(); ++x)
        wires += he::serialized_bytes(*w.eval.ctx, w.cli_plan.wire_level(x, w.batch.level), w.cli_plan.wire_size[x]);
    EXPECT_LT(pred.total(), wires);
    EXPECT_GT(pred.total(), 0u);
    // And what the simulator of R ranks (he::predict_ranks, `hecnn plan --ranks`) counts.
    he::SimulateOptions so;
    so.input_level = w.batch.level;
    so.exec = {.memory = he::MemoryBudget::unlimited(), .threads = 1, .lazy_inputs = true};
    const int R[] = {2};
    const he::Network net;
    const auto scaled = he::predict_ranks(w.cli_plan, *w.eval.ctx, he::Rates::defaults(), so, R, std::span(&net, 1));
    ASSERT_EQ(scaled.size(), 1u);
    ASSERT_EQ(scaled[0].rank.size(), 2u);
    for (int k = 0; k < 2; ++k) {
        EXPECT_EQ(sent[k].first, pred.sent[k]) << "rank " << k << ": measured vs he::predict_exchange";
        EXPECT_EQ(sent[k].second, pred.sent[k]) << "rank " << k << ": the prediction printed";
        EXPECT_EQ(sent[k].first, scaled[0].rank[k].sent_bytes) << "rank " << k << ": measured vs he::predict_ranks";
    }
}

// Under a budget that makes each rank spill (the budget is the machine's, shared by its 2
// ranks), the ranks still follow one schedule: same result, predicted bytes.
TEST_F(Mpirun, TwoRanksThatSpillAgreeOnTheSchedule) {
    MpiWorkflow w;
    const auto rank_budget = spilling_budget(w.cli_plan, w.plan);
    const std::string machine = std::to_string(rank_budget.bytes() * 2);
    const auto one = run(w.infer(w.dir / "one.hecnn", std::to_string(rank_budget.bytes())));
    ASSERT_EQ(one.status, 0) << one.text;
    auto p = mpirun2(w.infer(w.dir / "two.hecnn", machine));
    const auto two = finish(p);
    ASSERT_EQ(two.status, 0) << two.text;
    expect_same_result(w, w.dir / "one.hecnn", w.dir / "two.hecnn");
    const auto sent = exchanged(two.text);
    const auto pred = predicted(w, rank_budget);
    ASSERT_EQ(sent.size(), 2u) << two.text;
    for (int k = 0; k < 2; ++k) EXPECT_EQ(sent[k].first, pred.sent[k]) << "rank " << k;
}

// The serialised size predict_exchange counts is the engine's (ckks::serialize).
TEST_F(Mpirun, SerializedBytesAreTheEnginesSize) {
    MpiWorkflow w(4);
    const auto& ctx = w.keys.ctx;
    for (int level = 0; level <= ctx->max_level(); ++level)
        for (int size : {2, 3}) {
            ckks::Ciphertext ct(ctx, level, ctx->scale(), static_cast<std::size_t>(size), size == 3);
            std::fill(ct.words().begin(), ct.words().end(), 0);
            EXPECT_EQ(ckks::serialize(ct).size(), he::serialized_bytes(*ctx, level, size)) << "level " << level << ", size " << size;
        }
}

// The pid of rank `rank` of the mpirun `launcher` (a child with OMPI_COMM_WORLD_RANK set).
pid_t rank_pid(pid_t launcher, int rank) {
    for (int tries = 0; tries < 2000; ++tries) {
        for (const auto& e : fs::directory_iterator("/proc")) {
            const std::string name = e.path().filename();
            if (name.find_first_not_of("0123456789") != std::string::npos) continue;
            std::ifstream stat(e.path() / "stat");
            std::string line;
            std::getline(stat, line);
            const auto close = line.rfind(')');
            if (close == std::string::npos) continue;
            std::istringstream rest(line.substr(close + 2));
            char state;
            pid_t ppid = 0;
            rest >> state >> ppid;
            if (ppid != launcher) continue;
            std::ifstream env(e.path() / "environ");
            const std::string all((std::istreambuf_iterator<char>(env)), {});
            if (all.find(std::string("OMPI_COMM_WORLD_RANK=") + std::to_string(rank) + '\0') != std::string::npos) return std::stoi(name);
        }
        std::this_thread::sleep_for(5ms);
    }
    return -1;
}

TEST_F(Mpirun, AKilledRankFailsTheJobAndLeavesNoResult) {
    MpiWorkflow w(200);
    const fs::path out_dir = w.dir / "out";
    fs::create_directory(out_dir);
    auto p = mpirun2(w.infer(out_dir / "result.hecnn", "unlimited"));
    std::string text;
    bool started = false;  // rank 0 prints its "ranks" line after the broadcasts, before the run
    while (auto line = p.read_line(60s)) {
        text += *line + "\n";
        if (line->rfind("ranks", 0) == 0) {
            started = true;
            break;
        }
    }
    ASSERT_TRUE(started) << text;
    const pid_t r1 = rank_pid(p.pid(), 1);
    ASSERT_GT(r1, 0) << "rank 1 not found among mpirun's children";
    // Stopped first, so that the run is certainly still in progress when it is killed:
    // rank 0 cannot finish without rank 1's share of every wave.
    ASSERT_EQ(::kill(r1, SIGSTOP), 0);
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(fs::exists(out_dir / "result.hecnn")) << "the run finished before rank 1 was stopped: make the model larger";
    ASSERT_EQ(::kill(r1, SIGKILL), 0);
    const auto rest = finish(p);
    text += rest.text;
    EXPECT_NE(rest.status, 0) << text;
    EXPECT_EQ(text.find("wrote"), std::string::npos) << text;
    // mpirun names the rank and the signal.
    EXPECT_NE(text.find("rank 1"), std::string::npos) << text;
    EXPECT_NE(text.find("signal 9"), std::string::npos) << text;
    EXPECT_EQ(files_below(out_dir), 0u) << "files left in the result's directory";
}

}  // namespace
}  // namespace hecnn::test
