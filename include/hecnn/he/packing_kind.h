// The packing seam: which layout of values in ciphertext slots a run uses.
//
//  - Element: ciphertext f holds feature f of up to N/2 images (one image per slot). Every
//    weight is a scalar, no rotations: the throughput mode (packing.h, the Runtime).
//  - Channel: one image in few ciphertexts, its channels in slot blocks, every linear step
//    a sum of rotations times plaintext masks: the latency mode (channel_plan.h,
//    channel_runtime.h).
//
// Both start from the same compiled he::Plan: a packing only decides where each wire of
// the plan lives (which ciphertext, which slot), not what is computed.
#pragma once

#include <string_view>

namespace hecnn::he {

enum class Packing { Element, Channel };

// "element" / "channel": the names the command line and reports use.
const char* packing_name(Packing p);
// The inverse of packing_name; throws std::invalid_argument naming the choices.
Packing parse_packing(std::string_view name);

}  // namespace hecnn::he
