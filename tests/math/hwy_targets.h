// Test helper: run code with Highway's dynamic dispatch pinned to one target.
#pragma once

#include <hwy/targets.h>

#include <cstdint>

namespace hecnn::test {

// Pins the Highway dispatch to one target for the lifetime of the guard.
class PinTarget {
public:
    explicit PinTarget(std::int64_t target) { hwy::SetSupportedTargetsForTest(target); }
    ~PinTarget() { hwy::SetSupportedTargetsForTest(0); }
    PinTarget(const PinTarget&) = delete;
    PinTarget& operator=(const PinTarget&) = delete;
};

}  // namespace hecnn::test
