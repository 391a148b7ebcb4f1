#include "tessera/data/sequence.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include "tessera/core/config.h"
#include "tessera/core/error.h"
#include "tessera/core/runtime.h"
#include "tessera/io/files.h"
#include "tessera/io/flow.h"
#include "tessera/io/image_io.h"

namespace tessera::data {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

double halton(int64_t index, int base) {
  double f = 1.0, r = 0.0;
  for (int64_t i = index; i > 0; i /= base) {
    f /= base;
    r += f * static_cast<double>(i % base);
  }
  return r;
}

int64_t jitter_phases(double ratio) { return static_cast<int64_t>(8.0 * ratio * ratio); }

std::pair<double, double> halton_jitter(int64_t index, double ratio) {
  const int64_t n = std::max<int64_t>(1, jitter_phases(ratio));
  const int64_t k = ((index % n) + n) % n + 1;
  return {halton(k, 2) - 0.5, halton(k, 3) - 0.5};
}

void SequenceOptions::validate() const {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError(msg);
  };
  need(frames >= 2 && frames <= 10000, "frames must be 2..10000, got " + std::to_string(frames));
  need(ratio >= 1 && ratio <= 8, "ratio must be 1..8, got " + std::to_string(ratio));
  need(height >= 8 * ratio && width >= 8 * ratio && height <= 4096 && width <= 4096,
       "the frame size " + std::to_string(width) + "x" + std::to_string(height) + " must be 8*ratio..4096 on each side");
  need(height % ratio == 0 && width % ratio == 0,
       "the frame size " + std::to_string(width) + "x" + std::to_string(height) + " must be a multiple of the ratio " + std::to_string(ratio));
  need(mode == "render" || mode == "camera", "mode must be render or camera, got '" + mode + "'");
  need(jitter == "halton" || jitter == "none", "jitter must be halton or none, got '" + jitter + "'");
  need(max_sprites >= 0 && max_sprites <= 8, "sprites must be 0..8, got " + std::to_string(max_sprites));
  need(max_translation >= 0 && max_translation <= 64, "max translation must be 0..64 pixels per frame");
  need(max_rotation >= 0 && max_rotation <= 10, "max rotation must be 0..10 degrees per frame");
  need(max_zoom >= 0 && max_zoom <= 0.1, "max zoom must be 0..0.1 per frame");
}

namespace {

constexpr double kPi = 3.14159265358979323846;

// splitmix64: portable, so a sequence is the same wherever it is made.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
};

// A smooth random velocity: each frame moves 20% of the way to a fresh random target, so it
// changes gradually and never exceeds `limit`.
struct Wander {
  double v, limit;
  double step(Rng& rng) {
    v = 0.8 * v + 0.2 * rng.uniform(-limit, limit);
    return v;
  }
};

// A layer maps frame coordinates P (high-res pixels, pixel centres at +0.5) to its photo's pixel
// coordinates: src = A P + b per frame. Sprites cover an ellipse (half-axes ax, ay) around their
// patch centre (cx, cy) in the photo; the background covers everything.
struct Layer {
  torch::Tensor image;  // [1,3,H,W]
  double cx = 0, cy = 0, ax = 0, ay = 0;
  bool sprite = false;
  std::vector<std::array<double, 6>> affine;  // per frame: a00 a01 a10 a11 b0 b1
};

struct Scene {
  std::vector<Layer> layers;  // background first, then sprites front to back
  int64_t height = 0, width = 0;
};

std::array<double, 6> rotation_about(double px, double py, double angle, double scale, double cx, double cy) {
  // src = c + scale R(angle) (P - p)
  const double c = std::cos(angle) * scale, s = std::sin(angle) * scale;
  return {c, -s, s, c, cx - (c * px - s * py), cy - (s * px + c * py)};
}

torch::Tensor apply_affine(const std::array<double, 6>& m, const torch::Tensor& p) {
  auto x = p.select(1, 0), y = p.select(1, 1);
  return torch::stack({m[0] * x + m[1] * y + m[4], m[2] * x + m[3] * y + m[5]}, 1);
}

