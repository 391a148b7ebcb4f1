// Custom ops against their plain-ATen composites: forward, gradients (and float64 central
// differences), double backward, layouts, autocast, errors; on CUDA when a GPU is present.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <array>
#include <numeric>

#include "../support/support.h"
#include "tessera/io/image_io.h"
#include "tessera/ops/ops.h"
#include "tessera/optim/optim.h"

using namespace tessera;

namespace {

using Fn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

double max_err(const torch::Tensor& a, const torch::Tensor& b) { return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>(); }

// d/d inputs of sum(fn(inputs) * w) by autograd, for fixed random w.
std::vector<torch::Tensor> grads_of(const Fn& fn, std::vector<torch::Tensor> inputs, const torch::Tensor& w, bool create_graph = false) {
  for (auto& t : inputs) t = t.detach().requires_grad_(true);
  torch::Tensor loss = (fn(inputs) * w).sum();
  return torch::autograd::grad({loss}, inputs, {}, true, create_graph, /*allow_unused=*/true);
}

// The CPU kernel builds up to the one ATen picks here (DEFAULT always; AVX2 and AVX512 where the
// CPU has them).
std::vector<std::string> cpu_builds() {
  std::vector<std::string> builds{"DEFAULT"};
  const std::string cap = at::get_cpu_capability();
  if (cap == "AVX2" || cap == "AVX512") builds.push_back("AVX2");
  if (cap == "AVX512") builds.push_back("AVX512");
  return builds;
}

// The dimension order in which a dense tensor's memory is contiguous (outermost first).
std::vector<int64_t> dense_order(const torch::Tensor& t) {
  std::vector<int64_t> order(t.dim());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return t.stride(a) > t.stride(b); });
  return order;
}

// Central differences of sum(fn(inputs) * w) in float64, element by element.
void check_finite_differences(const Fn& fn, std::vector<torch::Tensor> inputs) {
  torch::manual_seed(3);
  for (auto& t : inputs) t = t.to(torch::kFloat64);
  torch::Tensor w = torch::randn_like(fn(inputs));
  std::vector<torch::Tensor> analytic = grads_of(fn, inputs, w);
  const double h = 1e-6;
  for (size_t k = 0; k < inputs.size(); ++k) {
    // Perturb through a contiguous buffer that the input (any layout) is a view of.
    torch::Tensor flat = inputs[k].permute(dense_order(inputs[k])).view(-1), numeric = torch::zeros_like(flat);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double v = flat[i].item<double>();
      flat[i] = v + h;
      const double up = (fn(inputs) * w).sum().item<double>();
      flat[i] = v - h;
      const double down = (fn(inputs) * w).sum().item<double>();
      flat[i] = v;
      numeric[i] = (up - down) / (2 * h);
    }
    INFO("input " << k);
    CHECK(max_err(analytic[k].permute(dense_order(inputs[k])).reshape(-1), numeric) < 1e-6);
  }
}

// The gradient of <grad(fn), v> (double backward) equals the reference's.
void check_double_backward(const Fn& op, const Fn& ref, std::vector<torch::Tensor> inputs) {
  torch::manual_seed(4);
  for (auto& t : inputs) t = t.to(torch::kFloat64).detach().requires_grad_(true);
  torch::Tensor w = torch::randn_like(ref(inputs));
  auto second = [&](const Fn& fn) {
    std::vector<torch::Tensor> g = torch::autograd::grad({(fn(inputs) * w).sum()}, inputs, {}, true, true);
    torch::Tensor s = torch::zeros({}, torch::kFloat64);
    for (auto& gi : g) s = s + (gi * gi).sum();
    if (!s.requires_grad()) return std::vector<torch::Tensor>(inputs.size());  // gradients constant in the inputs
    return torch::autograd::grad({s}, inputs, {}, false, false, true);
  };
  auto a = second(op), b = second(ref);
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("input " << k);
    // An undefined gradient (no path) is zero: ATen's relu backward has a zero double backward.
    torch::Tensor ak = a[k].defined() ? a[k] : torch::zeros_like(inputs[k]), bk = b[k].defined() ? b[k] : torch::zeros_like(inputs[k]);
    CHECK(max_err(ak, bk) < 1e-9);
  }
}

Fn gram_op = [](const std::vector<torch::Tensor>& in) { return ops::gram(in[0]); };
Fn gram_ref = [](const std::vector<torch::Tensor>& in) { return ops::reference::gram(in[0]); };

Fn scale_add_fn(double beta, const std::string& act, double slope, bool reference) {
  return [=](const std::vector<torch::Tensor>& in) {
    return reference ? ops::reference::scale_add(in[0], in[1], beta, act, slope) : ops::scale_add(in[0], in[1], beta, act, slope);
  };
}

