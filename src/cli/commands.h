// The subcommands of the tessera binary; each registers its options on a CLI11 subcommand and
// returns a callback that runs it.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace tessera::cli {

using Run = std::function<int()>;

Run add_train(CLI::App& app);
Run add_eval(CLI::App& app);
Run add_apply(CLI::App& app);  // also `upscale`
Run add_export(CLI::App& app);
Run add_info(CLI::App& app);
Run add_sample(CLI::App& app);
Run add_stylize(CLI::App& app);
Run add_profile(CLI::App& app);
Run add_interpolate(CLI::App& app);
Run add_sequences(CLI::App& app);

}  // namespace tessera::cli
