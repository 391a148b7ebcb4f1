#include "tessera/recipes/generative.h"

#include "generative_common.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

#include "tessera/archs/checkpoint.h"
#include "tessera/data/generative_datasets.h"
#include "tessera/io/image_io.h"
#include "tessera/losses/adversarial.h"
#include "tessera/losses/losses.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/optim/optim.h"
#include "tessera/recipes/trained_net.h"

namespace tessera::recipes {

using torch::indexing::Slice;

// ---------------- shared pieces ----------------
FeatureNet::FeatureNet(const std::string& checkpoint, torch::Device device) : device_(device) {
  holder_ = archs::load_net_checkpoint(checkpoint, {"classifier"}, "");
  net_ = std::dynamic_pointer_cast<archs::ClassifierImpl>(holder_);
  inception_ = std::dynamic_pointer_cast<archs::InceptionV3Impl>(holder_);
  if (!net_ && !inception_)
    throw ConfigError("feature network '" + checkpoint + "' is a " + holder_->type() + ", not a classifier or inception_v3 checkpoint "
                      "(train one with configs/eval/digits_classifier.yaml, or convert InceptionV3 with scripts/convert_inception.py)");
  holder_->to(device_);
  holder_->eval();
}

torch::Tensor FeatureNet::prepare(const torch::Tensor& images) {
  torch::Tensor x = images.to(device_, torch::kFloat32);
  const int64_t channels = net_ ? net_->opt.channels : 3, size = net_ ? net_->opt.image_size : 299;
  if (x.size(1) != channels) {
    if (channels == 1) x = io::rgb_to_gray(x);
    else x = x.expand({-1, channels, -1, -1});
  }
  if (x.size(2) != size || x.size(3) != size) x = torch::upsample_bilinear2d(x, {size, size}, false);
  return inception_ ? x * 2 - 1 : x;
}

torch::Tensor FeatureNet::features(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += 64) {  // bounded memory for large sample counts
    check_stop();
    torch::Tensor x = prepare(images.narrow(0, i, std::min<int64_t>(64, images.size(0) - i)));
    out.push_back((net_ ? net_->features(x) : inception_->features(x)).to(torch::kCPU));
  }
  return torch::cat(out);
}

torch::Tensor FeatureNet::probabilities(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += 64) {
    check_stop();
    torch::Tensor x = prepare(images.narrow(0, i, std::min<int64_t>(64, images.size(0) - i)));
    out.push_back(torch::softmax(holder_->forward(x), 1).to(torch::kCPU));
  }
  return torch::cat(out);
}

torch::Tensor latent_batch(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device) {
  torch::Generator g = at::detail::createCPUGenerator(seed);
  return torch::randn({n, gen.latent_dim()}, g, torch::TensorOptions().dtype(torch::kFloat32)).to(device);
}

static torch::Tensor to_unit(archs::GeneratorImpl& gen, const torch::Tensor& x) {
  return (gen.signed_output() ? (x + 1) / 2 : x).clamp(0, 1);
}

torch::Tensor sample_images(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device, int64_t class_id) {
  torch::NoGradGuard ng;
  const bool was_training = gen.is_training();
  gen.eval();
  torch::Tensor labels;
  if (gen.num_classes() > 0)
    labels = class_id >= 0 ? torch::full({n}, class_id, torch::kInt64)
                           : torch::arange(n, torch::kInt64).remainder(gen.num_classes());
  torch::Tensor out = to_unit(gen, gen.generate(latent_batch(gen, n, seed, device), labels.defined() ? labels.to(device) : labels)).to(torch::kCPU);
  if (was_training) gen.train();
  return out;
}

