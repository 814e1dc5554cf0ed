// Predictions files (io/predictions.h): what `hecnn decrypt` and `hecnn eval --out` write
// reads back exactly, malformed files are refused with a reason, and the comparison
// counts what an independent loop over the two score tables counts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "hecnn/io/predictions.h"

using namespace hecnn;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("hecnn-predictions-" + std::to_string(std::random_device{}()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

io::Predictions random_predictions(std::size_t images, std::size_t outputs, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0, 7);
    io::Predictions p;
    p.outputs = outputs;
    for (std::size_t k = 0; k < outputs; ++k) p.classes.push_back(k == 1 ? "T-shirt, \"top\"" : "class " + std::to_string(k));
    for (std::size_t i = 0; i < images; ++i) {
        p.names.push_back(i == 2 ? "a,b\nc" : "img" + std::to_string(i));
        p.labels.push_back(i % 3 == 0 ? -1 : static_cast<int>(rng() % outputs));
        for (std::size_t k = 0; k < outputs; ++k) p.scores.push_back(n(rng) * std::pow(10.0, static_cast<double>(rng() % 7) - 3));
    }
    return p;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

}  // namespace

TEST(Predictions, CsvAndJsonReadBackExactly) {
    TempDir dir;
    const auto p = random_predictions(57, 10, 3);
    for (const char* name : {"p.csv", "p.json"}) {
        io::write_predictions(dir.path / name, p, "result.hecnn", false);
        const auto q = io::read_predictions(dir.path / name);
        EXPECT_EQ(q.outputs, p.outputs) << name;
        EXPECT_EQ(q.classes, p.classes) << name;
        EXPECT_EQ(q.names, p.names) << name;
        EXPECT_EQ(q.labels, p.labels) << name;
        EXPECT_EQ(q.scores, p.scores) << name;  // bit for bit: a reference is compared at 1e-9
        EXPECT_EQ(q.correct(), p.correct()) << name;
    }
}

TEST(Predictions, AnExistingFileIsKeptUnlessReplaced) {
    TempDir dir;
    const auto p = random_predictions(4, 3, 1);
    write_text(dir.path / "p.csv", "mine");
    EXPECT_THROW(io::write_predictions(dir.path / "p.csv", p, "r", false), std::runtime_error);
    std::ifstream in(dir.path / "p.csv");
    std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(kept, "mine");
    io::write_predictions(dir.path / "p.csv", p, "r", true);
    EXPECT_EQ(io::read_predictions(dir.path / "p.csv").scores, p.scores);
    EXPECT_THROW(io::write_predictions(dir.path / "p.txt", p, "r", false), std::runtime_error);
}

TEST(Predictions, MalformedFilesAreRefusedWithAReason) {
    TempDir dir;
    const std::string header = "image,name,predicted,class,label,score_a,score_b\n";
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"no header", "0,x,0,a,,1,2\n"},
        {"no score column", "image,name,predicted,class,label\n"},
        {"a column not a score", "image,name,predicted,class,label,score_a,other\n"},
        {"a field missing", header + "0,x,0,a,,1\n"},
        {"a field too many", header + "0,x,0,a,,1,2,3\n"},
        {"not a number", header + "0,x,0,a,,1,two\n"},
        {"trailing garbage", header + "0,x,0,a,,1,2x\n"},
        {"not finite", header + "0,x,0,a,,1,nan\n"},
        {"infinite", header + "0,x,0,a,,1,inf\n"},
        {"out of order", header + "1,x,0,a,,1,2\n"},
        {"label out of range", header + "0,x,0,a,2,1,2\n"},
        {"label negative", header + "0,x,0,a,-1,1,2\n"},
        {"unclosed quote", header + "0,\"x,0,a,,1,2\n"},
    };
    for (const auto& [what, text] : bad) {
        write_text(dir.path / "p.csv", text);
        EXPECT_THROW(io::read_predictions(dir.path / "p.csv"), std::runtime_error) << what;
    }
    const std::vector<std::pair<std::string, std::string>> bad_json = {
        {"not json", "{"},
        {"no images", "{\"classes\": []}"},
        {"no scores", "{\"images\": [{\"image\": 0}]}"},
        {"scores differ", "{\"images\": [{\"image\": 0, \"scores\": [1, 2]}, {\"image\": 1, \"scores\": [1]}]}"},
        {"a score a string", "{\"images\": [{\"image\": 0, \"scores\": [\"1\"]}]}"},
        {"numbered wrong", "{\"images\": [{\"image\": 3, \"scores\": [1]}]}"},
        {"class names", "{\"classes\": [\"a\"], \"images\": [{\"image\": 0, \"scores\": [1, 2]}]}"},
        {"label", "{\"images\": [{\"image\": 0, \"scores\": [1, 2], \"label\": 2}]}"},
    };
    for (const auto& [what, text] : bad_json) {
        write_text(dir.path / "p.json", text);
        EXPECT_THROW(io::read_predictions(dir.path / "p.json"), std::runtime_error) << what;
    }
    write_text(dir.path / "p.csv", header + "0,x,1,b,1,0.5,2\n\n");  // a trailing empty line is not a row
    const auto ok = io::read_predictions(dir.path / "p.csv");
    EXPECT_EQ(ok.images(), 1u);
    EXPECT_EQ(ok.predicted(0), 1);
    EXPECT_THROW(io::read_predictions(dir.path / "missing.csv"), std::runtime_error);
}

