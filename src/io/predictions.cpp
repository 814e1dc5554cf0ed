#include "hecnn/io/predictions.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "hecnn/ckks/serialize.h"

namespace hecnn::io {
namespace {

namespace fs = std::filesystem;

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

// One CSV record from `text` at `pos` (RFC 4180 quoting; a quoted field may hold commas,
// quotes doubled, and line breaks). Advances pos past the record's line break.
std::vector<std::string> csv_record(const std::string& text, std::size_t& pos, const std::string& where) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    while (pos < text.size()) {
        const char c = text[pos++];
        if (quoted) {
            if (c != '"') fields.back() += c;
            else if (pos < text.size() && text[pos] == '"') fields.back() += '"', ++pos;
            else quoted = false;
        } else if (c == '"' && fields.back().empty()) {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else if (c == '\n') {
            if (!fields.back().empty() && fields.back().back() == '\r') fields.back().pop_back();
            return fields;
        } else {
            fields.back() += c;
        }
    }
    if (quoted) throw std::runtime_error(where + ": a quoted field is not closed");
    return fields;
}

double finite_number(const std::string& s, const std::string& where) {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(s, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != s.size() || !std::isfinite(v)) throw std::runtime_error(where + ": '" + s + "' is not a finite number");
    return v;
}

int label_field(const std::string& s, int outputs, const std::string& where) {
    if (s.empty()) return -1;
    const double v = finite_number(s, where);
    if (v != std::floor(v) || v < 0 || v >= outputs) throw std::runtime_error(where + ": label '" + s + "' is not a class index");
    return static_cast<int>(v);
}

std::string read_text(const fs::path& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) throw std::runtime_error(path.string() + ": " + ec.message());
    if (size > kMaxPredictionsBytes) throw std::runtime_error(path.string() + ": larger than a predictions file can be (" + std::to_string(size) + " bytes)");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (!in) throw std::runtime_error(path.string() + ": cannot be read");
    return s.str();
}

const char* kColumns[] = {"image", "name", "predicted", "class", "label"};
constexpr std::size_t kFixed = 5;

Predictions parse_csv(const std::string& text, const std::string& file) {
    std::size_t pos = 0, line = 1;
    const auto header = csv_record(text, pos, file + ":1");
    if (header.size() <= kFixed || !std::equal(kColumns, kColumns + kFixed, header.begin()))
        throw std::runtime_error(file + ":1: not a predictions file (the header must be image,name,predicted,class,label,score_…)");
    Predictions p;
    p.outputs = header.size() - kFixed;
    for (std::size_t k = kFixed; k < header.size(); ++k) {
        if (header[k].rfind("score_", 0) != 0) throw std::runtime_error(file + ":1: column " + std::to_string(k + 1) + " is not a score_ column");
        p.classes.push_back(header[k].substr(6));
    }
    bool any_label = false;
    while (pos < text.size()) {
        const std::string where = file + ":" + std::to_string(++line);
        const auto row = csv_record(text, pos, where);
        if (row.size() == 1 && row[0].empty()) continue;  // a trailing empty line
        if (row.size() != header.size())
            throw std::runtime_error(where + ": " + std::to_string(row.size()) + " fields, the header has " + std::to_string(header.size()));
        if (row[0] != std::to_string(p.images())) throw std::runtime_error(where + ": image '" + row[0] + "', expected " + std::to_string(p.images()));
        p.names.push_back(row[1]);
        const int label = label_field(row[4], static_cast<int>(p.outputs), where);
        any_label |= label >= 0;
        p.labels.push_back(label);
        for (std::size_t k = kFixed; k < row.size(); ++k) p.scores.push_back(finite_number(row[k], where));
    }
    if (!any_label) p.labels.clear();
    return p;
}

Predictions parse_json(const std::string& text, const std::string& file) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw std::runtime_error(file + ": not JSON (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("images") || !j["images"].is_array()) throw std::runtime_error(file + ": not a predictions file (no \"images\" array)");
    Predictions p;
    if (j.contains("classes") && j["classes"].is_array())
        for (const auto& c : j["classes"]) {
            if (!c.is_string()) throw std::runtime_error(file + ": \"classes\" must hold strings");
            p.classes.push_back(c.get<std::string>());
        }
    bool any_label = false;
    for (const auto& row : j["images"]) {
        const std::string where = file + ": image " + std::to_string(p.images());
        if (!row.is_object() || !row.contains("scores") || !row["scores"].is_array() || row["scores"].empty())
            throw std::runtime_error(where + " has no scores");
        if (!row.contains("image") || !row["image"].is_number_unsigned() || row["image"].get<std::size_t>() != p.images())
            throw std::runtime_error(where + ": its \"image\" number is not " + std::to_string(p.images()));
        if (p.images() == 0) p.outputs = row["scores"].size();
        if (row["scores"].size() != p.outputs) throw std::runtime_error(where + ": " + std::to_string(row["scores"].size()) + " scores, expected " + std::to_string(p.outputs));
        for (const auto& v : row["scores"]) {
            if (!v.is_number() || !std::isfinite(v.get<double>())) throw std::runtime_error(where + ": a score is not a finite number");
            p.scores.push_back(v.get<double>());
        }
        p.names.push_back(row.contains("name") && row["name"].is_string() ? row["name"].get<std::string>() : "#" + std::to_string(p.images()));
        int label = -1;
        if (row.contains("label")) {
            if (!row["label"].is_number_integer() || row["label"].get<long long>() < 0 || row["label"].get<long long>() >= static_cast<long long>(p.outputs))
                throw std::runtime_error(where + ": \"label\" is not a class index");
            label = row["label"].get<int>();
        }
        any_label |= label >= 0;
        p.labels.push_back(label);
    }
    if (!p.classes.empty() && p.classes.size() != p.outputs)
        throw std::runtime_error(file + ": " + std::to_string(p.classes.size()) + " class names for " + std::to_string(p.outputs) + " scores");
    if (!any_label) p.labels.clear();
    return p;
}

}  // namespace

