#include "hecnn/he/rates.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <span>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "hecnn/ckks/serialize.h"

namespace hecnn::he {
namespace {

constexpr const char* kFormat = "hecnn-rates";
constexpr int kVersion = 1;

[[noreturn]] void bad(const std::filesystem::path& path, const std::string& what) {
    throw std::runtime_error("rates file " + path.string() + ": " + what +
                             " (measure this machine again with `hecnn bench rates`, or remove the file)");
}

// A time (> 0, or ≥ 0 for a count that may be zero); `fallback` when the key is absent.
double number(const std::filesystem::path& path, const nlohmann::json& ms, const char* key, double fallback, bool zero_ok = false) {
    if (!ms.contains(key)) return fallback;
    const auto& v = ms.at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 || (!zero_ok && v.get<double>() == 0))
        bad(path, std::string("\"") + key + "\" is not a " + (zero_ok ? "non-negative" : "positive") + " number");
    return v.get<double>();
}

int int_in(const std::filesystem::path& path, const nlohmann::json& e, const char* key, int lo, int hi) {
    if (!e.contains(key) || !e.at(key).is_number_integer()) bad(path, std::string("an entry has no integer \"") + key + "\"");
    const auto v = e.at(key).get<long long>();
    if (v < lo || v > hi) bad(path, std::string("\"") + key + "\" = " + std::to_string(v) + " is outside " + std::to_string(lo) + "…" + std::to_string(hi));
    return static_cast<int>(v);
}

// Every measured figure and its name in an entry's "ms" object (the names of `hecnn bench
// ckks --json`, which lacks the newer ones: they keep the built-in figures).
struct Field {
    const char* key;
    double Rates::*field;
    bool required = false, zero_ok = false;
};
const Field kFields[] = {
    {"linear_per_mac", &Rates::mac_ms, true},
    {"linear_pass_macs", &Rates::linear_pass_macs, false, true},
    {"square_relin_rescale", &Rates::square_relin_rescale_ms, true},
    {"mul", &Rates::square_ms, true},
    {"relin", &Rates::relin_ms, true},
    {"rescale", &Rates::rescale_ms, true},
    {"copy", &Rates::copy_ms},
    {"spill", &Rates::spill_ms},
    {"input", &Rates::input_ms},
    {"first_touch_gib", &Rates::first_touch_ms_per_gib},
};

// One entry: the "ms" names of `hecnn bench ckks --json`, plus "limbs" in the cache format
// (bench ckks lists its "data_primes" instead).
Rates entry_rates(const std::filesystem::path& path, const nlohmann::json& e) {
    if (!e.is_object()) bad(path, "an entry is not a JSON object");
    Rates r = Rates::defaults();
    r.log_n = int_in(path, e, "log_n", 10, 17);
    if (e.contains("limbs")) {
        r.limbs = int_in(path, e, "limbs", 1, 64);
    } else {
        if (!e.contains("data_primes") || !e.at("data_primes").is_array() || e.at("data_primes").empty() || e.at("data_primes").size() > 64)
            bad(path, "an entry has neither \"limbs\" nor a list of \"data_primes\"");
        r.limbs = static_cast<int>(e.at("data_primes").size());
    }
    r.threads = e.contains("threads") ? int_in(path, e, "threads", 1, 4096) : 1;
    if (!e.contains("ms") || !e.at("ms").is_object()) bad(path, "an entry has no \"ms\" object");
    const auto& ms = e.at("ms");
    for (const auto& f : kFields) {
        if (f.required && !ms.contains(f.key)) bad(path, std::string("an entry has no \"") + f.key + "\" time");
        r.*f.field = number(path, ms, f.key, r.*f.field, f.zero_ok);  // absent: the built-in figure
    }
    return r;
}

nlohmann::json entry_json(const Rates& r) {
    nlohmann::json e;
    e["log_n"] = r.log_n;
    e["limbs"] = r.limbs;
    e["threads"] = r.threads;
    e["ms"] = nlohmann::json::object();
    for (const auto& f : kFields) e["ms"][f.key] = r.*f.field;
    return e;
}

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown host";
    return buf;
}

}  // namespace