TEST(Predictions, ComparisonCountsAgreementAndTheLargestError) {
    const auto ref = random_predictions(200, 10, 7);
    auto enc = ref;
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(-1e-6, 1e-6);
    for (double& v : enc.scores) v += u(rng);
    // Independently of compare_predictions: the classes that differ and the largest error.
    auto argmax = [](const io::Predictions& p, std::size_t i) {
        std::size_t best = 0;
        for (std::size_t k = 1; k < p.outputs; ++k)
            if (p.scores[i * p.outputs + k] > p.scores[i * p.outputs + best]) best = k;
        return best;
    };
    for (std::size_t i : {5u, 17u, 130u}) enc.scores[i * 10 + (argmax(ref, i) + 1) % 10] += 1e3;  // these three change class
    std::size_t same = 0;
    double worst = 0;
    for (std::size_t i = 0; i < ref.images(); ++i) {
        same += argmax(ref, i) == argmax(enc, i);
        for (std::size_t k = 0; k < 10; ++k) worst = std::max(worst, std::abs(enc.scores[i * 10 + k] - ref.scores[i * 10 + k]));
    }
    const auto g = io::compare_predictions(enc, ref);
    EXPECT_EQ(g.images, ref.images());
    EXPECT_EQ(g.same_class, same);
    EXPECT_LT(g.same_class, ref.images());
    EXPECT_EQ(g.max_score_error, worst);
    EXPECT_NEAR(g.fraction(), static_cast<double>(same) / 200.0, 1e-15);
    auto fewer = ref;
    fewer.names.pop_back(), fewer.labels.pop_back(), fewer.scores.resize(fewer.scores.size() - 10);
    EXPECT_THROW(io::compare_predictions(enc, fewer), std::invalid_argument);
    auto other = ref;
    other.outputs = 5, other.scores.resize(ref.images() * 5);
    EXPECT_THROW(io::compare_predictions(enc, other), std::invalid_argument);
}

// A batch of some of the images (encrypt --offset/--limit) against the whole split: rows
// are matched by name, whatever their order.
TEST(Predictions, ABatchIsMatchedToItsImagesByName) {
    const auto ref = random_predictions(120, 4, 5);
    io::Predictions part;
    part.outputs = ref.outputs;
    for (std::size_t i : {90u, 7u, 33u, 34u}) {
        part.names.push_back(ref.names[i]);
        for (double v : ref.scores_of(i)) part.scores.push_back(v);
    }
    part.scores[2 * 4 + 1] += 0.25;  // image 33's second score
    const auto g = io::compare_predictions(part, ref);
    EXPECT_TRUE(g.by_name);
    EXPECT_EQ(g.images, 4u);
    EXPECT_EQ(g.max_score_error, 0.25);
    EXPECT_EQ(g.worst_image, 2u);
    // Positionally these are other images: with a name the reference lacks, and not as
    // many images, it is refused.
    part.names[0] = "not in the reference";
    EXPECT_THROW(io::compare_predictions(part, ref), std::invalid_argument);
}
