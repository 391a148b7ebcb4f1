// Run logs: TensorBoard event files (scalars and images, written without TensorFlow) and
// metrics.jsonl (one JSON object per line).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

namespace tessera::io {

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
uint32_t masked_crc32c(const void* data, size_t n);

class EventWriter {
 public:
  // Creates `dir`/events.out.tfevents.<time>.<host>.<pid> and writes the file_version record.
  explicit EventWriter(const std::string& dir);
  void add_scalar(const std::string& tag, double value, int64_t step);
  void add_image(const std::string& tag, const torch::Tensor& rgb, int64_t step);  // float [3,H,W]
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event_body);
  std::string path_;
  std::ofstream out_;
};

class MetricsJsonl {
 public:
  explicit MetricsJsonl(const std::string& path);
  void write(int64_t step, const std::map<std::string, double>& values);

 private:
  std::ofstream out_;
};

}  // namespace tessera::io