torch::Tensor invert_affine(const std::array<double, 6>& m, const torch::Tensor& src) {
  const double det = m[0] * m[3] - m[1] * m[2];
  auto x = src.select(1, 0) - m[4], y = src.select(1, 1) - m[5];
  return torch::stack({(m[3] * x - m[1] * y) / det, (-m[2] * x + m[0] * y) / det}, 1);
}

// Which layer is on top at each point of frame t ([N,2] float64) and, when wanted, its colour.
struct Hit {
  torch::Tensor layer;  // int64 [N]
  torch::Tensor color;  // float32 [N,3]
};

torch::Tensor covers(const Layer& l, const torch::Tensor& src) {
  auto u = (src.select(1, 0) - l.cx) / l.ax, v = (src.select(1, 1) - l.cy) / l.ay;
  return (u * u + v * v) <= 1.0;
}

Hit sample_scene(const Scene& scene, int64_t t, const torch::Tensor& points, bool with_color) {
  const int64_t n = points.size(0);
  Hit hit{torch::zeros({n}, torch::kLong), {}};
  std::vector<torch::Tensor> srcs;
  for (size_t i = 0; i < scene.layers.size(); ++i) {
    const Layer& l = scene.layers[i];
    srcs.push_back(apply_affine(l.affine[t], points));
    if (l.sprite) hit.layer.masked_fill_(covers(l, srcs.back()), static_cast<int64_t>(i));
  }
  if (!with_color) return hit;
  hit.color = torch::zeros({n, 3}, torch::kFloat32);
  for (size_t i = 0; i < scene.layers.size(); ++i) {
    auto sel = (hit.layer == static_cast<int64_t>(i)).nonzero().squeeze(1);
    if (sel.numel() == 0) continue;
    const Layer& l = scene.layers[i];
    auto src = srcs[i].index_select(0, sel);
    // align_corners=false: -1 and 1 are the outer edges of the first and last pixels.
    auto grid = torch::stack({src.select(1, 0) * (2.0 / l.image.size(3)) - 1.0, src.select(1, 1) * (2.0 / l.image.size(2)) - 1.0}, 1)
                    .to(torch::kFloat32)
                    .view({1, 1, -1, 2});
    auto c = F::grid_sample(l.image, grid, F::GridSampleFuncOptions().mode(torch::kBicubic).padding_mode(torch::kBorder).align_corners(false));
    hit.color.index_copy_(0, sel, c.view({3, -1}).t().clamp(0.0, 1.0));
  }
  return hit;
}

// Points (x, y) of an h x w grid with spacing `step`, starting at (x0, y0); [h*w, 2] float64.
torch::Tensor grid_points(int64_t h, int64_t w, double step, double x0, double y0) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto ys = torch::arange(h, opts) * step + y0, xs = torch::arange(w, opts) * step + x0;
  auto g = torch::meshgrid({ys, xs}, "ij");
  return torch::stack({g[1].reshape(-1), g[0].reshape(-1)}, 1);
}

torch::Tensor to_image(const torch::Tensor& color, int64_t h, int64_t w) { return color.t().reshape({3, h, w}).contiguous(); }

