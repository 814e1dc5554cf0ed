// MPI for hecnn: the ranks of one `mpirun -np R hecnn infer …` job as a he::Ranks
// (he/ranks.h), over MPI_COMM_WORLD. The only code that includes MPI's headers: the
// layers below see he::Ranks, and only the command line links this library (hecnn_mpi).
//
// MPI is called from the thread that made the World only (MPI_THREAD_FUNNELED): the
// runtime exchanges between waves, outside its parallel loops.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hecnn/he/execution.h"
#include "hecnn/he/ranks.h"

namespace hecnn::mpi {

// True when this process was started by an MPI launcher (Open MPI's mpirun sets
// OMPI_COMM_WORLD_SIZE; PMI_SIZE and PMIX_RANK for other launchers). Without it hecnn
// never initialises MPI and behaves as a single process.
bool launched();

class World final : public he::Ranks {
public:
    World();   // MPI_Init_thread; std::runtime_error if MPI cannot start
    ~World();  // MPI_Finalize
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    // Point-to-point, non-blocking sends of every message then the receives in order
    // (MPI keeps the order of messages between two ranks); a message's size is read from
    // the incoming envelope (MPI_Probe), not assumed.
    std::vector<std::vector<std::uint8_t>> exchange(std::span<const Message> out, std::span<const int> from) override;
    void agree(std::uint64_t value, const std::string& what) override;
    std::uint64_t bytes_sent() const override { return sent_; }

    // Rank 0's bytes, on every rank (rank 0 passes them, the others anything). Counted in
    // broadcast_bytes(), not bytes_sent(): how MPI fans them out is its own choice.
    std::vector<std::uint8_t> broadcast(std::vector<std::uint8_t> bytes);
    std::uint64_t broadcast_bytes() const { return broadcast_; }
    // Every rank's value, on every rank.
    std::vector<std::uint64_t> gather(std::uint64_t value);
    // The most ranks on one machine (MPI_COMM_TYPE_SHARED), over all machines.
    int ranks_per_machine() const { return per_machine_; }
    // The budget every rank runs under: rank 0 resolves `asked` (a default: its
    // MemAvailable) and takes one share per rank of the fullest machine
    // (MemoryBudget::share); all ranks get those bytes, so their schedules agree.
    he::MemoryBudget common_budget(const he::MemoryBudget& asked);
    // Ends every rank of the job (MPI_Abort): after this rank failed, the others would wait
    // for it forever.
    [[noreturn]] void abort(int code);

private:
    int rank_ = 0, size_ = 1, per_machine_ = 1;
    std::uint64_t sent_ = 0, broadcast_ = 0;
};

}  // namespace hecnn::mpi
