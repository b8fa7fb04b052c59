#pragma once
// Runs over several processes (docs: README "Several processes and machines"):
// the torchrun environment, the c10d process group (TCPStore + Gloo) that
// daas/core/parallel.h's ProcessGroup interface sums through, and the local
// launcher behind `--nproc N`.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace daas::dist {

/// What torchrun (or `--nproc`) tells a worker process.
struct Environment {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
};

/// The environment's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
/// MASTER_PORT; nullopt when WORLD_SIZE is unset (a plain run). Fails on a
/// malformed or inconsistent value, naming the variable.
std::optional<Environment> read_environment();

/// Joins the process group `env` describes (rank 0 hosts the TCPStore) and
/// installs it (daas::core::set_process_group); a world of one installs nothing.
/// `timeout`: how long a collective (and the rendezvous) may wait for a peer
/// before this process fails with an error naming its rank.
void init_process_group(const Environment& env, std::chrono::milliseconds timeout);

/// Starts `nproc` copies of this program (/proc/self/exe) with `arguments`
/// (argv[1:], without --nproc), each with RANK, WORLD_SIZE, LOCAL_RANK,
/// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT, and waits
/// for all. Returns 0 when all succeed; else logs which rank failed first
/// and how, and returns its exit status. Workers still running `grace` after
/// a failure are killed.
int launch_local(int64_t nproc, const std::vector<std::string>& arguments, std::chrono::milliseconds grace);

/// A free TCP port on 127.0.0.1 (bound and released: another program could
/// take it in between, which the rendezvous would then report).
int free_port();

}  // namespace daas::dist
