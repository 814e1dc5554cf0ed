#include "hecnn/ckks/ciphertext.h"

#include <cstring>
#include <algorithm>
#include <stdexcept>
#include <string>

namespace hecnn::ckks {

PolyBlock::PolyBlock(ContextPtr ctx, int level, std::size_t polys, bool ntt, double scale)
    : ctx_(std::move(ctx)), level_(level), polys_(polys), ntt_(ntt), scale_(scale) {
    if (!ctx_) throw std::invalid_argument("PolyBlock: null context");
    if (level < 0 || level > ctx_->max_level())
        throw std::invalid_argument("PolyBlock: level " + std::to_string(level) + " outside [0, " +
                                    std::to_string(ctx_->max_level()) + "]");
    if (polys == 0 || polys > 3) throw std::invalid_argument("PolyBlock: 1 to 3 polynomials");
    data_.resize(polys_ * limbs() * n());
}

void PolyBlock::reshape(int level, std::size_t polys) {
    if (level < 0 || level > ctx_->max_level() || polys == 0 || polys > 3) throw std::invalid_argument("PolyBlock::reshape: bad shape");
    level_ = level;
    polys_ = polys;
    data_.resize(polys_ * limbs() * n());
}

void PolyBlock::drop_to_level(int level) {
    if (level > level_ || level < 0)
        throw std::invalid_argument("drop_to_level: target level " + std::to_string(level) + " is not in [0, " +
                                    std::to_string(level_) + "]");
    if (level == level_) return;
    const std::size_t old_limbs = limbs(), new_limbs = static_cast<std::size_t>(level) + 1, nn = n();
    for (std::size_t k = 1; k < polys_; ++k)
        std::memmove(data_.data() + k * new_limbs * nn, data_.data() + k * old_limbs * nn, new_limbs * nn * sizeof(u64));
    level_ = level;
    data_.resize(polys_ * new_limbs * nn);  // keeps the capacity: no reallocation, no copy
}

}  // namespace hecnn::ckks
