// c10d process group for tessera's data-parallel training (include/tessera/dist/dist.h).
// Gloo's own headers come from Debian's libgloo-dev, for compiling only: the code that runs is the
// Gloo inside the wheel's libtorch_cpu.so. This file uses nothing of Gloo but the opaque device
// pointer ProcessGroupGloo::Options holds (docs/design.md, "Distributed").
#include "tessera/dist/dist.h"

#include <fmt/format.h>
#include <c10/util/Logging.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <map>

#include "dist_backends.h"
#include "tessera/core/error.h"

namespace tessera::dist {

namespace {

struct State {
  WorldInfo world;
  torch::Device device{torch::kCPU};
  std::string backend;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
};
State& state() {
  static State s;
  return s;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int lo, int hi) {
  const char* v = env(name);
  if (!v) throw ConfigError(fmt::format("distributed launch: {} is not set (torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, "
                                        "MASTER_ADDR and MASTER_PORT; set them all to launch by hand)", name));
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw ConfigError(fmt::format("distributed launch: {}='{}' is not an integer in [{}, {}]", name, v, lo, hi));
  return static_cast<int>(x);
}

// c10d's message without the C++ backtrace c10::Error carries.
std::string message(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

// Runs a collective and waits for it; a failure (a rank that died, a timeout) becomes an Error that
// says which collective, on which rank, and what c10d reported.
void wait(const char* what, const c10::intrusive_ptr<c10d::Work>& work) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    const std::string msg = message(e);
    throw Error(fmt::format("distributed {} failed on rank {} of {} (another rank exited or hangs, or the network failed): {}", what,
                            state().world.rank, state().world.world_size, msg));
  }
}

template <class F>
auto guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string msg = message(e);
    throw Error(fmt::format("distributed {} failed on rank {} of {}: {}", what, state().world.rank, state().world.world_size, msg));
  }
}

// Tensors grouped by (dtype, device) in order, then cut into buckets of at most `limit` bytes.
std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& ts, int64_t limit) {
  std::map<std::pair<int, std::string>, std::vector<std::vector<torch::Tensor>>> by_kind;
  std::vector<std::pair<int, std::string>> order;
  std::map<std::pair<int, std::string>, int64_t> fill;
  for (const auto& t : ts) {
    const auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    auto& list = by_kind[key];
    if (list.empty()) order.push_back(key);
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    if (list.empty() || (fill[key] + bytes > limit && !list.back().empty())) list.emplace_back(), fill[key] = 0;
    list.back().push_back(t);
    fill[key] += bytes;
  }
  std::vector<std::vector<torch::Tensor>> out;
  for (const auto& k : order)
    for (auto& b : by_kind[k]) out.push_back(std::move(b));
  return out;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> flat;
  flat.reserve(ts.size());
  for (const auto& t : ts) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts) {
  int64_t off = 0;
  for (const auto& t : ts) {
    t.copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
    off += t.numel();
  }
}

torch::Device host_device() { return state().backend == "nccl" ? state().device : torch::Device(torch::kCPU); }

}  // namespace

