// Synthetic frame sequences with exact ground truth, for temporal super-resolution (DLSS 2 / FSR 2
// style): a camera moves smoothly over a photograph while 0-3 sprites cut from other photographs
// move in front of it; each frame has its jittered low-resolution "render", exact motion vectors,
// a disocclusion mask and the unjittered high-resolution target. docs/temporal.md describes the
// conventions and the folder format, which a renderer can also write.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::data {

// FSR 2's jitter for frame `index` at an upscaling ratio: (halton(k + 1, 2) - 0.5,
// halton(k + 1, 3) - 0.5) low-resolution pixels with k = index mod phases, phases = int(8 ratio^2).
int64_t jitter_phases(double ratio);
std::pair<double, double> halton_jitter(int64_t index, double ratio);
double halton(int64_t index, int base);

struct SequenceOptions {
  int64_t frames = 16;
  int64_t height = 128, width = 128;  // the high-resolution frame; multiples of ratio
  int64_t ratio = 2;
  std::string mode = "render";  // render: one point sample per low-res pixel; camera: the pixel's area
  std::string jitter = "halton";  // halton (FSR 2) or none
  int64_t max_sprites = 3;
  double max_translation = 8.0;  // high-res pixels per frame (camera and sprites)
  double max_rotation = 1.0;  // degrees per frame
  double max_zoom = 0.02;  // relative scale change per frame
  void validate() const;  // ConfigError naming the option
};

struct Sequence {
  int64_t ratio = 2;
  std::string mode;
  torch::Tensor hr;  // float32 [T,3,H,W] in [0,1]: the unjittered target
  torch::Tensor lr;  // float32 [T,3,H/r,W/r]: the jittered low-resolution frames
  // float32 [T,2,H/r,W/r]: (dx, dy) in low-res pixels from each pixel's centre (jitter excluded) to
  // where the same surface point was in the previous frame; frame 0 is all zero.
  torch::Tensor motion;
  // float32 [T,1,H/r,W/r]: 1 where that point was not visible in the previous frame (off screen or
  // behind a sprite) and for all of frame 0; 0 where the history is valid. May be undefined.
  torch::Tensor disocclusion;
  torch::Tensor jitter;  // float64 [T,2]: (jx, jy) in low-res pixels
  std::vector<std::string> sources;  // background photo, then each sprite's
};

// Sequence `index` of the stream `seed`: the same (seed, index, photos, options) give the same
// sequence on every machine. `photos` are the candidate sources (paths); the background and the
// sprites are drawn from them.
Sequence make_sequence(const std::vector<std::string>& photos, const SequenceOptions& opt, uint64_t seed, uint64_t index);

// seq/sequence.yaml, seq/lr/00000.png, seq/hr/00000.png, seq/motion/00000.flo,
// seq/disocclusion/00000.png. Written into seq.tmp and renamed, so a folder is whole or absent.
void write_sequence(const std::string& dir, const Sequence& seq, const std::string& provenance_yaml = "");
// A sequence folder's sequence.yaml, checked, and which frame folders it has (every frame file of
// each is present); errors name the folder and the file.
struct SequenceInfo {
  std::string dir, mode;
  int64_t frames = 0, ratio = 2, lr_width = 0, lr_height = 0;
  torch::Tensor jitter;  // float64 [frames, 2]
  std::vector<std::string> sources;
  bool has_hr = false, has_disocclusion = false;
};
SequenceInfo read_sequence_info(const std::string& dir);
// Frames [first, first + count) of a sequence folder (count -1: to the end); hr/ and disocclusion/
// may be absent (a real renderer has no target); `targets` false skips them (inference). Each file
// must have the declared size.
Sequence read_sequence(const SequenceInfo& info, int64_t first, int64_t count = -1, bool targets = true);
Sequence read_sequence(const std::string& dir);

}  // namespace tessera::data
