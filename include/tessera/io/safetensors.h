// safetensors reader/writer (the Hugging Face format): u64 LE header length, JSON header, raw data.
// Tensor names are the PyTorch state_dict names; metadata is a str->str map.
#pragma once
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

namespace tessera::io {

struct TensorFile {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;

  const torch::Tensor* find(const std::string& name) const;
};

// Serialises to bytes (header padded to 8 bytes, tensors contiguous, C order, little endian).
std::string safetensors_bytes(const TensorFile& file);
// Writes atomically.
void save_safetensors(const std::string& path, const TensorFile& file);
// Parses and validates; any inconsistency throws tessera::Error naming `source`.
TensorFile parse_safetensors(const std::string& bytes, const std::string& source);
TensorFile load_safetensors(const std::string& path);

}  // namespace tessera::io
