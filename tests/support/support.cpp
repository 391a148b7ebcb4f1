#include "support.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <random>

namespace tessera::test {

namespace fs = std::filesystem;

fs::path source_dir() { return TESSERA_TEST_SOURCE_DIR; }
fs::path binary_dir() { return TESSERA_TEST_BINARY_DIR; }
fs::path tessera_binary() { return binary_dir() / "tessera"; }
fs::path data_dir() { return source_dir() / "datasets" / "skimage"; }

fs::path temp_dir(const std::string& name) {
  fs::path p = binary_dir() / "test_tmp" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::vector<std::string> sr_smoke_args(const fs::path& run_dir, std::vector<std::string> extra) {
  std::vector<std::string> a = {"train", (source_dir() / "configs/sr/sr_smoke.yaml").string(), "--run-dir", run_dir.string(),
                                "data.train.hr_dir=" + (data_dir() / "train").string(),
                                "data.val.hr_dir=" + (data_dir() / "val").string()};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

static CliResult run_command(const std::string& cmd);

CliResult run_cli(const std::vector<std::string>& args, const fs::path& cwd) {
  std::string cmd;
  if (!cwd.empty()) cmd += "cd " + shell_quote(cwd.string()) + " && ";
  cmd += shell_quote(tessera_binary().string());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  return run_command(cmd + " 2>&1");
}

CliResult run_bash(const std::string& script) { return run_command("bash -c " + shell_quote(script) + " 2>&1"); }

static CliResult run_command(const std::string& cmd) {
  CliResult r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace tessera::test
