// Temporal SR (archs/temporal.h, data/sequence_dataset.h, recipes/temporal_sr.h): the conventions
// checked on sequences with exact ground truth, the network's wiring, the dataset and the metrics.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "../support/support.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/archs/temporal.h"
#include "tessera/core/error.h"
#include "tessera/data/resize.h"
#include "tessera/data/sequence_dataset.h"
#include "tessera/data/video.h"
#include "tessera/io/image_io.h"
#include "tessera/io/safetensors.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/recipes/temporal_sr.h"

using namespace tessera;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> photos() { return io::list_images((test::data_dir() / "train").string()); }

data::Sequence sequence(uint64_t index, int64_t frames = 8, bool still = false) {
  data::SequenceOptions o;
  o.frames = frames;
  o.height = o.width = 96;
  if (still) o.max_translation = o.max_rotation = o.max_zoom = 0, o.max_sprites = 0;
  return data::make_sequence(photos(), o, 7, index);
}

archs::TemporalFrame frame_of(const data::Sequence& s, int64_t t) {
  return {s.lr[t].unsqueeze(0), s.motion[t].unsqueeze(0), s.jitter[t].unsqueeze(0).to(torch::kFloat32)};
}

double psnr(const torch::Tensor& a, const torch::Tensor& b) { return metrics::psnr(a.squeeze(0).clamp(0, 1), b, {true, 4}); }

}  // namespace

TEST_CASE("jitter-compensated upsampling puts each render sample where the target is", "[temporal]") {
  data::Sequence s = sequence(0);
  double with = 0, without = 0, flipped = 0;
  for (int64_t t = 0; t < s.lr.size(0); ++t) {
    auto f = frame_of(s, t);
    with += psnr(archs::unjittered_upsample(f.lr, f.jitter, 2), s.hr[t]);
    without += psnr(archs::unjittered_upsample(f.lr, torch::zeros_like(f.jitter), 2), s.hr[t]);
    flipped += psnr(archs::unjittered_upsample(f.lr, -f.jitter, 2), s.hr[t]);
  }
  INFO("mean PSNR-Y: compensated " << with / 8 << ", ignored " << without / 8 << ", sign flipped " << flipped / 8);
  CHECK(with > without + 0.3 * 8);
  CHECK(without > flipped + 0.3 * 8);
}

TEST_CASE("reprojection by the motion vectors lands the previous target on the current one", "[temporal]") {
  data::Sequence s = sequence(1);
  int64_t moving = 0, leaving = 0;
  for (int64_t t = 1; t < s.lr.size(0); ++t) {
    archs::Reprojection rp = archs::reproject(s.hr[t - 1].unsqueeze(0), s.motion[t].unsqueeze(0), 2, 48, 48);
    torch::Tensor keep = rp.valid[0] * (1 - s.disocclusion[t].repeat_interleave(2, 1).repeat_interleave(2, 2));
    keep = keep.narrow(1, 4, 88).narrow(2, 4, 88);
    auto err = [&](const torch::Tensor& x) {
      return ((x - s.hr[t]).abs().narrow(1, 4, 88).narrow(2, 4, 88) * keep).sum().item<double>() / (3 * keep.sum().item<double>());
    };
    const double warped = err(rp.warped[0]), still = err(s.hr[t - 1]);
    INFO("frame " << t << ": warped " << warped << ", not warped " << still);
    CHECK(warped < 0.005);
    if (still > 0.01) {
      ++moving;
      CHECK(warped < still / 3);
    }
    // Where the vector leaves the frame, the history is invalid; elsewhere valid.
    torch::Tensor x = torch::arange(96).view({1, 96}) + 0.5 + 2 * s.motion[t][0].repeat_interleave(2, 0).repeat_interleave(2, 1);
    torch::Tensor y = torch::arange(96).view({96, 1}) + 0.5 + 2 * s.motion[t][1].repeat_interleave(2, 0).repeat_interleave(2, 1);
    torch::Tensor out = (x < 0) | (x >= 96) | (y < 0) | (y >= 96);
    leaving += out.sum().item<int64_t>();
    CHECK(torch::equal(rp.valid[0][0] > 0.5, ~out));
  }
  CHECK(moving >= 3);
  CHECK(leaving > 0);
  CHECK(archs::reproject({}, s.motion[1].unsqueeze(0), 2, 48, 48).valid.sum().item<double>() == 0);
}