void check_gram_on(torch::Device device) {
  torch::manual_seed(1);
  // Channel counts around the block sizes (16-row halves, 32-row leaves) and odd ones.
  for (int64_t c : {1, 3, 16, 33, 64, 100, 130, 257}) {
    for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
      torch::Tensor f = torch::randn({2, c, 9, 7}, torch::TensorOptions(dtype).device(device));
      torch::Tensor g = ops::gram(f), r = ops::reference::gram(f);
      INFO("C " << c << " dtype " << dtype);
      REQUIRE(g.sizes() == r.sizes());
      CHECK(max_err(g, r) < (dtype == torch::kFloat64 ? 1e-12 : 1e-5));
      CHECK(torch::equal(g, g.transpose(1, 2)));  // exactly symmetric
    }
  }
  // channels_last and 3-D input give the same result.
  torch::Tensor f = torch::randn({3, 40, 12, 10}, torch::TensorOptions().device(device));
  CHECK(max_err(ops::gram(f.contiguous(torch::MemoryFormat::ChannelsLast)), ops::reference::gram(f)) < 1e-5);
  CHECK(max_err(ops::gram(f.reshape({3, 40, 120})), ops::reference::gram(f)) < 1e-5);
  // Gradients equal the composite's.
  torch::Tensor w = torch::randn({3, 40, 40}, torch::TensorOptions().device(device));
  auto a = grads_of(gram_op, {f}, w), b = grads_of(gram_ref, {f}, w);
  CHECK(max_err(a[0], b[0]) < 1e-5);
}

void check_scale_add_on(torch::Device device) {
  torch::manual_seed(2);
  for (const std::string act : {"none", "relu", "leaky_relu"}) {
    for (auto dtype : {torch::kFloat64, torch::kFloat32, torch::kBFloat16}) {
      auto o = torch::TensorOptions(dtype).device(device);
      torch::Tensor x = torch::randn({2, 5, 33, 17}, o), y = torch::randn({2, 5, 33, 17}, o);
      INFO(act << " " << dtype);
      torch::Tensor out = ops::scale_add(x, y, 0.2, act, 0.1), ref = ops::reference::scale_add(x, y, 0.2, act, 0.1);
      CHECK(out.scalar_type() == dtype);
      CHECK(max_err(out, ref) < (dtype == torch::kBFloat16 ? 2e-2 : 1e-6));
      // channels_last stays channels_last, with the same values.
      torch::Tensor xl = x.contiguous(torch::MemoryFormat::ChannelsLast), yl = y.contiguous(torch::MemoryFormat::ChannelsLast);
      torch::Tensor outl = ops::scale_add(xl, yl, 0.2, act, 0.1);
      CHECK(outl.is_contiguous(torch::MemoryFormat::ChannelsLast));
      CHECK(torch::equal(outl, out));
      // y in another layout than x is read correctly.
      CHECK(torch::equal(ops::scale_add(xl, y, 0.2, act, 0.1), out));
    }
    torch::Tensor x = torch::randn({2, 3, 4, 5}, torch::TensorOptions().device(device));
    torch::Tensor y = torch::randn({2, 3, 4, 5}, torch::TensorOptions().device(device));
    torch::Tensor w = torch::randn_like(x);
    auto a = grads_of(scale_add_fn(0.3, act, 0.2, false), {x, y}, w), b = grads_of(scale_add_fn(0.3, act, 0.2, true), {x, y}, w);
    CHECK(max_err(a[0], b[0]) < 1e-6);
    CHECK(max_err(a[1], b[1]) < 1e-6);
  }
}

Fn instance_norm_fn(const std::string& act, bool affine, bool reference) {
  return [=](const std::vector<torch::Tensor>& in) {
    c10::optional<torch::Tensor> w = affine ? c10::optional<torch::Tensor>(in[1]) : c10::nullopt;
    c10::optional<torch::Tensor> b = affine ? c10::optional<torch::Tensor>(in[2]) : c10::nullopt;
    return reference ? ops::reference::instance_norm_act(in[0], w, b, 1e-5, act, 0.2) : ops::instance_norm_act(in[0], w, b, 1e-5, act, 0.2);
  };
}