int Predictions::predicted(std::size_t image) const {
    const auto s = scores_of(image);
    return static_cast<int>(std::max_element(s.begin(), s.end()) - s.begin());
}

std::string Predictions::class_name(int c) const {
    return static_cast<std::size_t>(c) < classes.size() ? classes[static_cast<std::size_t>(c)] : std::to_string(c);
}

std::size_t Predictions::labelled() const {
    return static_cast<std::size_t>(std::count_if(labels.begin(), labels.end(), [](int l) { return l >= 0; }));
}

std::size_t Predictions::correct() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) n += labels[i] >= 0 && labels[i] == predicted(i);
    return n;
}

void write_predictions(const fs::path& path, const Predictions& p, const std::string& source, bool replace) {
    if (p.scores.size() != p.images() * p.outputs || (!p.labels.empty() && p.labels.size() != p.images()))
        throw std::invalid_argument("write_predictions: scores or labels do not match the images");
    const bool json = path.extension() == ".json";
    if (!json && path.extension() != ".csv") throw std::runtime_error(path.string() + ": the predictions file must end in .csv or .json");
    std::string text;
    if (json) {
        nlohmann::json images = nlohmann::json::array();
        for (std::size_t b = 0; b < p.images(); ++b) {
            const auto s = p.scores_of(b);
            nlohmann::json row = {{"image", b}, {"name", p.names[b]}, {"predicted", p.predicted(b)}, {"class", p.class_name(p.predicted(b))},
                                  {"scores", std::vector<double>(s.begin(), s.end())}};
            if (!p.labels.empty() && p.labels[b] >= 0) row["label"] = p.labels[b];
            images.push_back(row);
        }
        nlohmann::json j = {{"result", source}, {"images", images}, {"classes", p.classes}};
        if (p.labelled()) j["accuracy"] = static_cast<double>(p.correct()) / static_cast<double>(p.labelled());
        text = j.dump(1) + "\n";
    } else {
        std::ostringstream csv;
        csv.precision(17);  // the scores round-trip exactly: a reference compared to 1e-9 must be the runner's doubles
        csv << "image,name,predicted,class,label";
        for (std::size_t k = 0; k < p.outputs; ++k) csv << "," << csv_field("score_" + p.class_name(static_cast<int>(k)));
        csv << "\n";
        for (std::size_t b = 0; b < p.images(); ++b) {
            const int pred = p.predicted(b);
            const int label = p.labels.empty() ? -1 : p.labels[b];
            csv << b << "," << csv_field(p.names[b]) << "," << pred << "," << csv_field(p.class_name(pred)) << "," << (label >= 0 ? std::to_string(label) : "");
            for (double v : p.scores_of(b)) csv << "," << v;
            csv << "\n";
        }
        text = csv.str();
    }
    ckks::AtomicFileWriter w(path);
    w.write({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    try {
        w.commit(replace);
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::file_exists) throw std::runtime_error(path.string() + " exists: choose another --out, or --force to replace it");
        throw;
    }
}

Predictions read_predictions(const fs::path& path) {
    const std::string text = read_text(path);
    if (path.extension() == ".json") return parse_json(text, path.string());
    if (path.extension() == ".csv") return parse_csv(text, path.string());
    throw std::runtime_error(path.string() + ": a predictions file ends in .csv or .json");
}

Agreement compare_predictions(const Predictions& a, const Predictions& reference) {
    if (a.outputs != reference.outputs)
        throw std::invalid_argument("the predictions have " + std::to_string(a.outputs) + " scores per image, the reference " + std::to_string(reference.outputs));
    // Rows are matched by image name when the reference names every image once (a batch of
    // some of the test images against the whole test split), else by position.
    std::unordered_map<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < reference.images(); ++i) by_name.emplace(reference.names[i], i);
    const bool unique = by_name.size() == reference.images();
    const bool named = unique && std::all_of(a.names.begin(), a.names.end(), [&](const std::string& n) { return by_name.count(n) != 0; });
    if (!named && a.images() != reference.images())
        throw std::invalid_argument("the predictions cover " + std::to_string(a.images()) + " images, the reference " + std::to_string(reference.images()) +
                                    ", and its names do not include theirs: not the same images");
    Agreement g;
    g.images = a.images();
    g.by_name = named;
    for (std::size_t i = 0; i < a.images(); ++i) {
        const std::size_t j = named ? by_name.at(a.names[i]) : i;
        g.same_class += a.predicted(i) == reference.predicted(j);
        const auto x = a.scores_of(i), y = reference.scores_of(j);
        for (std::size_t k = 0; k < a.outputs; ++k) {
            const double e = std::abs(x[k] - y[k]);
            if (e > g.max_score_error) g.max_score_error = e, g.worst_image = i;
            g.max_abs_score = std::max(g.max_abs_score, std::abs(y[k]));
        }
    }
    return g;
}

}  // namespace hecnn::io