Scene build_scene(const std::vector<std::string>& photos, const SequenceOptions& o, Rng& rng, std::vector<std::string>& sources) {
  Scene scene;
  scene.height = o.height;
  scene.width = o.width;
  const double W = static_cast<double>(o.width), H = static_cast<double>(o.height);
  const double max_angle = 15.0 * kPi / 180.0, min_scale = 0.9, max_scale = 1.1;
  // The view's half extents in the photo at the largest scale and angle it may reach.
  const double ex = max_scale * (std::cos(max_angle) * W / 2 + std::sin(max_angle) * H / 2);
  const double ey = max_scale * (std::sin(max_angle) * W / 2 + std::cos(max_angle) * H / 2);
  std::vector<size_t> large;
  std::vector<io::Image> images(photos.size());
  const size_t first = static_cast<size_t>(rng.below(static_cast<int64_t>(photos.size())));
  // The background: the first photo, from a random start, that holds the moving view.
  size_t bg = photos.size();
  for (size_t k = 0; k < photos.size() && bg == photos.size(); ++k) {
    const size_t i = (first + k) % photos.size();
    images[i] = io::read_image(photos[i]);
    if (images[i].rgb.size(2) >= 2 * ex + 4 && images[i].rgb.size(1) >= 2 * ey + 4) bg = i;
  }
  if (bg == photos.size())
    throw ConfigError("no photo is large enough for " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                      " frames: the moving view needs at least " + std::to_string(static_cast<int>(std::ceil(2 * ex + 4))) + "x" +
                      std::to_string(static_cast<int>(std::ceil(2 * ey + 4))) + " pixels (e.g. '" + photos[first] + "' is " +
                      std::to_string(images[first].rgb.size(2)) + "x" + std::to_string(images[first].rgb.size(1)) + ")");
  sources.push_back(photos[bg]);

  Layer back;
  back.image = images[bg].rgb.unsqueeze(0);
  const double Wp = static_cast<double>(images[bg].rgb.size(2)), Hp = static_cast<double>(images[bg].rgb.size(1));
  double cx = rng.uniform(ex, Wp - ex), cy = rng.uniform(ey, Hp - ey), angle = rng.uniform(-0.5, 0.5) * max_angle, scale = 1.0;
  Wander vx{rng.uniform(-1, 1) * o.max_translation, o.max_translation}, vy{rng.uniform(-1, 1) * o.max_translation, o.max_translation};
  const double max_rot = o.max_rotation * kPi / 180.0;
  Wander va{rng.uniform(-1, 1) * max_rot, max_rot}, vs{rng.uniform(-1, 1) * o.max_zoom, o.max_zoom};
  for (int64_t t = 0; t < o.frames; ++t) {
    if (t > 0) {
      // Moves in frame pixels; bounces off the limits that keep the view inside the photo.
      const double dx = vx.step(rng), dy = vy.step(rng), da = va.step(rng), ds = vs.step(rng);
      cx += scale * dx;
      cy += scale * dy;
      angle += da;
      scale *= 1.0 + ds;
      if (cx < ex || cx > Wp - ex) vx.v = -vx.v, cx = std::clamp(cx, ex, Wp - ex);
      if (cy < ey || cy > Hp - ey) vy.v = -vy.v, cy = std::clamp(cy, ey, Hp - ey);
      if (std::abs(angle) > max_angle) va.v = -va.v, angle = std::clamp(angle, -max_angle, max_angle);
      if (scale < min_scale || scale > max_scale) vs.v = -vs.v, scale = std::clamp(scale, min_scale, max_scale);
    }
    back.affine.push_back(rotation_about(W / 2, H / 2, angle, scale, cx, cy));
  }
  scene.layers.push_back(back);

  // Sprites: elliptical patches of the other photos, each on its own path over the frame.
  const int64_t sprites = o.max_sprites > 0 ? rng.below(o.max_sprites + 1) : 0;
  for (int64_t s = 0; s < sprites; ++s) {
    size_t pi = photos.size() > 1 ? static_cast<size_t>(rng.below(static_cast<int64_t>(photos.size()) - 1)) : 0;
    if (photos.size() > 1 && pi >= bg) ++pi;
    if (!images[pi].rgb.defined()) images[pi] = io::read_image(photos[pi]);
    Layer l;
    l.sprite = true;
    l.image = images[pi].rgb.unsqueeze(0);
    const double side = std::min(W, H);
    l.ax = rng.uniform(0.08, 0.2) * side;
    l.ay = rng.uniform(0.08, 0.2) * side;
    const double r = std::max(l.ax, l.ay) + 2;
    const double sw = static_cast<double>(images[pi].rgb.size(2)), sh = static_cast<double>(images[pi].rgb.size(1));
    if (sw < 2 * r || sh < 2 * r)
      throw ConfigError("photo '" + photos[pi] + "' (" + std::to_string(static_cast<int>(sw)) + "x" + std::to_string(static_cast<int>(sh)) +
                        ") is too small to cut a sprite of " + std::to_string(static_cast<int>(2 * r)) + " pixels from");
    l.cx = rng.uniform(r, sw - r);
    l.cy = rng.uniform(r, sh - r);
    double px = rng.uniform(0, W), py = rng.uniform(0, H), a = rng.uniform(-kPi, kPi);
    Wander sx{rng.uniform(-1, 1) * o.max_translation, o.max_translation}, sy{rng.uniform(-1, 1) * o.max_translation, o.max_translation};
    Wander sa{rng.uniform(-1, 1) * 2 * max_rot, 2 * max_rot};
    for (int64_t t = 0; t < o.frames; ++t) {
      if (t > 0) {
        px += sx.step(rng);
        py += sy.step(rng);
        a += sa.step(rng);
        if (px < 0 || px > W) sx.v = -sx.v, px = std::clamp(px, 0.0, W);
        if (py < 0 || py > H) sy.v = -sy.v, py = std::clamp(py, 0.0, H);
      }
      // src = c + R(-a) (P - p): the patch turns by a on screen.
      l.affine.push_back(rotation_about(px, py, -a, 1.0, l.cx, l.cy));
    }
    scene.layers.push_back(l);
    sources.push_back(photos[pi]);
  }
  return scene;
}

}  // namespace