void check_warp_on(torch::Device device) {
  torch::manual_seed(5);
  auto on = [&](const torch::Tensor& t) { return t.to(device); };
  torch::Tensor img = on(torch::rand({2, 3, 13, 17})), flow = on(torch::randn({2, 2, 13, 17}) * 3);
  flow[0][0][0][0] = 40.0;  // far outside: border pixels
  flow[1][1][2][3] = -2.0;  // an exact integer position
  const Fn op = [](const std::vector<torch::Tensor>& in) { return ops::warp_catmull_rom(in[0], in[1]); };
  const Fn ref = [](const std::vector<torch::Tensor>& in) { return ops::reference::warp_catmull_rom(in[0], in[1]); };
  CHECK(max_err(op({img, flow}), ref({img, flow})) < 1e-5);
  CHECK(max_err(op({img.to(torch::kFloat64), flow.to(torch::kFloat64)}), ref({img.to(torch::kFloat64), flow.to(torch::kFloat64)})) < 1e-12);
  // Zero flow is the identity; whole-pixel flow is a shift with replicated borders.
  CHECK(torch::equal(op({img, torch::zeros_like(flow)}), img));
  torch::Tensor right = torch::zeros_like(flow);
  right.select(1, 0).fill_(1.0);
  torch::Tensor shifted = op({img, right});
  CHECK(torch::equal(shifted.slice(3, 0, 16), img.slice(3, 1, 17)));
  CHECK(torch::equal(shifted.select(3, 16), img.select(3, 16)));
  // Catmull-Rom reproduces linear ramps: half a pixel right is the ramp at x + 0.5 (interior).
  torch::Tensor ramp = on(torch::arange(17, torch::kFloat32)).view({1, 1, 1, 17}).expand({1, 1, 5, 17}).contiguous();
  torch::Tensor half = torch::full({1, 2, 5, 17}, 0.5, ramp.options());
  half.select(1, 1).zero_();
  CHECK(max_err(op({ramp, half}).slice(3, 1, 15), (ramp + 0.5).slice(3, 1, 15)) < 1e-5);
  // Gradients in both inputs equal the composite's autograd.
  torch::Tensor w = torch::randn_like(img);
  auto a = grads_of(op, {img, flow}, w), b = grads_of(ref, {img, flow}, w);
  CHECK(max_err(a[0], b[0]) < 1e-4);
  CHECK(max_err(a[1], b[1]) < 1e-3);
  // A NaN in the flow is NaN at that pixel only.
  torch::Tensor bad = flow.clone();
  bad[0][1][4][5] = std::numeric_limits<float>::quiet_NaN();
  torch::Tensor y = op({img, bad});
  CHECK(y[0].select(1, 4).select(1, 5).isnan().all().item<bool>());
  CHECK(y.isnan().sum().item<int64_t>() == 3);
}

void check_history_clamp_on(torch::Device device) {
  torch::manual_seed(8);
  torch::Tensor hist = torch::rand({2, 3, 11, 14}, device) * 1.4 - 0.2, cur = torch::rand({2, 3, 11, 14}, device);
  for (int64_t r : {0, 1, 2}) {
    INFO("radius " << r);
    CHECK(max_err(ops::history_clamp(hist, cur, r), ops::reference::history_clamp(hist, cur, r)) < 1e-6);
    auto h64 = hist.to(torch::kFloat64), c64 = cur.to(torch::kFloat64);
    CHECK(max_err(ops::history_clamp(h64, c64, r), ops::reference::history_clamp(h64, c64, r)) < 1e-13);
  }
  // Radius 0: the box is the current pixel itself; a history equal to the current frame is kept.
  CHECK(max_err(ops::history_clamp(hist, cur, 0), cur) < 1e-6);
  CHECK(max_err(ops::history_clamp(cur, cur, 1), cur) < 1e-6);
  // A constant current frame pulls any history to that colour.
  torch::Tensor grey = torch::full_like(cur, 0.3);
  CHECK(max_err(ops::history_clamp(hist, grey, 2), grey) < 1e-6);
  torch::Tensor bad = hist.clone();
  bad[1][2][3][4] = std::numeric_limits<float>::quiet_NaN();
  torch::Tensor y = ops::history_clamp(bad, cur, 1);
  CHECK(y[1].select(1, 3).select(1, 4).isnan().any().item<bool>());
  CHECK(y.isnan().sum().item<int64_t>() <= 3);
  const Fn op = [](const std::vector<torch::Tensor>& in) { return ops::history_clamp(in[0], in[1], 1); };
  const Fn ref = [](const std::vector<torch::Tensor>& in) { return ops::reference::history_clamp(in[0], in[1], 1); };
  torch::Tensor w = torch::randn_like(hist);
  auto a = grads_of(op, {hist, cur}, w), b = grads_of(ref, {hist, cur}, w);
  CHECK(max_err(a[0], b[0]) < 1e-6);
  CHECK(max_err(a[1], b[1]) < 1e-6);
}

void check_instance_norm_on(torch::Device device) {
  torch::manual_seed(7);
  for (const std::string act : {"none", "relu", "leaky_relu"}) {
    for (bool affine : {false, true}) {
      for (bool cl : {false, true}) {
        for (auto dtype : {torch::kFloat64, torch::kFloat32, torch::kBFloat16}) {
          auto o = torch::TensorOptions(dtype).device(device);
          // 37 channels and 11x13 planes: vector bodies and scalar tails in both layouts.
          torch::Tensor x = torch::randn({3, 37, 11, 13}, o) * 2 + 0.5;
          if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
          torch::Tensor w = torch::rand({37}, o.dtype(torch::kFloat32)) + 0.5, b = torch::randn({37}, o.dtype(torch::kFloat32));
          std::vector<torch::Tensor> in{x, w.to(dtype), b.to(dtype)};
          INFO(act << " affine " << affine << " channels_last " << cl << " " << dtype);
          torch::Tensor y = instance_norm_fn(act, affine, false)(in), r = instance_norm_fn(act, affine, true)({x.to(torch::kFloat64), in[1].to(torch::kFloat64), in[2].to(torch::kFloat64)});
          CHECK(y.scalar_type() == dtype);
          CHECK(y.is_contiguous(cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous));
          CHECK(max_err(y, r) < (dtype == torch::kBFloat16 ? 5e-2 : dtype == torch::kFloat32 ? 1e-5 : 1e-12));
          if (dtype == torch::kBFloat16) continue;
          // Gradients (x, weight, bias) equal the composite's.
          torch::Tensor g = torch::randn_like(y);
          auto ga = grads_of(instance_norm_fn(act, affine, false), in, g), gb = grads_of(instance_norm_fn(act, affine, true), in, g);
          for (size_t k = 0; k < (affine ? 3u : 1u); ++k) {
            INFO("gradient " << k);
            CHECK(max_err(ga[k], gb[k]) < (dtype == torch::kFloat32 ? 2e-4 : 1e-10));
          }
        }
      }
    }
  }
  // [N, C, L] inputs too.
  torch::Tensor x = torch::randn({2, 5, 40}, torch::TensorOptions().device(device));
  CHECK(max_err(ops::instance_norm_act(x, c10::nullopt, c10::nullopt), ops::reference::instance_norm_act(x, c10::nullopt, c10::nullopt, 1e-5, "none", 0.01)) < 1e-5);
}

}  // namespace

