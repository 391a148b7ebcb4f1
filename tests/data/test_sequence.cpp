#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "../support/support.h"
#include "tessera/core/error.h"
#include "tessera/data/sequence.h"
#include "tessera/io/files.h"
#include "tessera/io/flow.h"
#include "tessera/io/image_io.h"

using namespace tessera;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

static std::vector<std::string> photos() { return io::list_images((test::data_dir() / "train").string()); }

TEST_CASE("FSR 2 jitter: Halton (2, 3) from index 1, int(8 ratio^2) phases, never (0, 0)", "[data][sequence]") {
  CHECK(data::halton(1, 2) == 0.5);
  CHECK(data::halton(2, 2) == 0.25);
  CHECK(data::halton(3, 2) == 0.75);
  CHECK(data::halton(1, 3) == Approx(1.0 / 3));
  CHECK(data::halton(4, 3) == Approx(1.0 / 3 + 1.0 / 9));
  CHECK(data::jitter_phases(2.0) == 32);
  CHECK(data::jitter_phases(1.5) == 18);
  CHECK(data::jitter_phases(3.0) == 72);
  auto [x0, y0] = data::halton_jitter(0, 2.0);
  CHECK(x0 == 0.0);
  CHECK(y0 == Approx(1.0 / 3 - 0.5));
  for (int64_t i = 0; i < 32; ++i) {
    auto [x, y] = data::halton_jitter(i, 2.0);
    CHECK((x != 0.0 || y != 0.0));
    CHECK(std::abs(x) < 0.5);
    CHECK(std::abs(y) < 0.5);
    CHECK(data::halton_jitter(i + 32, 2.0) == std::make_pair(x, y));
  }
}

TEST_CASE("synthetic sequences: deterministic, area- and point-sampled frames agree with the target", "[data][sequence]") {
  data::SequenceOptions o;
  o.frames = 4;
  o.height = o.width = 48;
  o.jitter = "none";
  o.mode = "camera";
  auto a = data::make_sequence(photos(), o, 7, 3);
  auto b = data::make_sequence(photos(), o, 7, 3);
  auto c = data::make_sequence(photos(), o, 7, 4);
  REQUIRE(torch::equal(a.hr, b.hr));
  REQUIRE(torch::equal(a.lr, b.lr));
  REQUIRE(torch::equal(a.motion, b.motion));
  REQUIRE_FALSE(torch::equal(a.hr, c.hr));
  REQUIRE(a.lr.sizes() == torch::IntArrayRef({4, 3, 24, 24}));
  REQUIRE(a.motion.sizes() == torch::IntArrayRef({4, 2, 24, 24}));
  // Camera mode without jitter: each low-res pixel is the mean of its 2x2 high-res pixels.
  REQUIRE(torch::allclose(a.lr, torch::avg_pool2d(a.hr, 2), 0, 1e-5));
  // Render mode without jitter at 3x: the low-res pixel centre is a high-res pixel centre.
  o.mode = "render";
  o.ratio = 3;
  auto r = data::make_sequence(photos(), o, 7, 3);
  REQUIRE(torch::allclose(r.lr, r.hr.slice(2, 1, c10::nullopt, 3).slice(3, 1, c10::nullopt, 3), 0, 1e-6));
  // Frame 0 has no history; later frames mostly do, and their motion stays within the limits.
  REQUIRE(r.disocclusion[0].min().item<float>() == 1.0f);
  REQUIRE(r.disocclusion.slice(0, 1).mean().item<double>() < 0.5);
  REQUIRE(r.motion.abs().max().item<double>() < 3.0 * 8 / 3);
}

TEST_CASE("motion vectors point each pixel at the same surface in the previous frame", "[data][sequence]") {
  data::SequenceOptions o;
  o.frames = 5;
  o.height = o.width = 60;
  o.ratio = 3;
  o.mode = "render";
  o.jitter = "none";
  int checked = 0, moving = 0;
  for (uint64_t index : {0, 1, 2}) {
    auto s = data::make_sequence(photos(), o, 11, index);
    for (int64_t t = 1; t < o.frames; ++t) {
      // The target at each low-res centre (high-res pixel 3i+1) against the previous target
      // sampled where the motion vector points.
      auto now = s.hr[t].slice(1, 1, c10::nullopt, 3).slice(2, 1, c10::nullopt, 3);
      auto ys = torch::arange(20, torch::kFloat32).view({20, 1}).expand({20, 20}) * 3 + 1.5;
      auto xs = torch::arange(20, torch::kFloat32).view({1, 20}).expand({20, 20}) * 3 + 1.5;
      auto warp = [&](double sign) {
        auto px = xs + sign * 3 * s.motion[t][0], py = ys + sign * 3 * s.motion[t][1];
        auto grid = torch::stack({px * (2.0 / 60) - 1, py * (2.0 / 60) - 1}, -1).unsqueeze(0);
        return torch::nn::functional::grid_sample(s.hr[t - 1].unsqueeze(0), grid,
                                                  torch::nn::functional::GridSampleFuncOptions().mode(torch::kBicubic).align_corners(false))[0];
      };
      auto valid = (s.disocclusion[t][0] < 0.5);
      if (valid.sum().item<int64_t>() < 50) continue;
      auto err = [&](const torch::Tensor& x) { return (x - now).abs().mean(0).masked_select(valid).mean().item<double>(); };
      const double right = err(warp(1)), reversed = err(warp(-1)), still = err(s.hr[t - 1].slice(1, 1, c10::nullopt, 3).slice(2, 1, c10::nullopt, 3));
      INFO("index " << index << " frame " << t << ": error " << right << ", reversed " << reversed << ", no motion " << still);
      CHECK(right < 0.02);
      ++checked;
      if (s.motion[t].abs().max().item<double>() > 0.5) {
        CHECK(right < 0.5 * reversed);
        CHECK(right < 0.5 * still);
        ++moving;
      }
    }
  }
  // The checks above ran on most frames, moving ones among them.
  REQUIRE(checked >= 8);
  REQUIRE(moving >= 4);
}

