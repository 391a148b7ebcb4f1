// Errors with the exit codes of the CLI: usage/config errors exit 2, runtime failures exit 1.
#pragma once
#include <stdexcept>
#include <string>

namespace tessera {

// A runtime failure: unreadable file, corrupt checkpoint, failed export (exit code 1).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input from the user: unknown config key, wrong type, out-of-range value, bad argument (exit 2).
class ConfigError : public Error {
 public:
  using Error::Error;
};

}  // namespace tessera
