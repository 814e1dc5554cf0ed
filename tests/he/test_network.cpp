// he::Network (network.h): bandwidths and latencies as a user writes them, garbage refused
// with the text named.
#include <gtest/gtest.h>

#include <string>

#include "hecnn/he/network.h"

using hecnn::he::Network;

namespace {

TEST(Network, ParsesBandwidthsInBitsPerSecond) {
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("10Gbit"), 10e9);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("100Gbit/s"), 100e9);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("2.5 Gbit/s"), 2.5e9);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("800Mbit"), 800e6);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("10Gbps"), 10e9);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("10Gb/s"), 10e9);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("1Tbit"), 1e12);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("56kbit"), 56e3);
    EXPECT_DOUBLE_EQ(Network::parse_bandwidth("1e3bit"), 1e3);
    EXPECT_DOUBLE_EQ(Network::parse("25Gbit").bytes_per_second(), 25e9 / 8);
    EXPECT_EQ(Network::parse("25Gbit").latency_seconds, Network::kDefaultLatencySeconds);
    EXPECT_EQ(Network::parse("").bits_per_second, Network{}.bits_per_second);
}

TEST(Network, RefusesGarbageBandwidthsNamingThem) {
    for (const std::string bad : {"", "fast", "10", "10G", "10GB", "10GB/s", "10gbit", "-1Gbit", "0Gbit", "0", "inf", "infGbit", "nanGbit",
                                  "0x10Gbit", "10Gbitx", "1e400Gbit", "Gbit", " 10Gbit", "10 Gbit/s/s"}) {
        try {
            Network::parse_bandwidth(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
        }
    }
}

TEST(Network, ParsesLatencies) {
    EXPECT_DOUBLE_EQ(Network::parse_latency("20us"), 20e-6);
    EXPECT_DOUBLE_EQ(Network::parse_latency("20\xc2\xb5s"), 20e-6);
    EXPECT_DOUBLE_EQ(Network::parse_latency("1.5ms"), 1.5e-3);
    EXPECT_DOUBLE_EQ(Network::parse_latency("500ns"), 500e-9);
    EXPECT_DOUBLE_EQ(Network::parse_latency("0.001s"), 1e-3);
    EXPECT_EQ(Network::parse_latency("0"), 0.0);
    EXPECT_DOUBLE_EQ(Network::parse("10Gbit", "2us").latency_seconds, 2e-6);
    for (const std::string bad : {"20", "-1us", "abc", "20 parsecs", "us", "nanus", "1e999s", "20usec"})
        EXPECT_THROW(Network::parse_latency(bad), std::invalid_argument) << bad;
}

TEST(Network, NamesWhatItParsed) {
    EXPECT_EQ(Network::parse("10Gbit").name(), "10 Gbit/s");
    EXPECT_EQ(Network::parse("2.5Gbit").name(), "2.5 Gbit/s");
    EXPECT_EQ(Network::parse("800Mbit").name(), "800 Mbit/s");
    EXPECT_EQ(Network::parse("10Gbit", "20us").latency_name(), "20 \xc2\xb5s");
    EXPECT_EQ(Network::parse("10Gbit", "1.5ms").latency_name(), "1.5 ms");
}

}  // namespace