TEST_CASE("TAA accumulates the jittered samples of a still scene beyond one frame", "[temporal]") {
  data::Sequence s = sequence(2, 16, /*still=*/true);
  archs::TemporalState st;
  torch::Tensor out;
  for (int64_t t = 0; t < 16; ++t) out = archs::taa_step(frame_of(s, t), st, 2);
  const double taa = psnr(out, s.hr[15]);
  const double one = psnr(archs::unjittered_upsample(frame_of(s, 15).lr, frame_of(s, 15).jitter, 2), s.hr[15]);
  INFO("TAA after 16 frames " << taa << " dB, one frame " << one << " dB");
  CHECK(taa > one + 0.4);
}

TEST_CASE("flips and transposes of a sample keep its motion vectors and jitter true", "[temporal]") {
  data::Sequence s = sequence(3, 4);
  data::Batch b{{"lr", s.lr}, {"hr", s.hr}, {"motion", s.motion}, {"jitter", s.jitter.to(torch::kFloat32)}, {"disocclusion", s.disocclusion}};
  auto score = [](const data::Batch& x) {
    double up = 0, warp = 0;
    for (int64_t t = 0; t < 4; ++t) {
      archs::TemporalFrame f{x.at("lr")[t].unsqueeze(0), x.at("motion")[t].unsqueeze(0), x.at("jitter")[t].unsqueeze(0)};
      up += psnr(archs::unjittered_upsample(f.lr, f.jitter, 2), x.at("hr")[t]);
      if (t > 0) warp += psnr(archs::reproject(x.at("hr")[t - 1].unsqueeze(0), f.motion, 2, 48, 48).warped, x.at("hr")[t]);
    }
    return std::make_pair(up, warp);
  };
  const auto ref = score(b);
  for (int code = 1; code < 8; ++code) {
    INFO("dihedral code " << code);
    data::Batch y = data::transform_sequence(b, code);
    const auto got = score(y);
    CHECK(got.first == Approx(ref.first).margin(0.05));
    CHECK(got.second == Approx(ref.second).margin(0.05));
    if (code == 4) CHECK(torch::equal(y.at("lr"), b.at("lr").transpose(-1, -2)));
  }
}

TEST_CASE("the temporal_sr network: cost, blend at initialisation, gradients through the history", "[temporal][archs]") {
  torch::manual_seed(0);
  archs::TemporalSrOptions o;
  archs::TemporalSr net(o);
  double counted = 0;
  for (const auto& p : net->named_parameters())
    if (p.key().find("weight") != std::string::npos) counted += static_cast<double>(p.value().numel()) / 4;
  CHECK(net->macs_per_output_pixel() == Approx(counted));
  CHECK(net->macs_per_output_pixel() == Approx(10368));
  CHECK(archs::macs_per_output_pixel(*net) == Approx(10368));
  CHECK(net->task() == "temporal_upscaler");

  data::Sequence s = sequence(4, 3);
  torch::Tensor lr0 = s.lr[0].unsqueeze(0).clone().requires_grad_(true);
  archs::TemporalState st;
  net->step({lr0, s.motion[0].unsqueeze(0), s.jitter[0].unsqueeze(0).to(torch::kFloat32)}, st);
  net->step(frame_of(s, 1), st);
  torch::Tensor out = net->step(frame_of(s, 2), st);
  CHECK(out.sizes() == torch::IntArrayRef({1, 3, 96, 96}));
  out.sum().backward();
  REQUIRE(lr0.grad().defined());
  CHECK(lr0.grad().abs().sum().item<double>() > 0);  // frame 2's output depends on frame 0 through the history

  archs::TemporalSrOptions single = o;
  single.history = false;
  archs::TemporalSr sf(single);
  CHECK(sf->in_channels() == 5);
  archs::TemporalState st2;
  torch::Tensor y = sf->step(frame_of(s, 0), st2);
  // At initialisation the residual is small: the output is close to the upsampled frame.
  CHECK((y - archs::unjittered_upsample(frame_of(s, 0).lr, frame_of(s, 0).jitter, 2)).abs().mean().item<double>() < 0.05);
  CHECK_THROWS_WITH(sf->step({s.lr[0].unsqueeze(0), s.motion[0].unsqueeze(0), torch::zeros({2})}, st2), Contains("jitter must be [N, 2]"));
}