TEST_CASE("sequence folders round trip, and missing or inconsistent files name the file", "[data][sequence]") {
  data::SequenceOptions o;
  o.frames = 3;
  o.height = o.width = 32;
  auto s = data::make_sequence(photos(), o, 1, 0);
  auto dir = test::temp_dir("sequence_io");
  const std::string seq = (dir / "seq_00000").string();
  data::write_sequence(seq, s, "seed: 1\n");
  REQUIRE_THROWS_WITH(data::write_sequence(seq, s), Contains("already exists"));
  auto back = data::read_sequence(seq);
  REQUIRE(torch::allclose(back.lr, io::quantize(s.lr), 0, 1e-6));
  REQUIRE(torch::allclose(back.hr, io::quantize(s.hr), 0, 1e-6));
  REQUIRE(torch::equal(back.motion, s.motion));
  REQUIRE(torch::equal(back.disocclusion, s.disocclusion));
  REQUIRE(torch::allclose(back.jitter, s.jitter));
  REQUIRE(back.sources == s.sources);
  fs::remove(fs::path(seq) / "motion" / "00002.flo");
  REQUIRE_THROWS_WITH(data::read_sequence(seq), Contains("frame 2 is missing") && Contains("00002.flo"));
  io::write_flo((fs::path(seq) / "motion" / "00002.flo").string(), torch::zeros({2, 5, 5}));
  REQUIRE_THROWS_WITH(data::read_sequence(seq), Contains("00002.flo is 5x5") && Contains("16x16"));
  fs::remove_all(fs::path(seq) / "hr");  // a renderer's sequence without targets reads too
  io::write_flo((fs::path(seq) / "motion" / "00002.flo").string(), s.motion[2]);
  REQUIRE_FALSE(data::read_sequence(seq).hr.defined());
  const std::string meta = io::read_file(fs::path(seq) / "sequence.yaml");
  std::string no_ratio = meta;
  no_ratio.erase(no_ratio.find("ratio:"), no_ratio.find('\n', no_ratio.find("ratio:")) - no_ratio.find("ratio:") + 1);
  io::write_file_atomic(fs::path(seq) / "sequence.yaml", no_ratio);
  REQUIRE_THROWS_WITH(data::read_sequence(seq), Contains("sequence.yaml") && Contains("ratio"));
  io::write_file_atomic(fs::path(seq) / "sequence.yaml", meta);
  std::ofstream(fs::path(seq) / "sequence.yaml", std::ios::app) << "jiter: 1\n";
  REQUIRE_THROWS_WITH(data::read_sequence(seq), Contains("sequence.yaml") && Contains("jiter"));
  REQUIRE_THROWS_WITH(data::read_sequence((dir / "nope").string()), Contains("does not exist"));
}

TEST_CASE(".flo motion files: the Middlebury layout, refusals named", "[io][flow]") {
  auto uv = torch::randn({2, 3, 4});
  auto dir = test::temp_dir("flo");
  const std::string p = (dir / "a.flo").string();
  io::write_flo(p, uv);
  const std::string bytes = io::read_file(p);
  REQUIRE(bytes.size() == 12 + 8 * 12);
  float tag;
  int32_t w, h;
  std::memcpy(&tag, bytes.data(), 4);
  std::memcpy(&w, bytes.data() + 4, 4);
  std::memcpy(&h, bytes.data() + 8, 4);
  CHECK(tag == 202021.25f);
  CHECK(w == 4);
  CHECK(h == 3);
  float u01, v01;  // row 0, column 1: interleaved (u, v)
  std::memcpy(&u01, bytes.data() + 12 + 8, 4);
  std::memcpy(&v01, bytes.data() + 12 + 12, 4);
  CHECK(u01 == uv[0][0][1].item<float>());
  CHECK(v01 == uv[1][0][1].item<float>());
  REQUIRE(torch::equal(io::read_flo(p), uv));
  REQUIRE_THROWS_WITH(io::parse_flo(bytes.substr(0, 8), "x.flo"), Contains("x.flo") && Contains("too short"));
  REQUIRE_THROWS_WITH(io::parse_flo(bytes.substr(0, bytes.size() - 4), "x.flo"), Contains("holds 104 bytes"));
  REQUIRE_THROWS_WITH(io::parse_flo("PNG!" + bytes.substr(4), "x.flo"), Contains("not a .flo file"));
  std::string big = bytes;
  const int32_t huge = 1 << 20;
  std::memcpy(big.data() + 4, &huge, 4);
  REQUIRE_THROWS_WITH(io::parse_flo(big, "x.flo"), Contains("1048576x3"));
  std::string nan = bytes;
  const float q = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.data() + 20, &q, 4);
  REQUIRE_THROWS_WITH(io::parse_flo(nan, "x.flo"), Contains("non-finite"));
  REQUIRE_THROWS_WITH(io::read_flo((dir / "none.flo").string()), Contains("does not exist"));
}
