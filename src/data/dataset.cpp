#include "tessera/data/dataset.h"

#include "tessera/data/image_folder.h"

#include "tessera/core/runtime.h"
#include "tessera/data/generative_datasets.h"
#include "tessera/data/sequence_dataset.h"
#include "tessera/data/sr_dataset.h"

namespace tessera::data {

Batch collate(const std::vector<Batch>& samples) {
  Batch out;
  if (samples.empty()) return out;
  for (const auto& kv : samples.front()) {
    std::vector<torch::Tensor> parts;
    parts.reserve(samples.size());
    for (const auto& s : samples) parts.push_back(s.at(kv.first));
    out[kv.first] = torch::stack(parts);
  }
  return out;
}

Loader::Loader(DatasetPtr dataset, LoaderOptions opt) : dataset_(std::move(dataset)), opt_(opt) {
  const int64_t n = static_cast<int64_t>(dataset_->size());
  if (n == 0) throw Error("dataset " + dataset_->describe() + " has no samples");
  if (opt_.world < 1 || opt_.rank < 0 || opt_.rank >= opt_.world) throw Error("Loader: rank outside the world");
  if (opt_.world > 1 && !opt_.drop_last) throw Error("Loader: distributed loading drops the last partial batch");
  const int64_t global = opt_.batch_size * opt_.world;
  batches_per_epoch_ = opt_.drop_last ? n / global : (n + global - 1) / global;
  if (batches_per_epoch_ == 0)
    throw ConfigError("dataset " + dataset_->describe() + " has " + std::to_string(n) + " samples, fewer than batch_size " +
                      std::to_string(opt_.batch_size) + (opt_.world > 1 ? " x " + std::to_string(opt_.world) + " ranks" : "") +
                      "; lower batch_size or raise the dataset's repeat");
  for (int i = 0; i < opt_.num_workers; ++i) threads_.emplace_back([this] { worker(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

Batch Loader::build(int64_t step) const {
  torch::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(dataset_->size());
  const int64_t epoch = step / batches_per_epoch_, b = step % batches_per_epoch_;
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (opt_.shuffle) {
    // Fisher-Yates with a per-epoch generator: the order of epoch e is fixed by (seed, e) alone.
    uint64_t state = mix_seed(opt_.seed, 0x5eed, static_cast<uint64_t>(epoch));
    for (int64_t i = n - 1; i > 0; --i) {
      state = mix_seed(state, static_cast<uint64_t>(i));
      std::swap(order[i], order[state % static_cast<uint64_t>(i + 1)]);
    }
  }
  std::vector<Batch> samples;
  const int64_t begin = (b * opt_.world + opt_.rank) * opt_.batch_size, end = std::min(n, begin + opt_.batch_size);
  for (int64_t i = begin; i < end; ++i)
    samples.push_back(dataset_->get(static_cast<size_t>(order[i]),
                                    mix_seed(opt_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i))));
  return collate(samples);
}

void Loader::worker() {
  for (;;) {
    std::pair<int64_t, std::shared_ptr<std::promise<Batch>>> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      job = queue_.front();
      queue_.pop_front();
    }
    try {
      job.second->set_value(build(job.first));
    } catch (...) {
      job.second->set_exception(std::current_exception());
    }
  }
}

Batch Loader::batch(int64_t step) {
  if (opt_.num_workers <= 0) return build(step);
  std::shared_future<Batch> fut;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (next_to_queue_ < step || !ready_.count(step)) {
      // A jump (first call, resume, or an evaluation loader): restart the pipeline here.
      for (auto& j : queue_) j.second->set_exception(std::make_exception_ptr(Error("cancelled")));
      queue_.clear();
      ready_.clear();
      next_to_queue_ = step;
    }
    while (next_to_queue_ < step + std::max(1, opt_.prefetch)) {
      auto p = std::make_shared<std::promise<Batch>>();
      ready_[next_to_queue_] = p->get_future().share();
      queue_.emplace_back(next_to_queue_, p);
      ++next_to_queue_;
    }
    fut = ready_.at(step);
    ready_.erase(ready_.begin(), ready_.upper_bound(step));
  }
  cv_.notify_all();
  return fut.get();
}

DatasetRegistry& dataset_registry() {
  static DatasetRegistry r("dataset");
  return r;
}

void register_builtin_datasets() {
  auto& r = dataset_registry();
  if (r.contains("sr_folder")) return;
  r.add("sr_folder", [](Cfg& c) -> DatasetPtr { return std::make_shared<SrFolderDataset>(read_options<SrFolderOptions>(c)); },
        [] { return document_options<SrFolderOptions>(); });
  register_generative_datasets(r);
  register_image_folder_dataset(r);
  r.add("sequence_folder", [](Cfg& c) -> DatasetPtr { return std::make_shared<SequenceFolderDataset>(read_options<SequenceFolderOptions>(c)); },
        [] { return document_options<SequenceFolderOptions>(); });
}

DatasetPtr build_dataset(Cfg cfg) {
  register_builtin_datasets();
  std::string type = cfg.req<std::string>("type");
  return dataset_registry().build(type, cfg, cfg.where("type"));
}

}  // namespace tessera::data
