// RNS constants derived from the parameters (internal to the ckks layer).
#pragma once

#include <memory>
#include <vector>

#include "hecnn/ckks/context.h"
#include "hecnn/math/rns.h"

namespace hecnn::ckks {

struct Context::Precomp {
    // Rescale from level l to l-1 (index l): q_l^{-1} mod q_i (with Shoup quotient) and
    // q_l mod q_i, for i < l.
    std::vector<std::vector<u64>> rescale_inv, rescale_inv_shoup, rescale_qmod;
    // ModUp of key-switching digit d truncated to s primes: modup[d][s-1] converts from
    // data primes [d·alpha, d·alpha+s) to every extended modulus (data then special).
    std::vector<std::vector<std::unique_ptr<math::BaseConverter>>> modup;
    // ModDown: special primes → data primes, then multiply by P^{-1} mod q_i.
    std::unique_ptr<math::BaseConverter> moddown;
    std::vector<u64> p_inv_mod_q, p_inv_mod_q_shoup;
    std::vector<u64> p_mod_q;  // P mod q_i: the gadget factor of the relinearisation key
};

}  // namespace hecnn::ckks