TEST_CASE("instance_norm_act equals the composite: activations, affine, NCHW and channels_last, dtypes, gradients", "[ops]") {
  check_instance_norm_on(torch::kCPU);
}

TEST_CASE("instance_norm_act: float64 finite differences and double backward", "[ops]") {
  torch::manual_seed(8);
  for (const std::string act : {"none", "leaky_relu"}) {  // relu's kink makes central differences meaningless near 0
    for (bool cl : {false, true}) {
      INFO(act << " channels_last " << cl);
      torch::Tensor x = torch::randn({2, 3, 4, 5}, torch::kFloat64);
      if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      std::vector<torch::Tensor> in{x, torch::rand({3}, torch::kFloat64) + 0.5, torch::randn({3}, torch::kFloat64)};
      check_finite_differences(instance_norm_fn(act, true, false), in);
      check_double_backward(instance_norm_fn(act, true, false), instance_norm_fn(act, true, true), in);
    }
  }
}

TEST_CASE("imresize_bicubic equals the dense-matrix composite bit for bit on photographs, and its gradient", "[ops][resize]") {
  // The repository's photographs (scripts/fetch_datasets.sh), shrunk and enlarged by the SR scales.
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "val")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 2);
  int64_t compared = 0, differing = 0;
  for (size_t f = 0; f < 2; ++f) {
    torch::Tensor img = io::read_image(files[f].string()).rgb;
    img = img.narrow(1, 0, std::min<int64_t>(img.size(1), 131)).narrow(2, 0, std::min<int64_t>(img.size(2), 157));  // odd sizes
    for (double scale : {0.5, 1.0 / 3, 0.25, 2.0, 3.0}) {
      const int64_t oh = static_cast<int64_t>(std::ceil(img.size(1) * scale - 1e-9)), ow = static_cast<int64_t>(std::ceil(img.size(2) * scale - 1e-9));
      torch::Tensor a = ops::imresize_bicubic(img, oh, ow, scale, scale), b = ops::reference::imresize_bicubic(img, oh, ow, scale, scale, true);
      REQUIRE(a.sizes() == b.sizes());
      compared += a.numel();
      differing += (a != b).sum().item<int64_t>();
      INFO(files[f] << " scale " << scale);
      CHECK(max_err(a, b) <= 1e-6);
    }
  }
  // float64 sums in another order round to the same float32 nearly always: count, and allow none here.
  INFO(differing << " of " << compared << " values differ");
  CHECK(differing == 0);
  // Linear: its gradient is the composite's (Wh^T g Ww).
  torch::Tensor x = torch::rand({2, 3, 20, 17}, torch::kFloat64);
  torch::Tensor g = torch::randn({2, 3, 10, 9});
  Fn op = [](const std::vector<torch::Tensor>& in) { return ops::imresize_bicubic(in[0], 10, 9, 0.5, 9.0 / 17, true); };
  Fn ref = [](const std::vector<torch::Tensor>& in) { return ops::reference::imresize_bicubic(in[0], 10, 9, 0.5, 9.0 / 17, true); };
  CHECK(max_err(grads_of(op, {x}, g)[0], grads_of(ref, {x}, g)[0]) < 1e-6);
  CHECK_THROWS_WITH(ops::imresize_bicubic(torch::rand({4, 4}), 2, 2, 0.5, 0.5), Catch::Contains("[C, H, W]"));
  CHECK_THROWS_WITH(ops::imresize_bicubic(torch::rand({1, 4, 4}), 0, 2, 0.5, 0.5), Catch::Contains("positive"));
}

TEST_CASE("gram equals the bmm composite on CPU, is symmetric, and any layout gives the same result", "[ops]") {
  check_gram_on(torch::kCPU);
}

TEST_CASE("the CPU kernels run on as many threads as LibTorch has (built with OpenMP)", "[ops]") {
  const int threads = at::get_num_threads();
  for (int t : {1, 2, 3}) {
    at::set_num_threads(t);
    CHECK(ops::testing::kernel_threads() == t);
  }
  at::set_num_threads(threads);
}

