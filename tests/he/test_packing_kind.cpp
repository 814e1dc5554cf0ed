// The packing seam's names: each kind round-trips, anything else is refused.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "hecnn/he/packing_kind.h"

using namespace hecnn;

TEST(PackingKind, NamesRoundTrip) {
    for (auto p : {he::Packing::Element, he::Packing::Channel}) EXPECT_EQ(he::parse_packing(he::packing_name(p)), p);
    EXPECT_STREQ(he::packing_name(he::Packing::Element), "element");
    EXPECT_STREQ(he::packing_name(he::Packing::Channel), "channel");
}

TEST(PackingKind, UnknownNamesRefused) {
    for (const char* bad : {"", "Element", "channel ", "batch", "elementwise"}) {
        try {
            he::parse_packing(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("element or channel"), std::string::npos);
        }
    }
}
