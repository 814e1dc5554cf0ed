// Shared set-up of the file-workflow tests: a tiny HE-friendly model, its plan at small
// INSECURE test-only parameters (N = 2^11), a scratch directory, and byte-level helpers
// for corrupting files.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "he/he_engine.h"
#include "hecnn/ckks/serialize.h"
#include "hecnn/he/pipeline.h"
#include "hecnn/io/batch_file.h"
#include "hecnn/io/infer_job.h"
#include "hecnn/io/keyset.h"
#include "hecnn/io/onnx.h"
#include "hecnn/io/plan_file.h"
#include "io/container.h"

namespace hecnn::test {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, removed with its contents.
class ScratchDir {
public:
    ScratchDir() {
        std::string tmpl = (fs::temp_directory_path() / "hecnn-workflow-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& name) const { return path_ / name; }

private:
    fs::path path_;
};

inline std::vector<std::uint8_t> read_bytes(const fs::path& p) { return ckks::read_file(p, std::size_t{1} << 30); }
inline void write_bytes(const fs::path& p, std::span<const std::uint8_t> b) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
inline std::size_t files_in(const fs::path& dir) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}));
}

// Regular files anywhere below dir (0 if it does not exist).
inline std::size_t files_below(const fs::path& dir) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator{}; it.increment(ec))
        n += it->is_regular_file(ec);
    return n;
}

inline std::size_t bytes_below(const fs::path& dir) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator{}; it.increment(ec))
        if (it->is_regular_file(ec)) n += it->file_size(ec);
    return n;
}

// A budget under which a job of `compiled` at the plan's parameters (inputs read on
// demand, as infer_batch_file does) spills but still runs: the largest sixteenth of the
// unbudgeted peak for which the simulator — whose schedule the runtime follows — has
// ciphertexts on disk at the end of some step (so that spill files can be seen there).
inline he::MemoryBudget spilling_budget(const he::Plan& compiled, const io::PlanFile& plan) {
    const auto ctx = ckks::Context::create(plan.params);
    he::SimulateOptions so;
    so.exec = {.memory = he::MemoryBudget::unlimited(), .threads = 1, .lazy_inputs = true};
    const std::size_t peak = he::simulate(compiled, *ctx, he::Rates::defaults(), so).peak_bytes;
    for (std::size_t k = 15; k >= 1; --k) {
        so.exec.memory = he::MemoryBudget::of(peak * k / 16);
        try {
            const auto p = he::simulate(compiled, *ctx, he::Rates::defaults(), so);
            if (std::any_of(p.steps.begin(), p.steps.end(), [](const he::StepRecord& s) { return s.spilled > 0; })) return so.exec.memory;
        } catch (const std::runtime_error&) {  // below one unit
            break;
        }
    }
    ADD_FAILURE() << "no budget makes the model spill";
    return he::MemoryBudget::unlimited();
}

// f() must throw ckks::FormatError whose message contains `needle`.
inline void expect_format_error(const std::function<void()>& f, const std::string& needle) {
    try {
        f();
        ADD_FAILURE() << "accepted; expected a refusal mentioning '" << needle << "'";
    } catch (const ckks::FormatError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

// `original`'s header with another payload, length and checksum recomputed: a
// well-formed container whose content is wrong (what the field checks must catch).
inline std::vector<std::uint8_t> rebuild_container(std::span<const std::uint8_t> original, std::span<const std::uint8_t> payload) {
    const auto kind = static_cast<io::detail::FileKind>(original[7] | (original[8] << 8));
    return io::detail::make_container(kind, io::detail::get_u64(original.data() + 11), payload);
}

// conv 3×3 (1→channels) on 1×side×side, element-wise x² activation, dense 3.
inline nn::Model conv_square_model(int side, int channels, unsigned seed) {
    Builder b({1, side, side}, seed);
    b.conv(channels, 3);
    b.act("element");
    b.dense(3);
    auto m = b.finish();
    m.preprocessing.scale = 1.0 / 255;
    m.preprocessing.mean = {0.5};
    m.preprocessing.std = {0.25};
    m.preprocessing.classes = {"zero", "one", "two"};
    return m;
}

// The tiny model: conv 3×3 (1→2) on 1×5×5, element-wise x² activation, dense 3.
inline nn::Model tiny_model(unsigned seed = 5) { return conv_square_model(5, 2, seed); }

struct Workflow {
    explicit Workflow(unsigned seed = 5, std::size_t batch = 40) : Workflow(tiny_model(seed), batch, 11) {}
    // Any model (its preprocessing set), planned at N = 2^log_n.
    Workflow(nn::Model m, std::size_t batch, int log_n) : model(std::move(m)), onnx(io::serialize_onnx(model)) {
        he::PipelineOptions o;
        o.params = insecure_small(log_n);
        const auto calib = random_inputs(64 * static_cast<std::size_t>(nn::element_count(model.input_shape())), 3, -2, 2);
        compiled = he::compile_for_batch(model, calib, 64, o);
        plan = io::make_plan_file(model.preprocessing, onnx, compiled, batch);
        plan.model_name = "tiny.onnx";
    }
    nn::Model model;
    std::string onnx;
    he::CompiledModel compiled;
    io::PlanFile plan;
};

// A workflow with keys in a scratch directory.
struct KeyedWorkflow : Workflow {
    KeyedWorkflow() { make_keys(); }
    KeyedWorkflow(nn::Model m, std::size_t batch, int log_n) : Workflow(std::move(m), batch, log_n) { make_keys(); }
    void make_keys() {
        io::create_keyset(plan, keydir(), false);
        keys = io::load_client_keys(keydir(), true);
        eval = io::load_eval_keys_file(keydir() / io::kEvalKeysFile, true);
    }
    fs::path keydir() const { return dir / "keys"; }
    // `samples` preprocessed random images encrypted into `name`.
    io::BatchInfo encrypt(const std::string& name, std::size_t samples, unsigned seed = 9) {
        inputs = random_inputs(samples * plan.features(), seed, -2, 2);
        return io::encrypt_batch_file(keys, inputs, samples, dir / name);
    }
    ScratchDir dir;
    io::ClientKeys keys;
    io::EvalKeys eval;
    std::vector<double> inputs;
};

}  // namespace hecnn::test