TEST_CASE("gram's float32 panel kernel: both widths, edge panels, position chunks and slices, against float64", "[ops]") {
  torch::manual_seed(2);
  const int threads = at::get_num_threads();
  for (int t : {1, 2}) {
    at::set_num_threads(t);  // two threads and one item: the positions are split into slices
    for (int64_t panel : {8, 16})
      for (auto [n, c, l] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 5}, {2, 7, 300}, {1, 8, 2048}, {3, 13, 257}, {1, 64, 4100},
                             {2, 100, 513}, {1, 33, 1}}) {
        INFO("threads " << t << " panel " << panel << " [" << n << ", " << c << ", " << l << "]");
        torch::Tensor f = torch::randn({n, c, l});
        torch::Tensor g = ops::testing::gram_cpu_panel(f, panel), r = ops::reference::gram(f.to(torch::kFloat64));
        REQUIRE(g.sizes() == r.sizes());
        CHECK(max_err(g.to(torch::kFloat64), r) < 2e-6);
        CHECK(torch::equal(g, g.transpose(1, 2)));
      }
  }
  at::set_num_threads(threads);
}

TEST_CASE("gram: float64 finite differences and double backward", "[ops]") {
  torch::manual_seed(5);
  check_finite_differences(gram_op, {torch::randn({2, 35, 3, 2})});  // 35 channels: the recursive blocks
  check_double_backward(gram_op, gram_ref, {torch::randn({2, 35, 3, 2})});
}

TEST_CASE("scale_add equals x + beta * f(y) on CPU for each activation, dtype and layout", "[ops]") {
  check_scale_add_on(torch::kCPU);
}

TEST_CASE("scale_add: float64 finite differences and double backward", "[ops]") {
  torch::manual_seed(6);
  for (const std::string act : {"none", "relu", "leaky_relu"}) {
    INFO(act);
    // Away from 0, where relu's derivative jumps and central differences do not apply.
    torch::Tensor y = torch::randn({2, 3, 4, 4});
    y = y + y.sign() * 0.1;
    check_finite_differences(scale_add_fn(0.7, act, 0.2, false), {torch::randn({2, 3, 4, 4}), y});
    check_double_backward(scale_add_fn(0.7, act, 0.2, false), scale_add_fn(0.7, act, 0.2, true), {torch::randn({2, 3, 4, 4}), y});
  }
}

TEST_CASE("ops under autocast: gram runs in the autocast dtype, scale_add in the wider input dtype", "[ops]") {
  torch::Tensor f = torch::randn({2, 8, 5, 5});
  torch::Tensor x = torch::randn({2, 8, 5, 5}).to(torch::kBFloat16), y = torch::randn({2, 8, 5, 5});
  {
    optim::AutocastScope scope(torch::kCPU, true, at::kBFloat16);
    torch::Tensor g = ops::gram(f);
    CHECK(g.scalar_type() == torch::kBFloat16);
    CHECK(max_err(g, ops::reference::gram(f)) < 3e-2);
    CHECK(ops::scale_add(x, y, 0.5).scalar_type() == torch::kFloat32);
  }
  CHECK(ops::gram(f).scalar_type() == torch::kFloat32);
  // Gradients flow through the autocast wrapper back to the fp32 input.
  torch::Tensor fr = f.clone().requires_grad_(true);
  {
    optim::AutocastScope scope(torch::kCPU, true, at::kBFloat16);
    ops::gram(fr).sum().backward();
  }
  REQUIRE(fr.grad().defined());
  CHECK(fr.grad().scalar_type() == torch::kFloat32);
}

TEST_CASE("warp_catmull_rom equals the gather composite: identity, shifts, ramps, borders, gradients, NaN", "[ops][warp]") {
  check_warp_on(torch::kCPU);
}

TEST_CASE("warp_catmull_rom: float64 finite differences, double backward, autocast, bad inputs", "[ops][warp]") {
  const Fn op = [](const std::vector<torch::Tensor>& in) { return ops::warp_catmull_rom(in[0], in[1]); };
  const Fn ref = [](const std::vector<torch::Tensor>& in) { return ops::reference::warp_catmull_rom(in[0], in[1]); };
  torch::manual_seed(6);
  torch::Tensor img = torch::rand({1, 2, 5, 6}), flow = torch::randn({1, 2, 5, 6}) * 1.7;
  check_finite_differences(op, {img, flow});
  check_double_backward(op, ref, {img, flow});
  {
    optim::AutocastScope scope(torch::kCPU, true, at::kBFloat16);
    torch::Tensor y = ops::warp_catmull_rom(img.to(torch::kBFloat16), flow.to(torch::kBFloat16));
    CHECK(y.scalar_type() == torch::kFloat32);
  }
  CHECK(ops::warp_catmull_rom(img.to(torch::kBFloat16), flow.to(torch::kBFloat16)).scalar_type() == torch::kBFloat16);
  CHECK_THROWS_WITH(ops::warp_catmull_rom(torch::rand({2, 5, 6}), flow), Catch::Contains("tessera::warp_catmull_rom") && Catch::Contains("[N, C, H, W]"));
  CHECK_THROWS_WITH(ops::warp_catmull_rom(img, torch::rand({1, 3, 5, 6})), Catch::Contains("[N, 2, H, W]"));
  CHECK_THROWS_WITH(ops::warp_catmull_rom(img, torch::rand({1, 2, 5, 7})), Catch::Contains("does not match"));
  CHECK_THROWS_WITH(ops::warp_catmull_rom(img, flow.to(torch::kFloat64)), Catch::Contains("one floating dtype"));
}