TEST_CASE("the sequence_folder dataset: windows, crops, refusals", "[temporal][data]") {
  const fs::path dir = test::temp_dir("sequence_folder");
  for (uint64_t i = 0; i < 2; ++i) {
    data::SequenceOptions o;
    o.frames = 6;
    o.height = o.width = 64;
    data::write_sequence((dir / ("seq_0000" + std::to_string(i))).string(), data::make_sequence(photos(), o, 3, i));
  }
  fs::create_directories(dir / "seq_00002.tmp");  // a folder being written is not a sequence
  data::SequenceFolderOptions so;
  so.dir = dir.string();
  so.frames = 4;
  so.patch_size = 8;
  so.hflip = so.vflip = so.rot90 = true;
  data::SequenceFolderDataset ds(so);
  CHECK(ds.size() == 6);
  CHECK(ds.ratio() == 2);
  data::Batch b = ds.get(5, 12345);
  CHECK(b.at("lr").sizes() == torch::IntArrayRef({4, 3, 8, 8}));
  CHECK(b.at("hr").sizes() == torch::IntArrayRef({4, 3, 16, 16}));
  CHECK(b.at("motion").sizes() == torch::IntArrayRef({4, 2, 8, 8}));
  CHECK(b.at("jitter").sizes() == torch::IntArrayRef({4, 2}));
  CHECK(b.at("disocclusion").sizes() == torch::IntArrayRef({4, 1, 8, 8}));
  CHECK(torch::equal(ds.get(5, 12345).at("hr"), b.at("hr")));
  so.frames = 0;
  so.patch_size = 0;
  data::SequenceFolderDataset whole(so);
  CHECK(whole.size() == 2);
  CHECK(whole.get(1, 0).at("lr").sizes() == torch::IntArrayRef({6, 3, 32, 32}));
  CHECK(data::holds_sequences(dir.string()));
  CHECK_FALSE(data::holds_sequences((test::data_dir() / "train").string()));

  so.frames = 7;
  CHECK_THROWS_WITH(data::SequenceFolderDataset(so), Contains("seq_00000") && Contains("6 frames, fewer than frames: 7"));
  so.frames = 4;
  so.patch_size = 33;
  CHECK_THROWS_WITH(data::SequenceFolderDataset(so), Contains("32x32") && Contains("patch_size 33"));
  so.patch_size = 0;
  fs::remove_all(dir / "seq_00001" / "hr");
  CHECK_THROWS_WITH(data::SequenceFolderDataset(so), Contains("seq_00001") && Contains("no hr/"));
  so.dir = (dir / "nothing").string();
  fs::create_directories(so.dir);
  CHECK_THROWS_WITH(data::SequenceFolderDataset(so), Contains("holds no sequence folders"));
}

TEST_CASE("sequence metrics: the targets score perfect, flicker is measured", "[temporal][metrics]") {
  const fs::path dir = test::temp_dir("sequence_metrics");
  data::SequenceOptions o;
  o.frames = 8;
  o.height = o.width = 64;
  data::Sequence s = data::make_sequence(photos(), o, 5, 0);
  data::write_sequence((dir / "seq_00000").string(), s);
  data::SequenceFolderOptions so;
  so.dir = dir.string();
  so.frames = 0;
  data::SequenceFolderDataset ds(so);
  torch::Tensor hr = ds.get(0, 0).at("hr");
  auto replay = [&](double flicker) {
    auto t = std::make_shared<int64_t>(0);
    return [hr, t, flicker](const archs::TemporalFrame&, archs::TemporalState&) {
      const int64_t i = (*t)++;
      return (hr[i] + ((i % 2) ? flicker : -flicker)).unsqueeze(0);
    };
  };
  recipes::SequenceEvalOptions eo;
  auto perfect = recipes::evaluate_sequences(replay(0), ds, eo, torch::kCPU);
  CHECK(perfect.frames_scored == 4);
  // (8-bit quantisation of a decoded 8-bit frame may differ from it in the last float bit.)
  CHECK(perfect.metrics.at("psnr_y") > 100);
  CHECK(std::abs(perfect.metrics.at("warp_error")) < 1e-9);
  CHECK(perfect.metrics.at("warp_error_gt") > 0);
  CHECK(perfect.metrics.at("tpsnr") > 100);
  CHECK(perfect.metrics.at("tof") == 0);
  CHECK(perfect.psnr_per_frame.size() == 8);
  auto flicker = recipes::evaluate_sequences(replay(4.0 / 255), ds, eo, torch::kCPU);
  CHECK(flicker.metrics.at("warp_error") > 1e-4);
  // Frame differences are off by 8/255 everywhere (less where clamped): tPSNR near 20 log10(255 / 8) = 30 dB.
  CHECK(flicker.metrics.at("tpsnr") == Approx(30.07).margin(1.0));
  CHECK(flicker.metrics.at("psnr_rgb") == Approx(20 * std::log10(255.0 / 4)).margin(1.0));
  eo.warmup = 8;
  CHECK_THROWS_WITH(recipes::evaluate_sequences(replay(0), ds, eo, torch::kCPU), Contains("no frame was scored"));
}

