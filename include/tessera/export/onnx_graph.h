// A small builder for ONNX graphs on Debian's ONNX library. Deliberately free of torch headers:
// the torch wheel ships its own protobuf headers, so this target is compiled without them.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace tessera::exporter {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;
using Attrs = std::map<std::string, AttrValue>;

// A dimension: a fixed size or a symbolic name (dim_param) for dynamic axes.
using Dim = std::variant<int64_t, std::string>;

class OnnxGraph {
 public:
  OnnxGraph(const std::string& graph_name, int opset);
  ~OnnxGraph();
  OnnxGraph(const OnnxGraph&) = delete;
  OnnxGraph& operator=(const OnnxGraph&) = delete;

  void add_input(const std::string& name, const std::vector<Dim>& dims, bool int64 = false);  // float32 or int64
  void add_output(const std::string& name, const std::vector<Dim>& dims);  // float32
  // Constant tensors; return their (unique) names.
  std::string add_initializer(const std::string& name, const std::vector<int64_t>& dims, const float* data);
  std::string add_initializer_i64(const std::string& name, const std::vector<int64_t>& dims, const int64_t* data);
  std::string add_scalar(const std::string& name, float value);  // shape [] float constant
  // A node with one output; returns the output's name (derived from `name`, made unique).
  std::string add_node(const std::string& op, const std::vector<std::string>& inputs, const std::string& name,
                       const Attrs& attrs = {});
  // Renames the last produced value to `name` by appending an Identity (for the graph output).
  std::string identity(const std::string& input, const std::string& name);
  void set_metadata(const std::string& key, const std::string& value);
  void set_producer(const std::string& name, const std::string& version);

  // Runs onnx::checker (full check) and shape inference; throws tessera::Error with the checker's
  // message on failure. Returns the serialised model.
  std::string finish();

 private:
  std::string unique(const std::string& base);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::exporter