TEST_CASE("history_clamp equals the YCoCg box composite: radii, identity, constant frames, NaN, gradients", "[ops][history_clamp]") {
  check_history_clamp_on(torch::kCPU);
}

TEST_CASE("history_clamp: float64 finite differences, double backward, autocast, bad inputs", "[ops][history_clamp]") {
  const Fn op = [](const std::vector<torch::Tensor>& in) { return ops::history_clamp(in[0], in[1], 1); };
  const Fn ref = [](const std::vector<torch::Tensor>& in) { return ops::reference::history_clamp(in[0], in[1], 1); };
  torch::manual_seed(9);
  torch::Tensor hist = torch::rand({1, 3, 4, 5}) * 1.6 - 0.3, cur = torch::rand({1, 3, 4, 5});
  check_finite_differences(op, {hist, cur});
  check_double_backward(op, ref, {hist, cur});
  {
    optim::AutocastScope scope(torch::kCPU, true, at::kBFloat16);
    CHECK(ops::history_clamp(hist.to(torch::kBFloat16), cur.to(torch::kBFloat16)).scalar_type() == torch::kFloat32);
  }
  CHECK_THROWS_WITH(ops::history_clamp(torch::rand({1, 4, 4, 5}), torch::rand({1, 4, 4, 5})), Catch::Contains("tessera::history_clamp") && Catch::Contains("RGB"));
  CHECK_THROWS_WITH(ops::history_clamp(hist, torch::rand({1, 3, 4, 6})), Catch::Contains("differ in shape"));
  CHECK_THROWS_WITH(ops::history_clamp(hist, cur, 9), Catch::Contains("radius must be 0..8"));
  CHECK_THROWS_WITH(ops::history_clamp(hist, cur.to(torch::kFloat64)), Catch::Contains("one floating dtype"));
}

TEST_CASE("stem_conv equals conv2d + bias + activation in every build this CPU runs: kernels, channels, tails", "[ops][stem_conv]") {
  const std::vector<std::string> builds = cpu_builds();
  torch::manual_seed(8);
  for (const auto& build : builds) {
    for (int64_t cin : {1, 3, 4}) {
      for (int64_t k : {1, 3, 5, 9}) {
        for (int64_t cout : {8, 27, 64}) {
          // Widths below, at and past the register tile (6 or 12 pixels), batch 2, both layouts.
          const int64_t w = 1 + (cin * 7 + k * 3 + cout) % 29;
          torch::Tensor x = torch::randn({2, cin, 7, w});
          if (cout == 27) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
          // Outputs spread over [-10, 10]: tanh's clamp and rational approximation are both exercised.
          const torch::Tensor wt = torch::randn({cout, cin, k, k}) * (3.0 / std::sqrt(static_cast<double>(cin * k * k)));
          const torch::Tensor b = torch::randn({cout});
          // 'Same' padding, and none (after an explicit reflection pad) where the input is large enough.
          const int64_t padding = (cout == 8 && k <= 7 && k <= w) ? 0 : k / 2;
          for (const std::string act : {"none", "relu", "tanh"}) {
            for (bool with_bias : {true, false}) {
              INFO(build << " cin " << cin << " k " << k << " cout " << cout << " w " << w << " padding " << padding << " " << act
                         << (with_bias ? " bias" : ""));
              torch::Tensor want = torch::conv2d(x.to(torch::kFloat64), wt.to(torch::kFloat64),
                                                 with_bias ? b.to(torch::kFloat64) : torch::Tensor(), 1, padding);
              want = act == "relu" ? torch::relu(want) : act == "tanh" ? torch::tanh(want) : want;
              const torch::Tensor got =
                  ops::testing::stem_conv_build(build, x, wt, with_bias ? c10::optional<at::Tensor>(b) : c10::nullopt, act, padding);
              REQUIRE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
              REQUIRE(got.scalar_type() == torch::kFloat32);
              REQUIRE(max_err(got, want) < 1e-5);
            }
          }
        }
      }
    }
    // tanh alone (a 1x1 identity convolution): the rational approximation is within 5e-7 of tanh,
    // across the clamp at +-7.9 and the x < 4e-4 branch.
    INFO(build << " tanh");
    const torch::Tensor t = torch::cat({torch::linspace(-12, 12, 24001), torch::logspace(-9, 0, 200), -torch::logspace(-9, 0, 200)});
    const torch::Tensor img = t.view({1, 1, 1, -1});
    const torch::Tensor eye = torch::ones({8, 1, 1, 1});
    const torch::Tensor got = ops::testing::stem_conv_build(build, img, eye, c10::nullopt, "tanh");
    REQUIRE(max_err(got, torch::tanh(img.to(torch::kFloat64)).expand({1, 8, 1, img.size(3)})) < 5e-7);
  }
  // The build this machine picks is the one stem_conv runs.
  const torch::Tensor x = torch::rand({1, 3, 9, 9}), wt = torch::randn({16, 3, 3, 3});
  REQUIRE(torch::equal(ops::stem_conv(x, wt, c10::nullopt, "relu"), ops::testing::stem_conv_build(builds.back(), x, wt, c10::nullopt, "relu")));
  // Bad inputs name the problem.
  REQUIRE_THROWS_WITH(ops::stem_conv(torch::rand({1, 5, 9, 9}), torch::randn({16, 5, 3, 3}), c10::nullopt),
                      Catch::Matchers::Contains("1 to 4 input channels"));
  REQUIRE_THROWS_WITH(ops::stem_conv(x, torch::randn({16, 3, 2, 2}), c10::nullopt), Catch::Matchers::Contains("odd k"));
  REQUIRE_THROWS_WITH(ops::stem_conv(x.to(torch::kFloat64), wt, c10::nullopt), Catch::Matchers::Contains("float32 CPU input"));
  REQUIRE_THROWS_WITH(ops::stem_conv(x, wt, torch::zeros({15})), Catch::Matchers::Contains("bias [16]"));
  REQUIRE_THROWS_WITH(ops::stem_conv(x, wt, c10::nullopt, "gelu"), Catch::Matchers::Contains("none, relu or tanh"));
  REQUIRE_THROWS_WITH(ops::stem_conv(x, wt, c10::nullopt, "none", 2), Catch::Matchers::Contains("more than half the kernel"));
}

