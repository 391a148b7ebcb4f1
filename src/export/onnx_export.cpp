#include "tessera/export/onnx_export.h"

#include "tessera/archs/generative.h"
#include "tessera/archs/temporal.h"
#include "tessera/build_info.h"
#include "tessera/core/config.h"
#include "tessera/io/files.h"

namespace tessera::exporter {

namespace {

// The output shape of a network with a non-image output (critic scores, logits, features), found
// by running it: dims that change with the input's dynamic dims become symbolic.
std::vector<Dim> probe_output_dims(archs::NetImpl& net, const std::vector<int64_t>& in_shape, int64_t label_classes, Dim batch) {
  auto run = [&](int64_t size) {
    std::vector<int64_t> shape{1};
    for (int64_t d : in_shape) shape.push_back(d < 0 ? size : d);
    torch::Tensor x = torch::rand(shape);
    if (auto* critic = dynamic_cast<archs::CriticImpl*>(&net); critic && label_classes > 0)
      return critic->score(x, torch::zeros({1}, torch::kLong)).sizes().vec();
    return net.forward(x).sizes().vec();
  };
  const std::vector<int64_t> a = run(64), b = run(96);
  std::vector<Dim> dims{std::move(batch)};
  for (size_t i = 1; i < a.size(); ++i) dims.push_back(a[i] == b[i] ? Dim(a[i]) : Dim("out_dim" + std::to_string(i)));
  return dims;
}

}  // namespace

std::string export_onnx(archs::NetImpl& net, const ExportOptions& opt) {
  if (opt.opset < 13 || opt.opset > 17)
    throw ConfigError("--opset " + std::to_string(opt.opset) + " is not supported; use 13..17 (Debian's ONNX 1.12 stops at 17)");
  if ((opt.height > 0) != (opt.width > 0)) throw ConfigError("a fixed input size needs both height and width");
  archs::register_builtin_archs();  // each arch family registers its emitters with its archs
  torch::NoGradGuard ng;
  const bool was_training = net.is_training();
  net.eval();
  struct Restore {
    archs::NetImpl& net;
    bool training;
    ~Restore() { net.train(training); }
  } restore{net, was_training};
  EmitScope scope(EmitOptions{opt.pixel_shuffle_as_conv_transpose});
  OnnxGraph g("tessera_" + net.type(), opt.opset);
  g.set_producer("tessera", TESSERA_VERSION);
  g.set_metadata("tessera.arch", yaml_dump(net.options_yaml()));
  g.set_metadata("tessera.task", net.task());
  g.set_metadata("tessera.scale", std::to_string(net.scale()));
  g.set_metadata("tessera.size_multiple", std::to_string(net.size_multiple()));
  auto dim = [](int64_t v, const char* name) -> Dim { return v > 0 ? Dim(v) : Dim(std::string(name)); };
  const Dim batch = dim(opt.batch, "batch");
  // Generators and the decoders of autoencoders take a latent code (and a label when conditional).
  if (archs::GeneratorImpl* gen = archs::as_generator(net)) {
    g.add_input("z", {batch, gen->latent_dim()});
    if (gen->num_classes() > 0) g.add_input("label", {batch}, true);
    g.identity(emit(g, *gen, "z", ""), "output");
    std::vector<Dim> out{batch};
    for (int64_t d : gen->sample_shape()) out.push_back(d);
    g.add_output("output", out);
    return g.finish();
  }
  // A temporal upscaler's frame step: the frame, its motion vectors and jitter, the previous output
  // and whether there is one (docs/temporal_sr.md).
  if (auto* t = dynamic_cast<archs::TemporalSrImpl*>(&net)) {
    const Dim h = dim(opt.height, "height"), w = dim(opt.width, "width");
    const Dim oh = dim(opt.height * net.scale(), "out_height"), ow = dim(opt.width * net.scale(), "out_width");
    g.add_input("frame", {batch, 3, h, w});
    g.add_input("motion", {batch, 2, h, w});
    g.add_input("jitter", {batch, 2});
    g.add_input("history", {batch, 3, oh, ow});
    g.add_input("has_history", {batch});
    g.identity(archs::emit_temporal_step(g, *t, "frame", "motion", "jitter", "history", "has_history"), "output");
    g.add_output("output", {batch, 3, oh, ow});
    return g.finish();
  }
  // Everything else takes `input` of the network's input shape (images: NCHW, any size unless the
  // network fixes it); conditional critics also take `label`.
  const std::vector<int64_t> shape = net.input_shape();
  std::vector<Dim> in{batch};
  const bool image = shape.size() == 3;
  if (image && shape[1] > 0 && opt.height > 0 && (opt.height != shape[1] || opt.width != shape[2]))
    throw ConfigError(net.type() + " takes " + std::to_string(shape[1]) + "x" + std::to_string(shape[2]) + " inputs only; --input-size " +
                      std::to_string(opt.height) + "x" + std::to_string(opt.width) + " does not fit it");
  for (size_t i = 0; i < shape.size(); ++i)
    in.push_back(shape[i] > 0 ? Dim(shape[i]) : i == 1 ? dim(opt.height, "height") : dim(opt.width, "width"));
  g.add_input("input", in);
  int64_t label_classes = 0;
  if (auto* critic = dynamic_cast<archs::CriticImpl*>(&net)) label_classes = critic->num_classes();
  if (label_classes > 0) g.add_input("label", {batch}, true);
  g.identity(emit(g, net, "input", ""), "output");
  if (net.task() == "image_to_image") {
    g.add_output("output", {batch, net.in_channels(), dim(opt.height * net.scale(), "out_height"), dim(opt.width * net.scale(), "out_width")});
  } else {
    std::vector<int64_t> probe = shape;
    if (image && opt.height > 0) probe = {shape[0], opt.height, opt.width};
    g.add_output("output", probe_output_dims(net, probe, label_classes, batch));
  }
  return g.finish();
}

void export_onnx_file(archs::NetImpl& net, const std::string& path, const ExportOptions& opt) {
  io::write_file_atomic(path, export_onnx(net, opt));
}

}  // namespace tessera::exporter
