#include "hecnn/he/network.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace hecnn::he {
namespace {

// The number at the start of `text` and what follows it (spaces skipped); throws naming
// `what` when there is no number, or it is negative or not finite.
double leading_number(std::string_view text, const char* what, std::string& rest) {
    const std::string t(text);
    const char* begin = t.c_str();
    char* end = nullptr;
    // (strtod also reads "inf", "nan" and hexadecimal: refused below or by the unit.)
    const double v = t.empty() || !(std::isdigit(static_cast<unsigned char>(t[0])) || t[0] == '.') ? NAN : std::strtod(begin, &end);
    bool plain = end != nullptr && end != begin;  // decimal digits, point and exponent only (no "0x…")
    for (const char* c = begin; plain && c < end; ++c) plain = std::isdigit(static_cast<unsigned char>(*c)) || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' || *c == '-';
    if (!plain || !std::isfinite(v) || v < 0)
        throw std::invalid_argument(std::string("not a ") + what + ": '" + t + "'");
    rest = std::string(end);
    std::size_t i = 0;
    while (i < rest.size() && rest[i] == ' ') ++i;
    rest = rest.substr(i);
    return v;
}

std::string strip_suffix(std::string s, std::string_view suffix) {
    if (s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) s.resize(s.size() - suffix.size());
    return s;
}

std::string fmt(double v, const char* unit) {
    char b[48];
    std::snprintf(b, sizeof b, "%g %s", v, unit);
    return b;
}

}  // namespace

double Network::parse_bandwidth(std::string_view text) {
    constexpr const char* kWhat = "network bandwidth (e.g. 10Gbit, 100Gbit/s, 800Mbit)";
    std::string unit;
    const double v = leading_number(text, kWhat, unit);
    // "Gbit/s", "Gbit", "Gbps", "Gb/s" (b: bits; a capital B, bytes, is refused: ambiguous
    // on the command line, and a network is quoted in bits).
    unit = strip_suffix(strip_suffix(unit, "/s"), "ps");
    unit = strip_suffix(unit, "it");
    double mult = 0;
    if (unit == "b") mult = 1;
    else if (unit.size() == 2 && unit[1] == 'b') {
        switch (unit[0]) {
            case 'k': case 'K': mult = 1e3; break;
            case 'M': mult = 1e6; break;
            case 'G': mult = 1e9; break;
            case 'T': mult = 1e12; break;
            default: break;
        }
    }
    if (mult == 0) throw std::invalid_argument("unknown unit in network bandwidth '" + std::string(text) + "' (use kbit, Mbit, Gbit or Tbit, per second)");
    if (v == 0) throw std::invalid_argument("network bandwidth '" + std::string(text) + "' is zero");
    return v * mult;
}

double Network::parse_latency(std::string_view text) {
    constexpr const char* kWhat = "network latency (e.g. 20us, 1.5ms, 0)";
    std::string unit;
    const double v = leading_number(text, kWhat, unit);
    double mult = 0;
    if (unit == "s") mult = 1;
    else if (unit == "ms") mult = 1e-3;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") mult = 1e-6;  // us, µ (micro sign), μ (Greek mu)
    else if (unit == "ns") mult = 1e-9;
    else if (unit.empty() && v == 0) mult = 1;
    if (mult == 0) throw std::invalid_argument("unknown unit in network latency '" + std::string(text) + "' (use s, ms, us or ns)");
    return v * mult;
}

Network Network::parse(std::string_view bandwidth, std::string_view latency) {
    Network n;
    if (!bandwidth.empty()) n.bits_per_second = parse_bandwidth(bandwidth);
    if (!latency.empty()) n.latency_seconds = parse_latency(latency);
    return n;
}

std::string Network::name() const {
    if (bits_per_second >= 1e12) return fmt(bits_per_second / 1e12, "Tbit/s");
    if (bits_per_second >= 1e9) return fmt(bits_per_second / 1e9, "Gbit/s");
    if (bits_per_second >= 1e6) return fmt(bits_per_second / 1e6, "Mbit/s");
    return fmt(bits_per_second / 1e3, "kbit/s");
}

std::string Network::latency_name() const {
    if (latency_seconds >= 1e-3) return fmt(latency_seconds * 1e3, "ms");
    if (latency_seconds >= 1e-6 || latency_seconds == 0) return fmt(latency_seconds * 1e6, "\xc2\xb5s");
    return fmt(latency_seconds * 1e9, "ns");
}

}  // namespace hecnn::he