TEST_CASE("winograd_conv3x3 equals conv2d + bias (+ residual) + activation in every build this CPU runs", "[ops][winograd]") {
  const std::vector<std::string> builds = cpu_builds();
  torch::manual_seed(9);
  for (const auto& build : builds) {
    // Channel counts on and off the vector width, sizes on and off the 4x4 blocks and the runs of
    // blocks (6 or 12 per unit), a batch, both input layouts.
    for (const auto& [cin, cout, h, w] : std::vector<std::array<int64_t, 4>>{
             {8, 8, 4, 4}, {16, 16, 12, 31}, {16, 64, 9, 7}, {64, 64, 13, 103}, {64, 32, 5, 50}, {32, 27, 11, 13}, {13, 3, 6, 98}, {64, 256, 8, 9}}) {
      torch::Tensor x = torch::randn({2, cin, h, w});
      if (cout % 2 == 0) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      const torch::Tensor wt = torch::randn({cout, cin, 3, 3}) / std::sqrt(9.0 * static_cast<double>(cin));
      // Padding 1, and 0 (after an explicit reflection pad; the output is 2 smaller).
      const int64_t padding = (cin + h) % 2;
      const torch::Tensor b = torch::randn({cout}), r = torch::randn({2, cout, h + 2 * padding - 2, w + 2 * padding - 2});
      const torch::Tensor conv = torch::conv2d(x.to(torch::kFloat64), wt.to(torch::kFloat64), b.to(torch::kFloat64), 1, padding);
      for (const std::string act : {"none", "relu", "tanh"}) {
        for (bool with_residual : {false, true}) {
          INFO(build << " " << cin << "->" << cout << " " << h << "x" << w << " padding " << padding << " " << act
                     << (with_residual ? " + residual" : ""));
          const torch::Tensor sum = with_residual ? conv + r.to(torch::kFloat64) : conv;
          const torch::Tensor want = act == "relu" ? torch::relu(sum) : act == "tanh" ? torch::tanh(sum) : sum;
          const torch::Tensor got =
              ops::testing::winograd_conv3x3_build(build, x, wt, b, act, with_residual ? c10::optional<at::Tensor>(r) : c10::nullopt, padding);
          REQUIRE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
          // F(4x4, 3x3) in float32: within 1e-5 of the sums' largest magnitude (a direct float32
          // convolution: about 1e-6; the transforms' factors of 4, 5 and 8 cost about a digit).
          REQUIRE(max_err(got, want) < 1e-5 * sum.abs().max().item<double>());
        }
      }
    }
  }
  // The build this machine picks; the residual overwritten in place; no bias.
  const torch::Tensor x = torch::randn({1, 16, 10, 11}).contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor wt = torch::randn({16, 16, 3, 3}) * 0.1;
  const torch::Tensor r = torch::randn({1, 16, 10, 11}).contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor want = torch::conv2d(x, wt, {}, 1, 1) + r;
  torch::Tensor into = r.clone(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor got = ops::winograd_conv3x3(x, wt, c10::nullopt, "none", into, true);
  REQUIRE(got.data_ptr() == into.data_ptr());
  REQUIRE(max_err(into, want) < 1e-5 * want.abs().max().item<double>());
  REQUIRE(torch::equal(ops::winograd_conv3x3(x, wt, c10::nullopt, "none", r), ops::testing::winograd_conv3x3_build(builds.back(), x, wt, c10::nullopt, "none", r)));
  // Bad inputs name the problem.
  REQUIRE_THROWS_WITH(ops::winograd_conv3x3(x, torch::randn({16, 16, 5, 5}), c10::nullopt), Catch::Matchers::Contains("[Cout, 16, 3, 3]"));
  REQUIRE_THROWS_WITH(ops::winograd_conv3x3(x, wt, c10::nullopt, "none", c10::nullopt, false, 2), Catch::Matchers::Contains("padding must be 0 or 1"));
  REQUIRE_THROWS_WITH(ops::winograd_conv3x3(x.narrow(2, 0, 2), wt, c10::nullopt, "none", c10::nullopt, false, 0),
                      Catch::Matchers::Contains("smaller than the 3x3 kernel"));
  REQUIRE_THROWS_WITH(ops::winograd_conv3x3(x, wt, c10::nullopt, "none", torch::zeros({1, 16, 10, 10})), Catch::Matchers::Contains("residual [1, 16, 10, 11]"));
  REQUIRE_THROWS_WITH(ops::winograd_conv3x3(x, wt, c10::nullopt, "none", x, true), Catch::Matchers::Contains("apart from the input"));
  REQUIRE_THROWS_WITH(ops::winograd_conv3x3(x, wt, c10::nullopt, "none", r.contiguous(), true), Catch::Matchers::Contains("channels-last residual"));
}

TEST_CASE("ops refuse bad inputs with messages naming the op and the problem", "[ops]") {
  CHECK_THROWS_WITH(ops::gram(torch::randn({4, 4})), Catch::Contains("tessera::gram") && Catch::Contains("[N, C, H, W]"));
  CHECK_THROWS_WITH(ops::gram(torch::ones({1, 2, 3, 3}, torch::kInt64)), Catch::Contains("floating-point"));
  CHECK_THROWS_WITH(ops::scale_add(torch::randn({2, 3}), torch::randn({3, 2}), 1.0), Catch::Contains("differ in shape"));
  CHECK_THROWS_WITH(ops::scale_add(torch::randn({2, 3}), torch::randn({2, 3}), 1.0, "gelu"), Catch::Contains("'gelu'"));
  CHECK_THROWS_WITH(ops::scale_add(torch::randn({2, 3}), torch::randn({2, 3}).to(torch::kFloat64), 1.0), Catch::Contains("Double"));
  CHECK_THROWS_WITH(ops::instance_norm_act(torch::randn({2, 3}), c10::nullopt, c10::nullopt), Catch::Contains("at least one spatial"));
  CHECK_THROWS_WITH(ops::instance_norm_act(torch::randn({2, 3, 4, 4}), torch::ones({4}), torch::zeros({4})), Catch::Contains("must be [3]"));
  CHECK_THROWS_WITH(ops::instance_norm_act(torch::randn({2, 3, 4, 4}), torch::ones({3}), c10::nullopt), Catch::Contains("both weight and bias"));
  CHECK_THROWS_WITH(ops::instance_norm_act(torch::randn({2, 3, 1, 1}), c10::nullopt, c10::nullopt), Catch::Contains("more than one value"));
}

TEST_CASE("ops on CUDA equal their composites", "[ops][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the CUDA kernels were " << (ops::cuda_kernels_compiled() ? "compiled but not run" : "not compiled"));
    return;
  }
  REQUIRE(ops::cuda_kernels_compiled());
  check_gram_on(torch::kCUDA);
  check_scale_add_on(torch::kCUDA);
  check_instance_norm_on(torch::kCUDA);
  check_warp_on(torch::kCUDA);
  check_history_clamp_on(torch::kCUDA);
  {
    torch::Tensor h = torch::rand({2, 3, 17, 23}) * 1.5 - 0.25, c = torch::rand({2, 3, 17, 23});
    CHECK(max_err(ops::history_clamp(h.cuda(), c.cuda(), 2).cpu(), ops::history_clamp(h, c, 2)) < 1e-6);
  }
  {
    torch::Tensor x = torch::rand({2, 3, 21, 19}), fl = torch::randn({2, 2, 21, 19}) * 4, g = torch::randn({2, 3, 21, 19});
    const Fn op = [](const std::vector<torch::Tensor>& in) { return ops::warp_catmull_rom(in[0], in[1]); };
    auto cpu = grads_of(op, {x, fl}, g), gpu = grads_of(op, {x.cuda(), fl.cuda()}, g.cuda());
    CHECK(max_err(op({x.cuda(), fl.cuda()}).cpu(), op({x, fl})) < 1e-5);
    CHECK(max_err(gpu[0].cpu(), cpu[0]) < 1e-4);
    CHECK(max_err(gpu[1].cpu(), cpu[1]) < 1e-3);
  }
  torch::Tensor img = torch::rand({3, 45, 61});
  CHECK(max_err(ops::imresize_bicubic(img.cuda(), 15, 21, 1.0 / 3, 1.0 / 3).cpu(), ops::imresize_bicubic(img, 15, 21, 1.0 / 3, 1.0 / 3)) < 1e-6);
  // CPU and CUDA kernels agree.
  torch::Tensor f = torch::randn({2, 70, 16, 16});
  CHECK(max_err(ops::gram(f.cuda()).cpu(), ops::gram(f)) < 1e-5);
}