Rates Rates::defaults() {
    // `hecnn bench ckks --log-n 14 --no-baselines` on the development machine (one thread,
    // data primes {60, 40×7}, special {49, 49}); see docs/INFERENCE.md.
    Rates r;
    r.log_n = 14;
    r.limbs = 8;
    r.threads = 1;
    // Re-measured after the ModGemm/Karatsuba and relinearisation work (was 0.0769,
    // 10.07, 2.55, 9.38, 0.0709 ms).
    r.mac_ms = 0.03376;
    r.square_relin_rescale_ms = 5.483;
    r.square_ms = 1.739;
    r.relin_ms = 4.417;
    r.rescale_ms = 0.0750;
    // Memory traffic (same command, after the schedule work; the spill goes through the
    // page cache). First touch at 2 threads was 369 ms/GiB: page faults scale poorly with
    // threads, so the figure is used as is, whatever the thread count.
    r.copy_ms = 0.041;
    r.spill_ms = 7.7;
    r.first_touch_ms_per_gib = 490;
    // `hecnn bench rates --threads 1` at 2^14 (8 limbs) on the same machine, scaled by its
    // square kernel to the figures above (added with the lazy inputs' cost).
    r.input_ms = 2.0;
    return r;
}

Rates Rates::from_file(const std::filesystem::path& path, int log_n, int threads) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open rates file " + path.string());
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        bad(path, std::string("not JSON: ") + e.what());
    }
    std::string origin = path.string();
    nlohmann::json entries;
    if (j.is_object() && j.contains("format")) {
        if (j.at("format") != kFormat) bad(path, "format is not \"" + std::string(kFormat) + "\"");
        if (!j.contains("version") || !j.at("version").is_number_integer() || j.at("version").get<int>() != kVersion)
            bad(path, "version is not " + std::to_string(kVersion) + " (written by another hecnn)");
        if (!j.contains("entries") || !j.at("entries").is_array()) bad(path, "no \"entries\" list");
        entries = j.at("entries");
        origin += " (hecnn bench rates";
        if (j.contains("host") && j.at("host").is_string()) origin += " on " + j.at("host").get<std::string>();
        if (j.contains("measured") && j.at("measured").is_string()) origin += ", " + j.at("measured").get<std::string>();
        origin += ")";
    } else {
        entries = j.is_array() ? j : nlohmann::json::array({j});  // `hecnn bench ckks --json`
    }
    std::vector<Rates> all;
    for (const auto& e : entries) all.push_back(entry_rates(path, e));
    if (all.empty()) bad(path, "no entry");
    // Closest ring degree; among those, the thread count asked for if measured.
    const Rates* best = nullptr;
    for (const auto& r : all) {
        if (!best) {
            best = &r;
            continue;
        }
        const int d = std::abs(r.log_n - log_n), bd = std::abs(best->log_n - log_n);
        if (d < bd || (d == bd && threads > 0 && r.threads == threads && best->threads != threads)) best = &r;
    }
    Rates r = *best;
    r.source = origin + ": N=2^" + std::to_string(r.log_n) + ", " + std::to_string(r.threads) + " thread(s)";
    return r;
}

std::filesystem::path Rates::cache_path() {
    if (const char* p = std::getenv("HECNN_RATES"); p && *p) return p;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "hecnn" / "rates.json";
    if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "hecnn" / "rates.json";
    return {};
}

Rates Rates::for_machine(int log_n, int threads) {
    const auto path = cache_path();
    std::error_code ec;
    if (path.empty() || !std::filesystem::exists(path, ec)) {
        Rates r = defaults();
        r.source = "built-in defaults (this machine is not measured: run `hecnn bench rates`)";
        return r;
    }
    try {
        return from_file(path, log_n, threads);
    } catch (const std::exception& e) {
        Rates r = defaults();
        r.source = std::string("built-in defaults (") + e.what() + ")";
        return r;
    }
}

Rates Rates::resolve(const std::string& path, int log_n, int threads) {
    return path.empty() ? for_machine(log_n, threads) : from_file(path, log_n, threads);
}

void save_rates(const std::vector<Rates>& rates, const std::filesystem::path& path) {
    nlohmann::json j;
    j["format"] = kFormat;
    j["version"] = kVersion;
    j["host"] = host_name();
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char when[32];
    std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    j["measured"] = when;
    j["entries"] = nlohmann::json::array();
    for (const auto& r : rates) j["entries"].push_back(entry_json(r));
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    const std::string text = j.dump(2) + "\n";
    ckks::write_file_atomic(path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

}  // namespace hecnn::he
