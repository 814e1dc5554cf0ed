// The network between the ranks of a plan evaluated on several machines (ranks.h), as the
// scaling prediction (scaling.h) assumes it: every rank on its own link of `bits_per_second`
// each way (full duplex, a non-blocking switch: no contention beyond a rank's own link),
// and `latency_seconds` per message on top of its bytes.
#pragma once

#include <string>
#include <string_view>

namespace hecnn::he {

struct Network {
    // MPI over TCP on a data-centre Ethernet: tens of microseconds per message (an
    // InfiniBand fabric is ~2 µs); ciphertexts are megabytes, so it rarely matters.
    static constexpr double kDefaultLatencySeconds = 20e-6;

    double bits_per_second = 10e9;
    double latency_seconds = kDefaultLatencySeconds;

    double bytes_per_second() const { return bits_per_second / 8; }

    // "10Gbit", "100Gbit/s", "2.5 Gbit/s", "800Mbit", "1Tbit" (decimal prefixes k, M, G, T
    // of bits per second; "bit" and "/s" or "ps" may be spelt "bit/s", "bps"). Throws
    // std::invalid_argument naming the text: garbage, no unit, zero, negative, not finite.
    static double parse_bandwidth(std::string_view text);
    // "20us", "20µs", "1.5ms", "500ns", "0", "0.001s": seconds, ≥ 0 (a bare number needs a
    // unit unless it is 0). Throws std::invalid_argument naming the text.
    static double parse_latency(std::string_view text);
    // Both; either empty: its default.
    static Network parse(std::string_view bandwidth, std::string_view latency = {});

    // "10 Gbit/s", "2.5 Gbit/s", "800 Mbit/s": the bandwidth (the latency: latency_name()).
    std::string name() const;
    std::string latency_name() const;  // "20 µs"
};

}  // namespace hecnn::he
