// The bearer token of `hecnn serve --token-file` and `hecnn client --token-file`: the
// file's first line, trailing whitespace removed.
#pragma once

#include <stdexcept>
#include <string>

#include "hecnn/ckks/serialize.h"

namespace hecnn::cli {

inline std::string read_token_file(const std::string& path) {
    if (path.empty()) return {};
    const auto b = ckks::read_file(path, 4096);
    std::string t(b.begin(), b.end());
    t = t.substr(0, t.find('\n'));
    while (!t.empty() && (t.back() == '\r' || t.back() == ' ' || t.back() == '\t')) t.pop_back();
    if (t.size() < 16) throw std::runtime_error("the token in " + path + " is shorter than 16 characters; use a long random one (e.g. `openssl rand -hex 32`)");
    return t;
}

}  // namespace hecnn::cli
