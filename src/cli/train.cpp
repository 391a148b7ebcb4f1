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
  return [args] { return recipes::train(*args); };
}

}  // namespace tessera::cli
