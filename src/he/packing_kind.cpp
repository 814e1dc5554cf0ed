#include "hecnn/he/packing_kind.h"

#include <stdexcept>
#include <string>

namespace hecnn::he {

const char* packing_name(Packing p) {
    switch (p) {
        case Packing::Element: return "element";
        case Packing::Channel: return "channel";
    }
    throw std::invalid_argument("unknown packing " + std::to_string(static_cast<int>(p)));
}

Packing parse_packing(std::string_view name) {
    if (name == "element") return Packing::Element;
    if (name == "channel") return Packing::Channel;
    throw std::invalid_argument("unknown packing '" + std::string(name) + "' (element or channel)");
}

}  // namespace hecnn::he