WorldInfo read_env() {
  WorldInfo w;
  // Without WORLD_SIZE (some job templates export RANK alone) the run is one process.
  if (!env("WORLD_SIZE")) return w;
  w.world_size = env_int("WORLD_SIZE", 1, 1 << 20);
  if (w.world_size == 1 && !env("RANK")) return w;
  w.rank = env_int("RANK", 0, w.world_size - 1);
  w.local_rank = env("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, w.world_size - 1) : w.rank;
  w.local_world_size = env("LOCAL_WORLD_SIZE") ? env_int("LOCAL_WORLD_SIZE", 1, w.world_size) : w.world_size;
  if (w.local_rank >= w.local_world_size)
    throw ConfigError(fmt::format("distributed launch: LOCAL_RANK={} is not below LOCAL_WORLD_SIZE={}", w.local_rank, w.local_world_size));
  w.restart_count = env("TORCHELASTIC_RESTART_COUNT") ? env_int("TORCHELASTIC_RESTART_COUNT", 0, 1 << 20) : 0;
  w.agent_store = env("TORCHELASTIC_USE_AGENT_STORE") && std::string(env("TORCHELASTIC_USE_AGENT_STORE")) == "True";
  if (w.world_size > 1) {
    const char* addr = env("MASTER_ADDR");
    if (!addr) throw ConfigError("distributed launch: MASTER_ADDR is not set (the host of rank 0, or of torchrun's store)");
    w.master_addr = addr;
    w.master_port = env_int("MASTER_PORT", 1, 65535);
  }
  return w;
}

void init(const WorldInfo& world, torch::Device device, const InitOptions& opt) {
  State& s = state();
  if (s.pg) throw Error("distributed: the process group is already initialised");
  if (world.world_size <= 1) return;
  std::string backend = opt.backend;
  if (backend == "auto") backend = device.is_cuda() ? "nccl" : "gloo";
  if (backend != "gloo" && backend != "nccl")
    throw ConfigError("--dist-backend '" + opt.backend + "' is not one of auto, gloo, nccl");
  if (backend == "nccl" && !device.is_cuda())
    throw ConfigError("--dist-backend nccl needs a CUDA device (this run's device is " + device.str() + "); use gloo on CPUs");
  s.world = world;
  s.device = device;
  s.backend = backend;

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(world.master_port);
  so.isServer = !world.agent_store && world.rank == 0;
  so.numWorkers = world.world_size;
  so.waitWorkers = false;
  so.timeout = opt.timeout;
  so.multiTenant = true;
  {
    // c10d logs each failed connection attempt with a C++ backtrace; the Error below says it once.
    const int log_level = FLAGS_caffe2_log_level;
    if (!std::getenv("TORCH_CPP_LOG_LEVEL")) FLAGS_caffe2_log_level = 3;  // fatal only
    struct RestoreLevel {
      int level;
      ~RestoreLevel() { FLAGS_caffe2_log_level = level; }
    } restore{log_level};
    try {
      auto tcp = c10::make_intrusive<c10d::TCPStore>(world.master_addr, so);
      // A fresh namespace per elastic attempt: keys of a failed attempt never meet this one's.
      s.store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("tessera/attempt_{}/", world.restart_count), tcp);
    } catch (const std::exception& e) {
      const std::string msg = message(e);
      throw Error(fmt::format("distributed launch: rank {} cannot {} the store at {}:{} within {} s: {}", world.rank,
                              so.isServer ? "host" : "reach", world.master_addr, world.master_port, opt.timeout.count() / 1000, msg));
    }
  }
  try {
    if (backend == "gloo") {
      auto go = c10d::ProcessGroupGloo::Options::create(opt.timeout);
      // As torch.distributed: GLOO_SOCKET_IFNAME picks interfaces, else the host name's address (or loopback).
      if (const char* ifs = env("GLOO_SOCKET_IFNAME")) {
        std::string list = ifs;
        for (size_t p = 0; p <= list.size();) {
          const size_t q = std::min(list.find(',', p), list.size());
          if (q > p) go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(list.substr(p, q - p)));
          p = q + 1;
        }
      } else {
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      go->threads = 2;
      s.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(s.store, world.rank, world.world_size, go);
    } else {
      s.pg = make_nccl_backend(s.store, world.rank, world.world_size, opt.timeout, device);
    }
  } catch (const Error&) {
    s = State{};
    throw;
  } catch (const std::exception& e) {
    const std::string msg = message(e);
    s = State{};
    throw Error(fmt::format("distributed launch: rank {} of {} could not form the {} group through {}:{}: {}", world.rank, world.world_size,
                            backend, world.master_addr, world.master_port, msg));
  }
  try {
    barrier();  // every rank is in before anything else
  } catch (...) {
    shutdown();  // the Session that called this is not constructed: nothing else would
    throw;
  }
}

void shutdown() {
  State& s = state();
  if (!s.pg) return;
  try {
    s.pg->shutdown();
  } catch (...) {
  }
  s = State{};
}

