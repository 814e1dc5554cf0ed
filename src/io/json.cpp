#include "hecnn/io/json.h"

#include <string>

#include "hecnn/ckks/serialize.h"

namespace hecnn::io {

nlohmann::json parse_json_bounded(std::string_view text, const char* what, int max_depth) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) throw ckks::FormatError(std::string(what) + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        throw ckks::FormatError(std::string(what) + ": not valid JSON (" + e.what() + ")");
    }
}

}  // namespace hecnn::io
