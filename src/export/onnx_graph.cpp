#include "tessera/export/onnx_graph.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <set>

#include "tessera/core/error.h"

namespace tessera::exporter {

struct OnnxGraph::Impl {
  onnx::ModelProto model;
  onnx::GraphProto* graph = nullptr;
  std::set<std::string> names;
};

OnnxGraph::OnnxGraph(const std::string& graph_name, int opset) : impl_(std::make_unique<Impl>()) {
  auto& m = impl_->model;
  m.set_ir_version(8);  // opset 17's IR version; the newest Debian's libonnx 1.12 accepts
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  impl_->graph = m.mutable_graph();
  impl_->graph->set_name(graph_name);
}

OnnxGraph::~OnnxGraph() = default;

std::string OnnxGraph::unique(const std::string& base) {
  std::string n = base;
  for (int i = 1; impl_->names.count(n); ++i) n = base + "_" + std::to_string(i);
  impl_->names.insert(n);
  return n;
}

static void set_shape(onnx::ValueInfoProto* v, const std::string& name, const std::vector<Dim>& dims, bool int64 = false) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(int64 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (std::holds_alternative<int64_t>(d)) dim->set_dim_value(std::get<int64_t>(d));
    else dim->set_dim_param(std::get<std::string>(d));
  }
}

void OnnxGraph::add_input(const std::string& name, const std::vector<Dim>& dims, bool int64) {
  impl_->names.insert(name);
  set_shape(impl_->graph->add_input(), name, dims, int64);
}

void OnnxGraph::add_output(const std::string& name, const std::vector<Dim>& dims) {
  set_shape(impl_->graph->add_output(), name, dims);
}

std::string OnnxGraph::add_initializer(const std::string& name, const std::vector<int64_t>& dims, const float* data) {
  std::string n = unique(name);
  auto* t = impl_->graph->add_initializer();
  t->set_name(n);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (auto d : dims) t->add_dims(d), count *= d;
  t->set_raw_data(std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(count) * sizeof(float)));
  return n;
}

std::string OnnxGraph::add_initializer_i64(const std::string& name, const std::vector<int64_t>& dims, const int64_t* data) {
  std::string n = unique(name);
  auto* t = impl_->graph->add_initializer();
  t->set_name(n);
  t->set_data_type(onnx::TensorProto::INT64);
  int64_t count = 1;
  for (auto d : dims) t->add_dims(d), count *= d;
  t->set_raw_data(std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(count) * sizeof(int64_t)));
  return n;
}

std::string OnnxGraph::add_scalar(const std::string& name, float value) { return add_initializer(name, {}, &value); }

std::string OnnxGraph::add_node(const std::string& op, const std::vector<std::string>& inputs, const std::string& name,
                                const Attrs& attrs) {
  auto* n = impl_->graph->add_node();
  std::string out = unique(name);
  n->set_op_type(op);
  n->set_name(out + "_" + op);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(out);
  for (const auto& [key, value] : attrs) {
    auto* a = n->add_attribute();
    a->set_name(key);
    if (auto* i = std::get_if<int64_t>(&value)) {
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(*i);
    } else if (auto* f = std::get_if<float>(&value)) {
      a->set_type(onnx::AttributeProto::FLOAT);
      a->set_f(*f);
    } else if (auto* s = std::get_if<std::string>(&value)) {
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(*s);
    } else if (auto* iv = std::get_if<std::vector<int64_t>>(&value)) {
      a->set_type(onnx::AttributeProto::INTS);
      for (auto x : *iv) a->add_ints(x);
    } else if (auto* fv = std::get_if<std::vector<float>>(&value)) {
      a->set_type(onnx::AttributeProto::FLOATS);
      for (auto x : *fv) a->add_floats(x);
    }
  }
  return out;
}

std::string OnnxGraph::identity(const std::string& input, const std::string& name) {
  auto* n = impl_->graph->add_node();
  n->set_op_type("Identity");
  n->set_name(name + "_Identity");
  n->add_input(input);
  n->add_output(name);
  impl_->names.insert(name);
  return name;
}

void OnnxGraph::set_metadata(const std::string& key, const std::string& value) {
  auto* p = impl_->model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

void OnnxGraph::set_producer(const std::string& name, const std::string& version) {
  impl_->model.set_producer_name(name);
  impl_->model.set_producer_version(version);
}

std::string OnnxGraph::finish() {
  try {
    onnx::checker::check_model(impl_->model);
    onnx::shape_inference::InferShapes(impl_->model);
  } catch (const std::exception& e) {
    throw Error(std::string("ONNX checker rejected the exported graph: ") + e.what());
  }
  std::string bytes;
  if (!impl_->model.SerializeToString(&bytes)) throw Error("cannot serialise the ONNX model");
  return bytes;
}

}  // namespace tessera::exporter
