// How a plan is executed (and predicted): the ciphertext memory budget, where spilled
// ciphertexts go, the threads and the schedule's knobs — one option set shared by the
// schedule, the simulator, the runtime, the pipeline and the server's jobs, so that a
// prediction and the run it predicts are made under the same figures.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace hecnn::he {

// Unit order (schedule.h). Steps: step by step, each step's units in plan order (a conv
// sweeps its output positions) — the most parallel waves. DepthFirst: each unit as late as
// possible, right after the units making its inputs, driven from the plan outputs — a
// layer is then computed a few positions ahead of its consumer instead of whole
// (SqueezeNet's 64×32×32 first layer is 557 GiB at N = 2^15), at the price of smaller
// waves. Auto: Steps, unless it spills; then whichever spills fewer bytes.
enum class Order { Auto, Steps, DepthFirst };

// Bytes of ciphertexts held at once (schedule.h says what is counted). One of:
//  - the default: a share of this machine's MemAvailable (kDefaultShare; the rest is left
//    to the kernel, other processes, the engine's temporaries). It is read from /proc
//    only when resolved() is called, so a caller that predicts and then runs resolves
//    once and both see the same bytes;
//  - an explicit byte count (never 0: "0" meant "unlimited" in one place and "the
//    default" in others, so it is refused);
//  - unlimited: nothing is ever spilled.
class MemoryBudget {
public:
    static constexpr double kDefaultShare = 0.6;

    MemoryBudget() = default;  // the default, not yet resolved
    static MemoryBudget of(std::size_t bytes);  // throws std::invalid_argument for 0
    static MemoryBudget unlimited();
    // "8G", "512MiB", "1.5GiB", "300k", "123456" (powers of 1024), "unlimited", "default".
    // Throws std::invalid_argument naming the text (0 and garbage refused).
    static MemoryBudget parse(std::string_view text);

    bool is_default() const { return kind_ == Kind::Default; }   // not yet resolved
    bool is_unlimited() const { return kind_ == Kind::Unlimited; }
    bool from_default() const { return from_default_; }          // resolved from the default
    // The default resolved against MemAvailable now (4 GiB if /proc says nothing); an
    // explicit or unlimited budget is returned unchanged.
    MemoryBudget resolved() const;
    // The byte limit; SIZE_MAX when unlimited. Throws std::logic_error for an unresolved
    // default (resolve first: a silent resolution here is what let prediction and run
    // disagree).
    std::size_t bytes() const;
    // One of `parts` equal shares (workers sharing this budget; their sum never exceeds
    // it). Unlimited stays unlimited; an unresolved default is resolved first. Throws
    // std::invalid_argument when a share would be 0 bytes.
    MemoryBudget share(std::size_t parts) const;
    // "8 GiB", "5.13 GiB (60 % of MemAvailable)", "unlimited", "60 % of MemAvailable".
    std::string describe() const;

    // Same kind and bytes (whether it came from the default does not count).
    bool operator==(const MemoryBudget& o) const { return kind_ == o.kind_ && bytes_ == o.bytes_; }

private:
    enum class Kind : unsigned char { Default, Bytes, Unlimited };
    Kind kind_ = Kind::Default;
    bool from_default_ = false;
    std::size_t bytes_ = 0;
};

struct ExecutionOptions {
    MemoryBudget memory{};            // default: kDefaultShare of MemAvailable, resolved by resolved()
    // Where spilled ciphertexts go (the runtime makes a fresh sub-directory there and
    // removes it); empty: the system's temporary directory.
    std::filesystem::path spill_dir{};
    // OpenMP threads: the run uses them and the prediction assumes them; 0: OpenMP's
    // current default (omp_get_max_threads), fixed by resolved().
    int threads = 0;
    std::size_t wave_units = 64;      // most units per parallel wave (≥ 1)
    Order order = Order::Auto;
    // Inputs fetched on first use (the runtime's provider form) instead of all held from
    // the start. The runtime sets it from the form it is called with.
    bool lazy_inputs = false;

    // The budget and the thread count fixed (see MemoryBudget::resolved); call once per
    // job and hand the result to both the simulator and the runtime.
    ExecutionOptions resolved() const;
};

}  // namespace hecnn::he
