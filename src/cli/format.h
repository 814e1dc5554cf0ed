// Human-readable sizes and durations for the command line (the library's, io/format.h).
#pragma once

#include "hecnn/io/format.h"

namespace hecnn::cli {

using io::human_bytes;
using io::human_ms;

}  // namespace hecnn::cli
