#include <catch2/catch.hpp>

#include <fstream>

#include "../support/support.h"
#include "tessera/core/error.h"
#include "tessera/data/resize.h"
#include "tessera/data/sr_dataset.h"
#include "tessera/io/image_io.h"

using namespace tessera;
using Catch::Matchers::Contains;

TEST_CASE("bicubic resize weights: rows sum to one, antialiased kernel widens when shrinking", "[data][resize]") {
  auto w = data::resize_weights(40, 20, 0.5, true);
  REQUIRE(torch::allclose(w.sum(1), torch::ones({20}, torch::kFloat64)));
  // The x1/2 antialiased kernel reaches 4 input pixels each side; plain bicubic only 2.
  REQUIRE((w[10] != 0).sum().item<int64_t>() == 8);
  auto up = data::resize_weights(10, 20, 2.0, false);
  REQUIRE((up[10] != 0).sum().item<int64_t>() == 4);
  REQUIRE(torch::allclose(up.sum(1), torch::ones({20}, torch::kFloat64)));
}

TEST_CASE("bicubic resize keeps constants and sizes", "[data][resize]") {
  auto img = torch::full({3, 31, 20}, 0.25);
  auto d = data::imresize_bicubic(img, 1.0 / 3);
  REQUIRE(d.sizes() == torch::IntArrayRef({3, 11, 7}));
  REQUIRE(torch::allclose(d, torch::full_like(d, 0.25), 0, 1e-6));
  auto u = data::imresize_bicubic(img, 2.0, false);
  REQUIRE(u.sizes() == torch::IntArrayRef({3, 62, 40}));
  REQUIRE(data::mod_crop(torch::zeros({3, 31, 20}), 4).sizes() == torch::IntArrayRef({3, 28, 20}));
}

static std::shared_ptr<data::SrFolderDataset> train_set(int64_t repeat = 4) {
  data::SrFolderOptions o;
  o.hr_dir = (test::data_dir() / "train").string();
  o.scale = 2;
  o.patch_size = 16;
  o.hflip = o.vflip = o.rot90 = true;
  o.repeat = repeat;
  return std::make_shared<data::SrFolderDataset>(o);
}

TEST_CASE("SR patches are aligned: the LR patch is the bicubic LR image cropped at the same place", "[data]") {
  auto ds = train_set();
  auto s = ds->get(3, 12345);
  REQUIRE(s.at("lq").sizes() == torch::IntArrayRef({3, 16, 16}));
  REQUIRE(s.at("gt").sizes() == torch::IntArrayRef({3, 32, 32}));
  // Downscaling the HR patch again must be close to the LR patch away from its borders.
  auto re = io::quantize(data::imresize_bicubic(s.at("gt"), 0.5));
  using torch::indexing::Slice;
  auto inner = [](const torch::Tensor& t) { return t.index({Slice(), Slice(3, 13), Slice(3, 13)}); };
  REQUIRE((inner(re) - inner(s.at("lq"))).abs().max().item<float>() < 0.02f);
}

TEST_CASE("degrade: device gives HR patches that the recipe degrades as the loader would, away from the patch border", "[data]") {
  auto loader_side = train_set();
  data::SrFolderOptions o;
  o.hr_dir = (test::data_dir() / "train").string();
  o.scale = 2;
  o.patch_size = 16;
  o.hflip = o.vflip = o.rot90 = true;
  o.repeat = 4;
  o.degrade = "device";
  auto device_side = std::make_shared<data::SrFolderDataset>(o);
  REQUIRE(device_side->degrades_on_device());
  std::vector<data::Batch> a, b;
  for (size_t i = 0; i < 6; ++i) {
    const uint64_t seed = 0x9e3779b97f4a7c15ull * (i + 1);
    a.push_back(loader_side->get(i, seed));
    b.push_back(device_side->get(i, seed));
    REQUIRE_FALSE(b.back().count("lq"));  // the loader made no LR
    REQUIRE(torch::equal(a.back().at("gt"), b.back().at("gt")));  // the same crops and flips
  }
  const data::Batch la = data::collate(a), lb = data::collate(b);
  REQUIRE(lb.at("levels").sizes() == torch::IntArrayRef({6}));
  CHECK(torch::equal(data::sr_input(la, 2, torch::kCPU), la.at("lq")));  // an "lq" is passed through
  const torch::Tensor lq = data::sr_input(lb, 2, torch::kCPU);
  REQUIRE(lq.sizes() == torch::IntArrayRef({6, 3, 16, 16}));
  // On 8-bit levels, like the loader's LR.
  CHECK(torch::equal(lq, (lq * 255).round() / 255));
  // Each patch's LR is the whole image's LR where the bicubic taps (2 LR pixels each side at 1/2)
  // stay inside the patch; at its border the patch has no neighbours and MATLAB's symmetric
  // padding stands in for them.
  using torch::indexing::Slice;
  const auto inner = [](const torch::Tensor& t) { return t.index({Slice(), Slice(), Slice(2, 14), Slice(2, 14)}); };
  CHECK(torch::equal(inner(lq), inner(la.at("lq"))));
  CHECK_FALSE(torch::equal(lq, la.at("lq")));
  // Refusals name the key.
  for (const char* bad : {"{type: sr_folder, hr_dir: x, patch_size: 16, degrade: device, lr_dir: y}",
                          "{type: sr_folder, hr_dir: x, degrade: device}", "{type: sr_folder, hr_dir: x, degrade: gpu}"}) {
    INFO(bad);
    REQUIRE_THROWS_WITH(data::build_dataset(Cfg(YAML::Load(bad), "data.train", "t.yaml")), Contains("degrade"));
  }
}

TEST_CASE("the loader gives the same batches whatever the number of workers, in order or not", "[data][loader]") {
  auto ds = train_set();
  data::LoaderOptions o;
  o.batch_size = 4;
  o.seed = 7;
  o.num_workers = 0;
  data::Loader serial(ds, o);
  o.num_workers = 2;
  data::Loader threaded(ds, o);
  for (int64_t step : {0, 1, 2, 13, 14, 3}) {
    auto a = serial.batch(step), b = threaded.batch(step);
    REQUIRE(torch::equal(a.at("lq"), b.at("lq")));
    REQUIRE(torch::equal(a.at("gt"), b.at("gt")));
  }
  // Different epochs are shuffled differently.
  const int64_t e = serial.batches_per_epoch();
  REQUIRE_FALSE(torch::equal(serial.batch(0).at("gt"), serial.batch(e).at("gt")));
}

TEST_CASE("bad images: an error naming the file, or skipped and counted with skip_bad", "[data]") {
  auto dir = test::temp_dir("bad_images");
  std::filesystem::copy_file(test::data_dir() / "val" / "chelsea.png", dir / "good.png");
  std::ofstream(dir / "corrupt.png") << "garbage";
  data::SrFolderOptions o;
  o.hr_dir = dir.string();
  REQUIRE_THROWS_WITH(data::SrFolderDataset(o), Contains("corrupt.png"));
  o.skip_bad = true;
  data::SrFolderDataset ds(o);
  REQUIRE(ds.skipped() == 1);
  REQUIRE(ds.size() == 1);
}