Sequence make_sequence(const std::vector<std::string>& photos, const SequenceOptions& o, uint64_t seed, uint64_t index) {
  o.validate();
  if (photos.empty()) throw ConfigError("no photos to make sequences from");
  torch::NoGradGuard no_grad;
  Rng rng{mix_seed(seed, index, 0x5E9)};
  Sequence seq;
  seq.ratio = o.ratio;
  seq.mode = o.mode;
  Scene scene = build_scene(photos, o, rng, seq.sources);
  const int64_t T = o.frames, H = o.height, W = o.width, r = o.ratio, h = H / r, w = W / r;
  const double rd = static_cast<double>(r);
  const int64_t phase0 = rng.below(std::max<int64_t>(1, jitter_phases(rd)));
  seq.hr = torch::empty({T, 3, H, W});
  seq.lr = torch::empty({T, 3, h, w});
  seq.motion = torch::zeros({T, 2, h, w});
  seq.disocclusion = torch::ones({T, 1, h, w});
  seq.jitter = torch::zeros({T, 2}, torch::kFloat64);
  const auto hr_points = grid_points(H, W, 1.0, 0.5, 0.5);
  const auto centres = grid_points(h, w, rd, 0.5 * rd, 0.5 * rd);  // low-res pixel centres, unjittered
  for (int64_t t = 0; t < T; ++t) {
    seq.hr[t] = to_image(sample_scene(scene, t, hr_points, true).color, H, W);
    double jx = 0, jy = 0;
    if (o.jitter == "halton") std::tie(jx, jy) = halton_jitter(phase0 + t, rd);
    seq.jitter[t][0] = jx;
    seq.jitter[t][1] = jy;
    // As in FSR 2, the sample of low-res pixel p lies at p + 0.5 - jitter (low-res pixels).
    if (o.mode == "render") {
      seq.lr[t] = to_image(sample_scene(scene, t, grid_points(h, w, rd, (0.5 - jx) * rd, (0.5 - jy) * rd), true).color, h, w);
    } else {
      // The pixel's area: r x r samples on the high-res grid, shifted by the jitter.
      auto sum = torch::zeros({3, h, w});
      for (int64_t a = 0; a < r; ++a)
        for (int64_t b = 0; b < r; ++b)
          sum += to_image(sample_scene(scene, t, grid_points(h, w, rd, b + 0.5 - jx * rd, a + 0.5 - jy * rd), true).color, h, w);
      seq.lr[t] = sum / static_cast<double>(r * r);
    }
    if (t == 0) continue;
    // Motion: the surface on top at each pixel centre, followed back to the previous frame.
    const Hit now = sample_scene(scene, t, centres, false);
    auto prev = torch::empty_like(centres);
    for (size_t i = 0; i < scene.layers.size(); ++i) {
      auto sel = (now.layer == static_cast<int64_t>(i)).nonzero().squeeze(1);
      if (sel.numel() == 0) continue;
      const Layer& l = scene.layers[i];
      auto src = apply_affine(l.affine[t], centres.index_select(0, sel));
      prev.index_copy_(0, sel, invert_affine(l.affine[t - 1], src));
    }
    const Hit before = sample_scene(scene, t - 1, prev, false);
    auto inside = (prev.select(1, 0) >= 0) & (prev.select(1, 0) < W) & (prev.select(1, 1) >= 0) & (prev.select(1, 1) < H);
    auto valid = inside & (before.layer == now.layer);
    seq.motion[t] = ((prev - centres) / rd).t().reshape({2, h, w}).to(torch::kFloat32);
    seq.disocclusion[t] = (~valid).to(torch::kFloat32).reshape({1, h, w});
  }
  return seq;
}

