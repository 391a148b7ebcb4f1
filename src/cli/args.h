// What the subcommands share: checkpoint arguments (a weights file, a checkpoint directory or a run
// directory) and argument checks whose messages name the option and the value.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "tessera/archs/net.h"

namespace tessera::cli {

// The weights file `arg` names: the file itself; in a checkpoint directory the first of
// `file_names` it holds; in a run directory, that file in checkpoints/best (or the newest
// step_NNNNNNNN when the run has no best yet). Errors say what the directory holds.
std::string resolve_weights(const std::string& arg, const std::vector<std::string>& file_names);

// resolve_weights + archs::load_net_checkpoint with the tasks `command` runs.
archs::NetPtr load_for_command(const std::string& arg, const std::vector<std::string>& file_names,
                               const std::vector<std::string>& tasks, const std::string& command);

// An integer option in [lo, hi]: "--n: 'abc' is not an integer" / "--tile: -4 is below 0".
CLI::Validator integer_in(int64_t lo, int64_t hi);

}  // namespace tessera::cli
