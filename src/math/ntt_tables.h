// Internal layout of the NTT tables shared by the scalar and vector kernels.
#pragma once

#include <vector>

#include "hecnn/math/ntt.h"

namespace hecnn::math {

struct NTTTables::Tables {
    // psi^bitrev(i) and psi^-bitrev(i) with their Shoup quotients.
    std::vector<u64> psi, psi_shoup, inv_psi, inv_psi_shoup;
    u64 inv_n = 0, inv_n_shoup = 0;
    // psi^-bitrev(1) / N: the vector inverse folds the 1/N scaling into its last stage.
    u64 inv_psi1_n = 0, inv_psi1_n_shoup = 0;
};

}  // namespace hecnn::math
