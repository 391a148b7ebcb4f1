// What the subcommands share: checkpoint arguments (a weights file, a checkpoint directory or a run
// directory) and argument checks whose messages name the option and the value.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "tessera/archs/net.h"
#include "tessera/recipes/run_dir.h"

namespace tessera::cli {

// resolve_weights + archs::load_net_checkpoint with the tasks `command` runs.
archs::NetPtr load_for_command(const std::string& arg, const std::vector<std::string>& file_names,
                               const std::vector<std::string>& tasks, const std::string& command);

// An integer option in [lo, hi]: "--n: 'abc' is not an integer" / "--tile: -4 is below 0".
CLI::Validator integer_in(int64_t lo, int64_t hi);

}  // namespace tessera::cli
