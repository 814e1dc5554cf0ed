// Spill files of the runtime: one file per spilled wire in a fresh private directory,
// removed with everything in it when the store goes away (also on an exception).
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>

#include "hecnn/ckks/ciphertext.h"
#include "hecnn/he/backend.h"

namespace hecnn::he::detail {

class SpillStore {
public:
    // parent: where the directory is made (empty: the system's temporary directory). The
    // directory itself is made on the first write. The backend (de)serialises.
    SpillStore(const Backend& backend, std::filesystem::path parent);
    ~SpillStore();
    SpillStore(const SpillStore&) = delete;
    SpillStore& operator=(const SpillStore&) = delete;

    // Serialises (Backend::serialize: residues at their bit length) and writes; returns the
    // file's bytes. Thread-safe for distinct wires.
    std::size_t write(int wire, const ckks::Ciphertext& ct);
    // Reads back and deletes the file. Thread-safe for distinct wires.
    ckks::Ciphertext read(int wire);

private:
    std::filesystem::path file(int wire) const;
    void make_dir();

    const Backend& be_;
    std::filesystem::path parent_, dir_;
    std::atomic<bool> made_{false};
};

}  // namespace hecnn::he::detail
