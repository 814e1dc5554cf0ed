#include "hecnn/mpi/world.h"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace hecnn::mpi {
namespace {

constexpr int kExchangeTag = 12;  // the runtime's ciphertexts
// MPI counts are ints: larger transfers go in chunks of this many bytes.
constexpr std::size_t kChunk = std::size_t{1} << 30;

std::string error_text(int code) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
    return std::string(text, static_cast<std::size_t>(len));
}

void check(int code, const std::string& what) {
    if (code != MPI_SUCCESS) throw std::runtime_error("MPI: " + what + ": " + error_text(code));
}

int as_count(std::size_t n, const std::string& what) {
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max())) throw std::runtime_error("MPI: " + what + ": " + std::to_string(n) + " bytes in one message");
    return static_cast<int>(n);
}

}  // namespace

bool launched() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK"); }

World::World() {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) throw std::runtime_error("MPI: MPI_Init_thread failed");
    // Errors come back as codes (turned into exceptions naming the call) instead of
    // MPI's default of aborting without a word about what was being done.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "ranks per machine");
    int here = 1;
    MPI_Comm_size(local, &here);
    MPI_Comm_free(&local);
    check(MPI_Allreduce(&here, &per_machine_, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "ranks per machine");
}

World::~World() { MPI_Finalize(); }

std::vector<std::vector<std::uint8_t>> World::exchange(std::span<const Message> out, std::span<const int> from) {
    std::vector<MPI_Request> req;
    for (const Message& m : out) {
        if (m.to < 0 || m.to >= size_ || m.to == rank_) throw std::invalid_argument("MPI: a message to rank " + std::to_string(m.to));
        const std::string what = "sending to rank " + std::to_string(m.to);
        const int count = as_count(m.bytes.size(), what);
        req.emplace_back();
        check(MPI_Isend(m.bytes.data(), count, MPI_BYTE, m.to, kExchangeTag, MPI_COMM_WORLD, &req.back()), what);
        sent_ += m.bytes.size();
    }
    std::vector<std::vector<std::uint8_t>> in(from.size());
    for (std::size_t k = 0; k < from.size(); ++k) {
        const std::string what = "receiving from rank " + std::to_string(from[k]);
        MPI_Status st;
        check(MPI_Probe(from[k], kExchangeTag, MPI_COMM_WORLD, &st), what);
        int count = 0;
        check(MPI_Get_count(&st, MPI_BYTE, &count), what);
        in[k].resize(static_cast<std::size_t>(count));
        check(MPI_Recv(in[k].data(), count, MPI_BYTE, from[k], kExchangeTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), what);
    }
    check(MPI_Waitall(static_cast<int>(req.size()), req.data(), MPI_STATUSES_IGNORE), "completing the sends");
    return in;
}

void World::agree(std::uint64_t value, const std::string& what) {
    unsigned long long v = value, lo = 0, hi = 0;
    check(MPI_Allreduce(&v, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD), "comparing " + what);
    check(MPI_Allreduce(&v, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD), "comparing " + what);
    if (lo != hi) throw std::runtime_error("the " + std::to_string(size_) + " ranks disagree on " + what);
}

std::vector<std::uint8_t> World::broadcast(std::vector<std::uint8_t> bytes) {
    unsigned long long n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "broadcasting a size");
    if (rank_ != 0) bytes.resize(n);
    for (std::size_t at = 0; at < n; at += kChunk) {
        const auto len = static_cast<int>(std::min<std::size_t>(kChunk, n - at));
        check(MPI_Bcast(bytes.data() + at, len, MPI_BYTE, 0, MPI_COMM_WORLD), "broadcasting from rank 0");
    }
    broadcast_ += n;
    return bytes;
}

std::vector<std::uint64_t> World::gather(std::uint64_t value) {
    unsigned long long v = value;
    std::vector<unsigned long long> all(static_cast<std::size_t>(size_));
    check(MPI_Allgather(&v, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD), "gathering counts");
    return {all.begin(), all.end()};
}

he::MemoryBudget World::common_budget(const he::MemoryBudget& asked) {
    // {0: unlimited, 1: bytes}, bytes — rank 0's decision.
    unsigned long long msg[2] = {0, 0};
    if (rank_ == 0) {
        const auto share = asked.resolved().share(static_cast<std::size_t>(per_machine_));
        if (!share.is_unlimited()) msg[0] = 1, msg[1] = share.bytes();
    }
    check(MPI_Bcast(msg, 2, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "broadcasting the memory budget");
    return msg[0] ? he::MemoryBudget::of(msg[1]) : he::MemoryBudget::unlimited();
}

void World::abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; if it did, this rank still must not
}

}  // namespace hecnn::mpi
