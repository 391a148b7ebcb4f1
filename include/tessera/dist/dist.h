// Data-parallel training on PyTorch's own distributed engine (c10d): a TCPStore for rendezvous,
// ProcessGroupGloo on CPUs, ProcessGroupNCCL on GPUs, launched by torchrun (or by hand with the
// same environment variables). One process per rank; every rank runs the same training loop in
// lock step, and the layers above ask this one for the few collectives they need:
//   - gradients averaged in buckets after each backward (TrainedNet), buffers broadcast from rank 0;
//   - random draws made for the global batch and sliced per rank, so that N ranks x batch b draw
//     what one process with batch N*b would (local_randn / local_rand);
//   - small host values (logged losses, a stop request) reduced across ranks;
//   - barriers around rank 0's checkpoints.
// With WORLD_SIZE unset (a plain `tessera train`) nothing here is active and every call is a no-op
// or the identity, so single-process code pays nothing.
#pragma once
#include <torch/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace tessera::dist {

// The launch environment, as torchrun sets it (docs/distributed.md).
struct WorldInfo {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  int restart_count = 0;          // TORCHELASTIC_RESTART_COUNT
  std::string master_addr;        // MASTER_ADDR
  int master_port = 0;            // MASTER_PORT
  bool agent_store = false;       // TORCHELASTIC_USE_AGENT_STORE=True: the agent hosts the store
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// TORCHELASTIC_RESTART_COUNT and TORCHELASTIC_USE_AGENT_STORE. Without WORLD_SIZE (or with 1) the
// world is one process, whatever else is set. A partial or inconsistent environment is a ConfigError naming the variable.
WorldInfo read_env();

struct InitOptions {
  std::string backend = "auto";  // auto (nccl on CUDA, gloo on CPU) | gloo | nccl
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};  // store connection and every collective
};

// Joins the process group described by `world` for tensors on `device` (a no-op for one process).
// Unreachable masters, timeouts and unknown backends are Errors naming the address or value.
void init(const WorldInfo& world, torch::Device device, const InitOptions& opt);
// Leaves the process group (the destructor of a Session calls it).
void shutdown();

struct Session {
  Session(const WorldInfo& world, torch::Device device, const InitOptions& opt) { init(world, device, opt); }
  ~Session() { shutdown(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

bool active();       // more than one rank, and the group is up
int rank();          // 0 when not active
int world_size();    // 1 when not active
int local_rank();
bool is_main();      // rank 0 (or not active): the rank that writes files
std::string backend_name();  // "gloo", "nccl" or "" when not active

// Averages gradients across ranks in place: flattened buckets of at most `bucket_mb` MiB per
// dtype and device, all in flight at once. Parameters without a gradient are skipped (they
// must be the same on every rank: the same code path ran). No-op when not active.
void average_gradients(const std::vector<torch::Tensor>& params, double bucket_mb = 25);
// Copies rank 0's values into every rank's tensors in place (coalesced per dtype and device).
void broadcast(const std::vector<torch::Tensor>& tensors);
void barrier();
// Sum (or max) of host values over ranks; the identity when not active.
std::vector<double> allreduce_sum(std::vector<double> values);
double allreduce_max(double value);
// The ranks' batches concatenated along dim 0 in rank order (every rank's must have one shape).
torch::Tensor all_gather_batch(const torch::Tensor& local);
// A rank's part of a random tensor drawn for the global batch: sizes[0] is the local batch. Every
// rank draws the same global tensor (their generators are in lock step) and keeps its rows.
torch::Tensor local_randn(std::vector<int64_t> sizes, const torch::TensorOptions& opt);
torch::Tensor local_rand(std::vector<int64_t> sizes, const torch::TensorOptions& opt);

// Rank 0 publishes a string under `key`; every other rank waits for it (the checkpoint to resume).
std::string share_from_main(const std::string& key, const std::string& value);

}  // namespace tessera::dist
