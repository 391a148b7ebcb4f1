// Datasets and the batch loader. A Batch is a name -> tensor map ("lq", "gt", ...), as the
// recipes expect. Samples are a pure function of (index, seed): augmentation draws from a seed
// mixed from the run seed, the epoch and the index, so loader threads never change what a step sees,
// and a resumed run sees exactly the batches the uninterrupted one would have.
#pragma once
#include <torch/types.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tessera/core/config.h"
#include "tessera/core/registry.h"

namespace tessera::data {

using Batch = std::map<std::string, torch::Tensor>;

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // One sample; `seed` drives any randomness (crop position, flips).
  virtual Batch get(size_t index, uint64_t seed) const = 0;
  virtual std::string describe() const = 0;
};
using DatasetPtr = std::shared_ptr<Dataset>;

// Collates samples by stacking each key.
Batch collate(const std::vector<Batch>& samples);

struct LoaderOptions {
  int64_t batch_size = 16;
  bool shuffle = true;
  bool drop_last = true;
  int num_workers = 2;   // threads that build batches ahead of the trainer
  int prefetch = 4;      // batches built ahead
  uint64_t seed = 0;
  // Data-parallel sharding: each step's global batch is batch_size * world samples, and rank r
  // takes the r-th run of batch_size of them (with their seeds), so N ranks together see what one
  // process with batch N * batch_size would.
  int rank = 0, world = 1;
};

// Produces the batch of any global step: epoch = step / batches_per_epoch, shuffled per epoch
// (batches_per_epoch counts global batches).
// Call batch(step) with consecutive steps for prefetch to help; any step is valid.
class Loader {
 public:
  Loader(DatasetPtr dataset, LoaderOptions opt);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  Batch batch(int64_t step);
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  const Dataset& dataset() const { return *dataset_; }

 private:
  Batch build(int64_t step) const;
  void worker();

  DatasetPtr dataset_;
  LoaderOptions opt_;
  int64_t batches_per_epoch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::shared_future<Batch>> ready_;
  std::deque<std::pair<int64_t, std::shared_ptr<std::promise<Batch>>>> queue_;
  int64_t next_to_queue_ = -1;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

using DatasetRegistry = Registry<DatasetPtr>;
DatasetRegistry& dataset_registry();
void register_builtin_datasets();

// Builds the dataset described by a config section (`type:` plus its options).
DatasetPtr build_dataset(Cfg cfg);

}  // namespace tessera::data
