// Kernel rates of a machine: what the simulator multiplies operation counts and bytes by.
// Three sources, in the order a front end resolves them (Rates::resolve):
//   a file named by the user (`--rates FILE`: `hecnn bench rates --out` or `hecnn bench
//   ckks --json`), else this machine's cache (written by `hecnn bench rates`), else the
//   built-in figures of the development machine. `source` says which was used.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "hecnn/ckks/context.h"

namespace hecnn::he {

// Kernel times (milliseconds) at a reference ring degree and limb count, as the wall time
// of one operation while `threads` threads work (`hecnn bench rates`: each thread on its
// own operations, as the runtime runs a wave; `hecnn bench ckks --threads T`: T threads
// inside one operation). Costs scale with the work: a ciphertext MAC, rescale, copy or
// spill ∝ N·limbs·polynomials; a square, relinearisation ∝ N·log N·limbs.
struct Rates {
    int log_n = 14;
    int limbs = 9;         // data primes of the reference parameters
    int threads = 1;
    double mac_ms = 0.0;   // one ciphertext × scalar MAC, as the time of a 27×64 map over its 1728 MACs
    // A linear call also passes once over each input and output (conversions, the final
    // reduction): in MACs' worth of time each, so a call costs mac·(I·O + pass·(I+O)).
    double linear_pass_macs = 8.0;
    double square_relin_rescale_ms = 0.0;
    double square_ms = 0.0;    // a product without relinearisation (bench "mul")
    double relin_ms = 0.0;
    double rescale_ms = 0.0;
    double copy_ms = 0.0;      // copying one ciphertext into a fresh block (a level drop; bench "copy")
    double spill_ms = 0.0;     // serialise + write + read + load one ciphertext (bench "spill")
    // Loading one uploaded (seeded) input ciphertext: its checksum, unpacking, and the
    // expansion of its second polynomial from the seed (bench "input"). A run with lazy
    // inputs (a server reading the batch file) pays it inside the run.
    double input_ms = 0.0;
    // First touch of fresh memory (page faults + zeroing), per GiB, when the process has
    // not held that much before (a "cold" run; bench "first_touch_gib").
    double first_touch_ms_per_gib = 0.0;
    std::string source = "built-in defaults";

    // Built-in figures measured on the development machine (docs/INFERENCE.md).
    static Rates defaults();
    // A rates file: the cache format of `hecnn bench rates` (the entry closest to log_n
    // measured with `threads` threads if there is one, else closest to log_n) or the
    // JSON of `hecnn bench ckks --json` (the entry closest to log_n; entries missing from
    // older files keep the built-in figures). Throws std::runtime_error naming the file
    // and what is wrong with it.
    static Rates from_file(const std::filesystem::path& path, int log_n = 14, int threads = 0);
    // This machine's rates: the cache file if it exists and reads (see cache_path), else
    // the built-in figures, with `source` saying why (never throws).
    static Rates for_machine(int log_n = 14, int threads = 0);
    // What front ends use: `path` if given (errors thrown), else for_machine.
    static Rates resolve(const std::string& path, int log_n = 14, int threads = 0);
    // $HECNN_RATES if set, else $XDG_CACHE_HOME/hecnn/rates.json, else
    // $HOME/.cache/hecnn/rates.json.
    static std::filesystem::path cache_path();
};

// The parameters kernels are measured at, by `hecnn bench rates` and `hecnn bench ckks`:
// a 60-bit q_0 and 40-bit primes, 2 / 7 / 16 of them at log N 13 / 14 / 15 (the chains of
// SEAL's P3, P2, P1 sets, docs/BASELINES.md), within the 128-bit bound. log N 13…15.
ckks::ParametersLiteral reference_literal(int log_n);

// `hecnn bench rates`: each kernel the simulator counts, run the way the runtime runs a
// wave (every thread on its own operations; outputs in fresh blocks from the inference
// allocator), median over repetitions. The first touch is measured first, on memory this
// process has never held, so call it in a process of its own that has not evaluated
// anything (it configures the allocator for inference, as infer and serve do).
struct RateBenchOptions {
    std::vector<int> log_n{13, 14, 15};
    int threads = 0;                      // 0: OpenMP's default
    int reps = 5;
    std::filesystem::path spill_dir{};    // empty: the system's temporary directory
    std::function<void(const std::string& what)> progress;  // "N=2^14 square", …
};
std::vector<Rates> measure_rates(const RateBenchOptions& opt);

// The cache format (a versioned JSON object: format, version, host, when, entries).
// Written atomically (a temporary file renamed over the old one).
void save_rates(const std::vector<Rates>& rates, const std::filesystem::path& path);

}  // namespace hecnn::he
