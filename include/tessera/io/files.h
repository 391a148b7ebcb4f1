// Atomic file writes: data goes to a temp file beside the target, is fsynced, then renamed over it,
// so a reader sees either the old file or the complete new one, never a half-written one.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace tessera::io {

void write_file_atomic(const std::filesystem::path& path, std::string_view data);
std::string read_file(const std::filesystem::path& path);
// fsync a directory so a rename inside it is durable.
void fsync_dir(const std::filesystem::path& dir);
// True when both paths exist and name the same file or folder (links and ".." resolved).
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace tessera::io
