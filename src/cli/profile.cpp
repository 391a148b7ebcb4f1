#include "commands.h"
#include "tessera/recipes/profile.h"

namespace tessera::cli {

Run add_profile(CLI::App& app) {
  auto args = std::make_shared<recipes::ProfileArgs>();
  app.add_option("config", args->config_file, "YAML config file")->required()->check(CLI::ExistingFile);
  app.add_option("overrides", args->overrides, "key.path=value overrides of the config");
  app.add_option("--steps", args->steps, "profiled training steps")->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  app.add_option("--warmup", args->warmup, "steps run before profiling")->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app.add_option("--top", args->top, "rows of the table")->check(CLI::Range(int64_t{1}, int64_t{10000}));
  app.add_option("--output", args->output, "also write the table (markdown) to this file");
  return [args] { return recipes::profile(*args); };
}

}  // namespace tessera::cli