TEST_CASE("video input: frames decoded, motion estimated with the FSR 2 sign, video written", "[temporal][video]") {
  const fs::path dir = test::temp_dir("video_input");
  data::SequenceOptions o;
  o.frames = 8;
  o.height = o.width = 192;
  o.jitter = "none";
  o.max_sprites = 0;
  data::Sequence s = data::make_sequence(photos(), o, 9, 0);
  const std::string avi = (dir / "clip.avi").string();
  {
    data::VideoWriter w(avi, 24.0, 96, 96);
    for (int64_t t = 0; t < 8; ++t) w.write(s.lr[t]);
    w.close();
  }
  data::VideoFrames v(avi);
  CHECK(v.fps() == Approx(24.0));
  torch::Tensor rgb, motion;
  int64_t t = 0;
  double est = 0, none = 0;
  while (v.next(rgb, motion)) {
    REQUIRE(t < 8);
    CHECK(rgb.sizes() == torch::IntArrayRef({3, 96, 96}));
    CHECK(motion.sizes() == torch::IntArrayRef({2, 96, 96}));
    if (t == 0) CHECK(motion.abs().sum().item<double>() == 0);
    // MJPEG is lossy, but close to the frames written.
    CHECK((rgb - s.lr[t]).abs().mean().item<double>() < 0.03);
    if (t > 0) {
      const auto inner = torch::indexing::Slice(8, 88);
      auto exact = s.motion[t].index({torch::indexing::Slice(), inner, inner});
      est += (motion.index({torch::indexing::Slice(), inner, inner}) - exact).norm(2, 0).mean().item<double>();
      none += exact.norm(2, 0).mean().item<double>();
    }
    ++t;
  }
  CHECK(t == 8);
  INFO("mean end-point error of the estimated motion " << est / 7 << " px; of no motion " << none / 7 << " px");
  CHECK(est < 0.35 * none);

  // `tessera apply` on the video: to a video file and to a folder of frames.
  archs::TemporalSr net(archs::TemporalSrOptions{});
  const std::string weights = (dir / "temporal.safetensors").string();
  io::save_safetensors(weights, archs::net_weights(*net));
  auto r = test::run_cli({"apply", "--checkpoint", weights, avi, (dir / "up.avi").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("estimated by OpenCV optical flow") && Contains("8 frames 96x96"));
  data::VideoFrames up((dir / "up.avi").string());
  int64_t n = 0;
  while (up.next(rgb, motion)) {
    CHECK(rgb.sizes() == torch::IntArrayRef({3, 192, 192}));
    ++n;
  }
  CHECK(n == 8);
  r = test::run_cli({"apply", "--checkpoint", weights, avi, (dir / "frames").string(), "--flow", "farneback"});
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(dir / "frames" / "00007.png"));
  CHECK(io::read_image((dir / "frames" / "00007.png").string()).rgb.size(2) == 192);
  r = test::run_cli({"apply", "--checkpoint", weights, avi, (dir / "x.png").string()});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("a video becomes a video file"));
  CHECK_THROWS_WITH(data::VideoFrames((dir / "missing.avi").string()), Contains("missing.avi") && Contains("does not exist"));
  std::ofstream(dir / "junk.avi") << "not a video";
  auto read_junk = [&] {
    data::VideoFrames j((dir / "junk.avi").string());
    torch::Tensor a, b;
    j.next(a, b);
  };
  CHECK_THROWS_WITH(read_junk(), Contains("junk.avi"));
}
