// The ranks that evaluate one plan together (e.g. an MPI communicator: hecnn_mpi's
// mpi::World, include/hecnn/mpi/world.h). The he layer sees only this interface, so that
// nothing below the command line depends on MPI's headers.
//
// With RunOptions::ranks set, every rank follows the same schedule; each computes the
// units of every wave that he::Partition (partition.h) gives it and sends the ciphertexts
// they produce, serialised (Backend::serialize: the engine's format, raw packed limbs with
// their checksum, no compression), to the other ranks that read them, which receive them
// in the same order. Rank 0 gets the plan outputs, and they are the one-process outputs
// bit for bit (each unit is computed the same way, whoever computes it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hecnn::he {

class Ranks {
public:
    virtual ~Ranks() = default;
    virtual int rank() const = 0;  // 0 … size()−1
    virtual int size() const = 0;

    struct Message {
        int to = 0;                          // destination rank (≠ rank())
        std::span<const std::uint8_t> bytes;  // one serialised ciphertext
    };
    // Sends every message of `out` (in order per destination) and receives one message
    // from each rank of `from`, in that order; returns them in the same order. Every rank
    // calls it at the same point of the schedule, with `from` the mirror of what the
    // others send it. Throws std::runtime_error naming the rank when a transfer fails.
    virtual std::vector<std::vector<std::uint8_t>> exchange(std::span<const Message> out, std::span<const int> from) = 0;
    // Every rank must call it with the same value (a fingerprint of the schedule, so that
    // ranks that would disagree on the work stop before exchanging anything); throws
    // std::runtime_error naming `what` otherwise.
    virtual void agree(std::uint64_t value, const std::string& what) = 0;
    // Bytes this rank has handed to exchange() to send so far (the messages' bytes).
    virtual std::uint64_t bytes_sent() const = 0;
};

}  // namespace hecnn::he
