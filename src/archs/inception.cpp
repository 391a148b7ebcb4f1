#include "tessera/archs/inception.h"

#include "tessera/nn/onnx_emit.h"

namespace tessera::archs {

using Conv = BasicConv2d;

BasicConv2dImpl::BasicConv2dImpl(int64_t in, int64_t out, std::array<int64_t, 2> k, std::array<int64_t, 2> s, std::array<int64_t, 2> p) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, {k[0], k[1]}).stride({s[0], s[1]}).padding({p[0], p[1]}).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNormOptions(out).eps(0.001)));
}

namespace {

// Each Inception block is a module holding its branches' BasicConv2d children (torchvision names).
struct Block : torch::nn::Module {
  std::map<std::string, Conv> c;
  Conv add(const std::string& n, int64_t in, int64_t out, std::array<int64_t, 2> k, std::array<int64_t, 2> s = {1, 1},
           std::array<int64_t, 2> p = {0, 0}) {
    Conv m = register_module(n, Conv(in, out, k, s, p));
    c.emplace(n, m);
    return m;
  }
  torch::Tensor operator()(const std::string& n, const torch::Tensor& x) { return c.at(n)->forward(x); }
};

torch::Tensor avg3(const torch::Tensor& x) { return torch::avg_pool2d(x, 3, 1, 1); }  // count_include_pad, as torchvision
torch::Tensor max3s2(const torch::Tensor& x) { return torch::max_pool2d(x, 3, 2); }

struct InceptionA : Block {
  InceptionA(int64_t in, int64_t pool) {
    add("branch1x1", in, 64, {1, 1});
    add("branch5x5_1", in, 48, {1, 1});
    add("branch5x5_2", 48, 64, {5, 5}, {1, 1}, {2, 2});
    add("branch3x3dbl_1", in, 64, {1, 1});
    add("branch3x3dbl_2", 64, 96, {3, 3}, {1, 1}, {1, 1});
    add("branch3x3dbl_3", 96, 96, {3, 3}, {1, 1}, {1, 1});
    add("branch_pool", in, pool, {1, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto& s = *this;
    return torch::cat({s("branch1x1", x), s("branch5x5_2", s("branch5x5_1", x)),
                       s("branch3x3dbl_3", s("branch3x3dbl_2", s("branch3x3dbl_1", x))), s("branch_pool", avg3(x))}, 1);
  }
};

struct InceptionB : Block {
  explicit InceptionB(int64_t in) {
    add("branch3x3", in, 384, {3, 3}, {2, 2});
    add("branch3x3dbl_1", in, 64, {1, 1});
    add("branch3x3dbl_2", 64, 96, {3, 3}, {1, 1}, {1, 1});
    add("branch3x3dbl_3", 96, 96, {3, 3}, {2, 2});
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto& s = *this;
    return torch::cat({s("branch3x3", x), s("branch3x3dbl_3", s("branch3x3dbl_2", s("branch3x3dbl_1", x))), max3s2(x)}, 1);
  }
};

struct InceptionC : Block {
  InceptionC(int64_t in, int64_t c7) {
    add("branch1x1", in, 192, {1, 1});
    add("branch7x7_1", in, c7, {1, 1});
    add("branch7x7_2", c7, c7, {1, 7}, {1, 1}, {0, 3});
    add("branch7x7_3", c7, 192, {7, 1}, {1, 1}, {3, 0});
    add("branch7x7dbl_1", in, c7, {1, 1});
    add("branch7x7dbl_2", c7, c7, {7, 1}, {1, 1}, {3, 0});
    add("branch7x7dbl_3", c7, c7, {1, 7}, {1, 1}, {0, 3});
    add("branch7x7dbl_4", c7, c7, {7, 1}, {1, 1}, {3, 0});
    add("branch7x7dbl_5", c7, 192, {1, 7}, {1, 1}, {0, 3});
    add("branch_pool", in, 192, {1, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto& s = *this;
    torch::Tensor b7 = s("branch7x7_3", s("branch7x7_2", s("branch7x7_1", x)));
    torch::Tensor d = s("branch7x7dbl_1", x);
    for (const char* n : {"branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"}) d = s(n, d);
    return torch::cat({s("branch1x1", x), b7, d, s("branch_pool", avg3(x))}, 1);
  }
};

struct InceptionD : Block {
  explicit InceptionD(int64_t in) {
    add("branch3x3_1", in, 192, {1, 1});
    add("branch3x3_2", 192, 320, {3, 3}, {2, 2});
    add("branch7x7x3_1", in, 192, {1, 1});
    add("branch7x7x3_2", 192, 192, {1, 7}, {1, 1}, {0, 3});
    add("branch7x7x3_3", 192, 192, {7, 1}, {1, 1}, {3, 0});
    add("branch7x7x3_4", 192, 192, {3, 3}, {2, 2});
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto& s = *this;
    torch::Tensor b7 = s("branch7x7x3_4", s("branch7x7x3_3", s("branch7x7x3_2", s("branch7x7x3_1", x))));
    return torch::cat({s("branch3x3_2", s("branch3x3_1", x)), b7, max3s2(x)}, 1);
  }
};

struct InceptionE : Block {
  explicit InceptionE(int64_t in) {
    add("branch1x1", in, 320, {1, 1});
    add("branch3x3_1", in, 384, {1, 1});
    add("branch3x3_2a", 384, 384, {1, 3}, {1, 1}, {0, 1});
    add("branch3x3_2b", 384, 384, {3, 1}, {1, 1}, {1, 0});
    add("branch3x3dbl_1", in, 448, {1, 1});
    add("branch3x3dbl_2", 448, 384, {3, 3}, {1, 1}, {1, 1});
    add("branch3x3dbl_3a", 384, 384, {1, 3}, {1, 1}, {0, 1});
    add("branch3x3dbl_3b", 384, 384, {3, 1}, {1, 1}, {1, 0});
    add("branch_pool", in, 192, {1, 1});
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto& s = *this;
    torch::Tensor b3 = s("branch3x3_1", x);
    b3 = torch::cat({s("branch3x3_2a", b3), s("branch3x3_2b", b3)}, 1);
    torch::Tensor d = s("branch3x3dbl_2", s("branch3x3dbl_1", x));
    d = torch::cat({s("branch3x3dbl_3a", d), s("branch3x3dbl_3b", d)}, 1);
    return torch::cat({s("branch1x1", x), b3, d, s("branch_pool", avg3(x))}, 1);
  }
};

}  // namespace

BasicConv2d InceptionV3Impl::conv(const std::string& name, int64_t in, int64_t out, std::array<int64_t, 2> k,
                                  std::array<int64_t, 2> s, std::array<int64_t, 2> p) {
  return register_module(name, BasicConv2d(in, out, k, s, p));
}

InceptionV3Impl::InceptionV3Impl(InceptionOptions o) : opt(o) {
  auto c1 = conv("Conv2d_1a_3x3", 3, 32, {3, 3}, {2, 2});
  auto c2 = conv("Conv2d_2a_3x3", 32, 32, {3, 3});
  auto c3 = conv("Conv2d_2b_3x3", 32, 64, {3, 3}, {1, 1}, {1, 1});
  auto c4 = conv("Conv2d_3b_1x1", 64, 80, {1, 1});
  auto c5 = conv("Conv2d_4a_3x3", 80, 192, {3, 3});
  stages_.emplace_back("stem", [=](const torch::Tensor& x) mutable {
    torch::Tensor h = max3s2(c3->forward(c2->forward(c1->forward(x))));
    return max3s2(c5->forward(c4->forward(h)));
  });
  auto block = [&](const std::string& name, std::shared_ptr<torch::nn::Module> m, auto fwd) {
    register_module(name, m);
    stages_.emplace_back(name, fwd);
  };
  auto a1 = std::make_shared<InceptionA>(192, 32), a2 = std::make_shared<InceptionA>(256, 64), a3 = std::make_shared<InceptionA>(288, 64);
  block("Mixed_5b", a1, [a1](const torch::Tensor& x) { return a1->forward(x); });
  block("Mixed_5c", a2, [a2](const torch::Tensor& x) { return a2->forward(x); });
  block("Mixed_5d", a3, [a3](const torch::Tensor& x) { return a3->forward(x); });
  auto b = std::make_shared<InceptionB>(288);
  block("Mixed_6a", b, [b](const torch::Tensor& x) { return b->forward(x); });
  const std::pair<const char*, int64_t> cs[] = {{"Mixed_6b", 128}, {"Mixed_6c", 160}, {"Mixed_6d", 160}, {"Mixed_6e", 192}};
  for (const auto& [name, c7] : cs) {
    auto m = std::make_shared<InceptionC>(768, c7);
    block(name, m, [m](const torch::Tensor& x) { return m->forward(x); });
  }
  auto d = std::make_shared<InceptionD>(768);
  block("Mixed_7a", d, [d](const torch::Tensor& x) { return d->forward(x); });
  auto e1 = std::make_shared<InceptionE>(1280), e2 = std::make_shared<InceptionE>(2048);
  block("Mixed_7b", e1, [e1](const torch::Tensor& x) { return e1->forward(x); });
  block("Mixed_7c", e2, [e2](const torch::Tensor& x) { return e2->forward(x); });
  fc = register_module("fc", torch::nn::Linear(2048, opt.num_classes));
}

torch::Tensor InceptionV3Impl::features(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& [name, f] : stages_) h = f(h);
  return h.mean({2, 3});
}

// ---------------- ONNX emitters (mirroring each forward above) ----------------
namespace {

using exporter::add_emitter;
using exporter::OnnxGraph;
using S = const std::string&;

std::string onnx_avg3(OnnxGraph& g, S x, S p) {
  return g.add_node("AveragePool", {x}, p + ".pool", {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{1, 1}},
                                                      {"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"count_include_pad", int64_t{1}}});
}
std::string onnx_max3s2(OnnxGraph& g, S x, S p) {
  return g.add_node("MaxPool", {x}, p + ".max_pool", {{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}}});
}
// One branch conv of a block: emitted under the block's prefix.
struct BlockEmit {
  OnnxGraph& g;
  Block& b;
  std::string p;
  std::string operator()(S name, S x) const { return exporter::emit(g, *b.c.at(name), x, p + "." + name); }
  std::string chain(std::initializer_list<const char*> names, S x) const {
    std::string y = x;
    for (const char* n : names) y = (*this)(n, y);
    return y;
  }
  std::string cat(const std::vector<std::string>& xs, S name) const { return exporter::concat(g, xs, 1, p + "." + name); }
};

void register_inception_emitters() {
  add_emitter<BasicConv2dImpl>([](OnnxGraph& g, BasicConv2dImpl& m, S x, S p) {
    return g.add_node("Relu", {exporter::emit(g, *m.bn, exporter::emit(g, *m.conv, x, p + ".conv"), p + ".bn")}, p + ".relu");
  });
  add_emitter<InceptionA>([](OnnxGraph& g, InceptionA& m, S x, S p) {
    BlockEmit e{g, m, p};
    return e.cat({e("branch1x1", x), e.chain({"branch5x5_1", "branch5x5_2"}, x), e.chain({"branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"}, x),
                  e("branch_pool", onnx_avg3(g, x, p))}, "out");
  });
  add_emitter<InceptionB>([](OnnxGraph& g, InceptionB& m, S x, S p) {
    BlockEmit e{g, m, p};
    return e.cat({e("branch3x3", x), e.chain({"branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"}, x), onnx_max3s2(g, x, p)}, "out");
  });
  add_emitter<InceptionC>([](OnnxGraph& g, InceptionC& m, S x, S p) {
    BlockEmit e{g, m, p};
    return e.cat({e("branch1x1", x), e.chain({"branch7x7_1", "branch7x7_2", "branch7x7_3"}, x),
                  e.chain({"branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"}, x),
                  e("branch_pool", onnx_avg3(g, x, p))}, "out");
  });
  add_emitter<InceptionD>([](OnnxGraph& g, InceptionD& m, S x, S p) {
    BlockEmit e{g, m, p};
    return e.cat({e.chain({"branch3x3_1", "branch3x3_2"}, x), e.chain({"branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"}, x),
                  onnx_max3s2(g, x, p)}, "out");
  });
  add_emitter<InceptionE>([](OnnxGraph& g, InceptionE& m, S x, S p) {
    BlockEmit e{g, m, p};
    std::string b3 = e("branch3x3_1", x);
    b3 = e.cat({e("branch3x3_2a", b3), e("branch3x3_2b", b3)}, "branch3x3");
    std::string d = e.chain({"branch3x3dbl_1", "branch3x3dbl_2"}, x);
    d = e.cat({e("branch3x3dbl_3a", d), e("branch3x3dbl_3b", d)}, "branch3x3dbl");
    return e.cat({e("branch1x1", x), b3, d, e("branch_pool", onnx_avg3(g, x, p))}, "out");
  });
  add_emitter<InceptionV3Impl>([](OnnxGraph& g, InceptionV3Impl& n, S x, S) {
    auto kids = n.named_children();
    auto run = [&](const char* name, S y) { return exporter::emit(g, *kids[name], y, name); };
    std::string y = onnx_max3s2(g, run("Conv2d_2b_3x3", run("Conv2d_2a_3x3", run("Conv2d_1a_3x3", x))), "stem1");
    y = onnx_max3s2(g, run("Conv2d_4a_3x3", run("Conv2d_3b_1x1", y)), "stem2");
    for (const char* m : {"Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"})
      y = run(m, y);
    y = g.add_node("Flatten", {g.add_node("GlobalAveragePool", {y}, "avgpool")}, "pool3", {{"axis", int64_t{1}}});
    return exporter::emit(g, *n.fc, y, "fc");
  });
}

}  // namespace

void register_inception_arch(ArchRegistry& r) {
  register_inception_emitters();
  r.add("inception_v3", [](Cfg& c) -> NetPtr { return std::make_shared<InceptionV3Impl>(read_options<InceptionOptions>(c)); },
        [] { return document_options<InceptionOptions>(); });
}

}  // namespace tessera::archs