bool active() { return static_cast<bool>(state().pg); }
int rank() { return active() ? state().world.rank : 0; }
int world_size() { return active() ? state().world.world_size : 1; }
int local_rank() { return active() ? state().world.local_rank : 0; }
bool is_main() { return rank() == 0; }
std::string backend_name() { return active() ? state().backend : ""; }

void average_gradients(const std::vector<torch::Tensor>& params, double bucket_mb) {
  if (!active()) return;
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  const auto bs = buckets(grads, static_cast<int64_t>(bucket_mb * (1 << 20)));
  std::vector<torch::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (const auto& b : bs) {
    std::vector<torch::Tensor> one{flatten(b)};
    works.push_back(guarded("gradient allreduce", [&] { return state().pg->allreduce(one); }));
    flats.push_back(one[0]);
  }
  const double inv = 1.0 / world_size();
  for (size_t i = 0; i < bs.size(); ++i) {
    wait("gradient allreduce", works[i]);
    flats[i].mul_(inv);
    unflatten_into(flats[i], bs[i]);
  }
}

void broadcast(const std::vector<torch::Tensor>& tensors) {
  if (!active() || tensors.empty()) return;
  torch::NoGradGuard ng;
  for (const auto& b : buckets(tensors, int64_t(64) << 20)) {
    std::vector<torch::Tensor> one{flatten(b)};
    wait("broadcast", guarded("broadcast", [&] { return state().pg->broadcast(one); }));
    if (rank() != 0) unflatten_into(one[0], b);
  }
}

void barrier() {
  if (!active()) return;
  wait("barrier", guarded("barrier", [&] { return state().pg->barrier(); }));
}

std::vector<double> allreduce_sum(std::vector<double> values) {
  if (!active() || values.empty()) return values;
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64).to(host_device())};
  wait("allreduce", guarded("allreduce", [&] { return state().pg->allreduce(t); }));
  const torch::Tensor c = t[0].cpu();
  for (size_t i = 0; i < values.size(); ++i) values[i] = c[static_cast<int64_t>(i)].item<double>();
  return values;
}

double allreduce_max(double value) {
  if (!active()) return value;
  std::vector<torch::Tensor> t{torch::tensor({value}, torch::kFloat64).to(host_device())};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::MAX;
  wait("allreduce", guarded("allreduce", [&] { return state().pg->allreduce(t, o); }));
  return t[0].cpu().item<double>();
}

torch::Tensor all_gather_batch(const torch::Tensor& local) {
  if (!active()) return local;
  std::vector<torch::Tensor> in{local.contiguous()};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < world_size(); ++r) out[0].push_back(torch::empty_like(in[0]));
  wait("all-gather", guarded("all-gather", [&] { return state().pg->allgather(out, in); }));
  return torch::cat(out[0]);
}

namespace {
torch::Tensor local_part(std::vector<int64_t> sizes, const torch::TensorOptions& opt, bool normal) {
  TORCH_CHECK(!sizes.empty(), "local_randn/local_rand: no batch dimension");
  const int64_t b = sizes[0];
  sizes[0] = b * world_size();
  torch::Tensor t = normal ? torch::randn(sizes, opt) : torch::rand(sizes, opt);
  return world_size() == 1 ? t : t.narrow(0, rank() * b, b).contiguous();
}
}  // namespace

torch::Tensor local_randn(std::vector<int64_t> sizes, const torch::TensorOptions& opt) { return local_part(std::move(sizes), opt, true); }
torch::Tensor local_rand(std::vector<int64_t> sizes, const torch::TensorOptions& opt) { return local_part(std::move(sizes), opt, false); }

std::string share_from_main(const std::string& key, const std::string& value) {
  if (!active()) return value;
  return guarded("store exchange", [&] {
    if (is_main()) {
      state().store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
      return value;
    }
    const auto v = state().store->get(key);  // waits up to the store's timeout
    return std::string(v.begin(), v.end());
  });
}

}  // namespace tessera::dist