static std::string frame_name(int64_t t, const char* ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05lld%s", static_cast<long long>(t), ext);
  return buf;
}

void write_sequence(const std::string& dir, const Sequence& seq, const std::string& provenance_yaml) {
  const fs::path final_dir(dir), tmp = fs::path(dir + ".tmp");
  if (fs::exists(final_dir)) throw ConfigError("sequence folder '" + dir + "' already exists; it is not replaced");
  fs::remove_all(tmp);
  fs::create_directories(tmp / "lr");
  fs::create_directories(tmp / "motion");
  if (seq.hr.defined()) fs::create_directories(tmp / "hr");
  if (seq.disocclusion.defined()) fs::create_directories(tmp / "disocclusion");
  const int64_t T = seq.lr.size(0);
  for (int64_t t = 0; t < T; ++t) {
    io::write_image((tmp / "lr" / frame_name(t, ".png")).string(), seq.lr[t]);
    if (seq.hr.defined()) io::write_image((tmp / "hr" / frame_name(t, ".png")).string(), seq.hr[t]);
    io::write_flo((tmp / "motion" / frame_name(t, ".flo")).string(), seq.motion[t]);
    if (seq.disocclusion.defined()) io::write_image((tmp / "disocclusion" / frame_name(t, ".png")).string(), seq.disocclusion[t].expand({3, -1, -1}));
  }
  YAML::Node y;
  y["format"] = "tessera-sequence 1";
  y["frames"] = T;
  y["ratio"] = seq.ratio;
  y["mode"] = seq.mode;
  y["lr_size"] = std::vector<int64_t>{seq.lr.size(3), seq.lr.size(2)};
  YAML::Node jit(YAML::NodeType::Sequence);
  for (int64_t t = 0; t < T; ++t) {
    YAML::Node pair = detail::value_node(std::vector<double>{seq.jitter[t][0].item<double>(), seq.jitter[t][1].item<double>()});
    jit.push_back(pair);
  }
  y["jitter"] = jit;
  YAML::Node src(YAML::NodeType::Sequence);
  for (const auto& s : seq.sources) src.push_back(s);
  y["sources"] = src;
  if (!provenance_yaml.empty()) y["generator"] = load_yaml_text(provenance_yaml, dir + "/sequence.yaml");
  io::write_file_atomic(tmp / "sequence.yaml",
                        "# A tessera frame sequence (docs/temporal.md): lr/, motion/ (.flo, current -> previous, low-res pixels,\n"
                        "# jitter excluded), disocclusion/ (white: no valid history), hr/ (the unjittered target).\n" +
                            yaml_dump(y) + "\n");
  io::fsync_dir(tmp);
  fs::rename(tmp, final_dir);
  io::fsync_dir(final_dir.parent_path().empty() ? fs::path(".") : final_dir.parent_path());
}

