// The client-side sidecar BATCH.labels.json: names (and labels, when known) of the images
// of a batch, bound to the batch by its checksum. Never uploaded.
#include <nlohmann/json.hpp>

#include "container.h"
#include "hecnn/io/batch_file.h"
#include "hecnn/io/json.h"

namespace hecnn::io {

namespace {
constexpr std::size_t kMaxLabelsBytes = std::size_t{64} << 20;
}

std::filesystem::path labels_path(const std::filesystem::path& file) { return file.string() + ".labels.json"; }

std::optional<std::pair<std::filesystem::path, BatchLabels>> find_labels(const std::filesystem::path& result, const Checksum& batch) {
    namespace fs = std::filesystem;
    const std::vector<fs::path> dirs{result.parent_path().empty() ? fs::path(".") : result.parent_path(), fs::path(".")};
    for (const auto& dir : dirs) {
        std::error_code ec;
        std::size_t seen = 0;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end && seen < 10000; it.increment(ec), ++seen) {
            const std::string name = it->path().filename().string();
            if (name.size() < 12 || name.compare(name.size() - 12, 12, ".labels.json") != 0) continue;
            try {
                auto l = load_labels(it->path());
                if (l.batch == batch) return std::make_pair(it->path(), std::move(l));
            } catch (const std::exception&) {
            }  // another or a broken sidecar: not this batch's
        }
    }
    return std::nullopt;
}

void save_labels(const std::filesystem::path& path, const BatchLabels& l) {
    nlohmann::json j = {{"hecnn", "labels"}, {"version", 1}, {"batch_checksum", detail::to_hex(l.batch)}, {"names", l.names},
                        {"labels", l.labels},  {"classes", l.classes}};
    const std::string s = j.dump(1) + "\n";
    ckks::write_file_atomic(path, {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

BatchLabels load_labels(const std::filesystem::path& path) {
    const auto bytes = ckks::read_file(path, kMaxLabelsBytes);
    const std::string file = path.string();
    const nlohmann::json j = parse_json_bounded(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), file.c_str());
    BatchLabels l;
    try {
        if (!j.is_object() || j.value("hecnn", "") != "labels" || j.value("version", 0) != 1)
            detail::bad(file + ": not a hecnn labels file (version 1)");
        if (!detail::from_hex(j.at("batch_checksum").get<std::string>(), l.batch)) detail::bad(file + ": batch_checksum is not 32 hex digits");
        l.names = j.at("names").get<std::vector<std::string>>();
        l.labels = j.at("labels").get<std::vector<int>>();
        l.classes = j.at("classes").get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
        detail::bad(file + ": malformed labels file (" + e.what() + ")");
    }
    if (!l.labels.empty() && l.labels.size() != l.names.size()) detail::bad(file + ": not one label per image name");
    for (int v : l.labels)
        if (v < -1 || (!l.classes.empty() && v >= static_cast<int>(l.classes.size()))) detail::bad(file + ": label " + std::to_string(v) + " out of range");
    return l;
}

}  // namespace hecnn::io
