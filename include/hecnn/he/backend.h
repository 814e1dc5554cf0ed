// The seam between the runtime and the engine that computes: what the runtime decides
// (which units, in what order, what is held, spilled, dropped — he::Schedule) is kept
// apart from how a ciphertext operation is done, where its buffers come from and how
// independent work is spread over the machine. A second backend (a GPU, a remote engine)
// implements this interface; he::Runtime calls nothing else of the engine. Modelled on
// ggml's backend interface (a table of operations + buffer allocation + a scheduler that
// only decides order), with the same cross-check idea as its test-backend-ops: every
// operation here is run against the direct ckks::Evaluator result (tests/he/test_backend.cpp).
//
// Ciphertexts are ckks::Ciphertext (host memory, the engine's format) at the seam: the
// runtime holds them, counts their bytes and hands them back. A device backend keeps its
// own copies behind allocate() and the operations and brings them back when serialised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/ckks/keys.h"
#include "hecnn/ckks/evaluator.h"  // LinearMap

namespace hecnn::he {

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const = 0;
    virtual const ckks::ContextPtr& context() const = 0;

    // Buffers: every ciphertext the runtime makes comes from here.
    // A ciphertext of the given shape, every residue 0 when `zero` (a sum to add into).
    virtual ckks::Ciphertext allocate(int level, double scale, std::size_t size, bool ntt, bool zero) const = 0;
    // c's first level+1 limbs in a block of the new size (an early drop gives bytes back;
    // drop_to_level_inplace keeps the allocation).
    virtual ckks::Ciphertext dropped_copy(const ckks::Ciphertext& c, int level) const = 0;

    // Operations (ckks/evaluator.h says what each does).
    virtual std::vector<ckks::Ciphertext> linear(std::span<const ckks::Ciphertext* const> in, const ckks::LinearMap& map) const = 0;
    virtual ckks::Ciphertext square(const ckks::Ciphertext& x) const = 0;
    virtual ckks::Ciphertext square_relin_rescale(const ckks::Ciphertext& x, const ckks::RelinKey& rk) const = 0;
    virtual ckks::Ciphertext multiply(const ckks::Ciphertext& x, const ckks::Ciphertext& y) const = 0;
    virtual void relinearize_inplace(ckks::Ciphertext& c, const ckks::RelinKey& rk) const = 0;
    virtual void rescale_inplace(ckks::Ciphertext& c) const = 0;
    virtual void drop_to_level_inplace(ckks::Ciphertext& c, int level) const = 0;
    virtual void add_inplace(ckks::Ciphertext& a, const ckks::Ciphertext& b) const = 0;
    virtual void to_coeff_inplace(ckks::Ciphertext& c) const = 0;
    // Spilling: the bytes of a ciphertext and back (ckks/serialize.h's format).
    virtual std::vector<std::uint8_t> serialize(const ckks::Ciphertext& c) const = 0;
    virtual ckks::Ciphertext deserialize(std::span<const std::uint8_t> bytes) const = 0;

    // Parallelism. The runtime says what is independent (a wave's units, a run of memory
    // actions) and calls parallel_for; the backend decides how to spread it. body may
    // throw: the first exception is rethrown after the others have finished.
    virtual void parallel_for(std::size_t n, const std::function<void(std::size_t)>& body) const = 0;
    // Threads of a run (0: leave the backend's default); returns the previous setting, to
    // be restored after the run.
    virtual int set_threads(int threads) const = 0;
};

}  // namespace hecnn::he