SequenceInfo read_sequence_info(const std::string& dir) {
  const fs::path d(dir);
  const std::string meta = (d / "sequence.yaml").string();
  if (!fs::is_directory(d)) throw Error("sequence folder '" + dir + "' does not exist or is not a folder");
  if (!fs::is_regular_file(meta)) throw Error("sequence folder '" + dir + "' has no sequence.yaml (docs/temporal.md describes the format)");
  Cfg c(load_yaml_file(meta), "", meta);
  const std::string format = c.req<std::string>("format");
  if (format != "tessera-sequence 1") c.fail("format", "is '" + format + "'; this tessera reads 'tessera-sequence 1'");
  SequenceInfo info;
  info.dir = dir;
  info.frames = c.req<int64_t>("frames");
  if (info.frames < 1 || info.frames > 100000) c.fail("frames", "must be 1..100000, got " + std::to_string(info.frames));
  const int64_t T = info.frames;
  info.ratio = c.req<int64_t>("ratio");
  if (info.ratio < 1 || info.ratio > 8) c.fail("ratio", "must be 1..8, got " + std::to_string(info.ratio));
  info.mode = c.get<std::string>("mode", "render");
  const auto lr_size = c.req<std::vector<int64_t>>("lr_size");
  if (lr_size.size() != 2 || lr_size[0] <= 0 || lr_size[1] <= 0) c.fail("lr_size", "must be [width, height] of the low-res frames");
  info.lr_width = lr_size[0];
  info.lr_height = lr_size[1];
  const auto jitter = c.req<std::vector<std::vector<double>>>("jitter");
  if (static_cast<int64_t>(jitter.size()) != T) c.fail("jitter", "has " + std::to_string(jitter.size()) + " entries for " + std::to_string(T) + " frames");
  info.jitter = torch::zeros({T, 2}, torch::kFloat64);
  for (int64_t t = 0; t < T; ++t) {
    if (jitter[t].size() != 2 || std::abs(jitter[t][0]) > 0.5 || std::abs(jitter[t][1]) > 0.5)
      c.fail("jitter", "entry " + std::to_string(t) + " must be [jx, jy] within [-0.5, 0.5] low-res pixels");
    info.jitter[t][0] = jitter[t][0];
    info.jitter[t][1] = jitter[t][1];
  }
  info.sources = c.get<std::vector<std::string>>("sources", {});
  c.allow("generator");
  c.finish();
  info.has_hr = fs::is_directory(d / "hr");
  info.has_disocclusion = fs::is_directory(d / "disocclusion");
  for (auto [sub, ext, present] : {std::tuple{"lr", ".png", true}, std::tuple{"motion", ".flo", true},
                                   std::tuple{"hr", ".png", info.has_hr}, std::tuple{"disocclusion", ".png", info.has_disocclusion}}) {
    if (!present) continue;
    for (int64_t t = 0; t < T; ++t) {
      const std::string p = (d / sub / frame_name(t, ext)).string();
      if (!fs::exists(p)) throw Error("sequence '" + dir + "': frame " + std::to_string(t) + " is missing (" + p + ")");
    }
  }
  return info;
}

Sequence read_sequence(const SequenceInfo& info, int64_t first, int64_t count, bool targets) {
  if (count < 0) count = info.frames - first;
  if (first < 0 || count < 1 || first + count > info.frames)
    throw Error("sequence '" + info.dir + "': frames " + std::to_string(first) + ".." + std::to_string(first + count - 1) +
                " requested of " + std::to_string(info.frames));
  const fs::path d(info.dir);
  const int64_t w = info.lr_width, h = info.lr_height;
  auto load_frames = [&](const char* sub, bool image, int64_t fh, int64_t fw) -> torch::Tensor {
    std::vector<torch::Tensor> frames;
    for (int64_t t = first; t < first + count; ++t) {
      const std::string p = (d / sub / frame_name(t, image ? ".png" : ".flo")).string();
      torch::Tensor x = image ? io::read_image(p).rgb : io::read_flo(p);
      if (x.size(1) != fh || x.size(2) != fw)
        throw Error("sequence '" + info.dir + "': " + p + " is " + std::to_string(x.size(2)) + "x" + std::to_string(x.size(1)) +
                    "; sequence.yaml says " + std::to_string(fw) + "x" + std::to_string(fh));
      frames.push_back(x);
    }
    return torch::stack(frames);
  };
  Sequence seq;
  seq.ratio = info.ratio;
  seq.mode = info.mode;
  seq.sources = info.sources;
  seq.jitter = info.jitter.slice(0, first, first + count).clone();
  seq.lr = load_frames("lr", true, h, w);
  seq.motion = load_frames("motion", false, h, w);
  if (!targets) return seq;
  if (info.has_hr) seq.hr = load_frames("hr", true, h * info.ratio, w * info.ratio);
  if (info.has_disocclusion) seq.disocclusion = (load_frames("disocclusion", true, h, w).select(1, 0) > 0.5).to(torch::kFloat32).unsqueeze(1);
  return seq;
}

Sequence read_sequence(const std::string& dir) { return read_sequence(read_sequence_info(dir), 0, -1, true); }

}  // namespace tessera::data