torch::Tensor interpolate_images(archs::GeneratorImpl& gen, int64_t rows, int64_t steps, uint64_t seed, torch::Device device) {
  torch::NoGradGuard ng;
  const bool was_training = gen.is_training();
  gen.eval();
  torch::Tensor ends = latent_batch(gen, 2 * rows, seed, device).view({rows, 2, -1});
  torch::Tensor t = torch::linspace(0, 1, steps, torch::TensorOptions().device(device)).view({1, steps, 1});
  torch::Tensor z = (ends.select(1, 0).unsqueeze(1) * (1 - t) + ends.select(1, 1).unsqueeze(1) * t).reshape({rows * steps, -1});
  torch::Tensor labels;
  if (gen.num_classes() > 0)
    labels = torch::arange(rows, torch::kInt64).remainder(gen.num_classes()).repeat_interleave(steps).to(device);
  torch::Tensor out = to_unit(gen, gen.generate(z, labels)).to(torch::kCPU);
  if (was_training) gen.train();
  return out;
}

torch::Tensor sample_points(archs::GeneratorImpl& gen, int64_t n, uint64_t seed, torch::Device device) {
  torch::NoGradGuard ng;
  const bool was_training = gen.is_training();
  gen.eval();
  torch::Tensor out = gen.generate(latent_batch(gen, n, seed, device)).to(torch::kCPU);
  if (was_training) gen.train();
  return out;
}

torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t pad) {
  torch::Tensor x = images.to(torch::kCPU, torch::kFloat32);
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), rows = (n + nrow - 1) / nrow;
  torch::Tensor grid = torch::ones({3, rows * (h + pad) + pad, nrow * (w + pad) + pad});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / nrow, c = i % nrow;
    grid.index_put_({Slice(), Slice(pad + r * (h + pad), pad + r * (h + pad) + h), Slice(pad + c * (w + pad), pad + c * (w + pad) + w)}, x[i]);
  }
  return grid;
}

torch::Tensor scatter_image(const torch::Tensor& points, const torch::Tensor& modes, double extent) {
  const int64_t size = 256;
  torch::Tensor img = torch::ones({3, size, size});
  auto put = [&](const torch::Tensor& p, std::array<float, 3> color, int radius) {
    auto acc = p.to(torch::kCPU, torch::kFloat32).contiguous();
    const float* d = acc.data_ptr<float>();
    auto a = img.accessor<float, 3>();
    for (int64_t i = 0; i < acc.size(0); ++i) {
      const int64_t x = static_cast<int64_t>((d[2 * i] / extent + 1) / 2 * (size - 1));
      const int64_t y = static_cast<int64_t>((1 - (d[2 * i + 1] / extent + 1) / 2) * (size - 1));
      for (int64_t dy = -radius; dy <= radius; ++dy)
        for (int64_t dx = -radius; dx <= radius; ++dx)
          if (x + dx >= 0 && x + dx < size && y + dy >= 0 && y + dy < size)
            for (int ch = 0; ch < 3; ++ch) a[ch][y + dy][x + dx] = color[ch];
    }
  };
  put(points, {0.1f, 0.3f, 0.9f}, 0);
  put(modes, {0.9f, 0.1f, 0.1f}, 2);
  return img;
}

GenerativeScores score_generator(archs::GeneratorImpl& gen, FeatureNet& feat, const torch::Tensor& real, int64_t n,
                                 uint64_t seed, torch::Device device) {
  GenerativeScores s;
  torch::Tensor fake = sample_images(gen, n, seed, device);
  s.fid = metrics::frechet_distance(metrics::gaussian_fit(feat.features(real)), metrics::gaussian_fit(feat.features(fake)));
  torch::Tensor probs = feat.probabilities(fake);
  std::tie(s.is_mean, s.is_std) = metrics::inception_score(probs, 10);
  if (gen.num_classes() > 0) {
    torch::Tensor wanted = torch::arange(n, torch::kInt64).remainder(gen.num_classes());
    s.class_accuracy = (probs.argmax(1) == wanted).to(torch::kFloat64).mean().item<double>();
  }
  return s;
}

void register_generative_recipes(RecipeRegistry& r) {
  register_gan_recipes(r);
  register_autoencoder_recipes(r);
  register_classifier_recipe(r);
}

}  // namespace tessera::recipes
