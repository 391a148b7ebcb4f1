#include "commands.h"
#include "tessera/recipes/trainer.h"

namespace tessera::cli {

Run add_train(CLI::App& app) {
  auto args = std::make_shared<recipes::TrainArgs>();
  app.add_option("config", args->config_file, "YAML config file")->required()->check(CLI::ExistingFile);
  app.add_option("overrides", args->overrides, "key.path=value overrides of the config");
  app.add_option("--resume", args->resume, "auto (newest good checkpoint of the run) or a checkpoint/run directory");
  app.add_option("--run-dir", args->run_dir, "run directory (default runs/<name>)");
  app.add_option("--stop-after", args->stop_after, "stop as if interrupted once this step is reached (testing)");
  auto timeout_s = std::make_shared<double>(600);
  app.add_option("--dist-backend", args->dist.backend, "distributed runs (torchrun): auto (nccl on GPUs, gloo on CPUs), gloo or nccl")
      ->check(CLI::IsMember({"auto", "gloo", "nccl"}));
  app.add_option("--dist-timeout", *timeout_s, "distributed runs: seconds to wait for the store and for each collective before failing")
      ->check(CLI::Range(1.0, 86400.0));
  return [args, timeout_s] {
    args->dist.timeout = std::chrono::milliseconds(static_cast<int64_t>(*timeout_s * 1000));
    return recipes::train(*args);
  };
}

}  // namespace tessera::cli
