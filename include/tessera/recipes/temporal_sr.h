// The temporal_sr recipe (unrolled training of a temporal upscaler over K-frame windows, truncated
// backpropagation through time) and the evaluation of frame upscalers on sequences, which both
// validation and `tessera eval` run (docs/temporal_sr.md).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tessera/archs/temporal.h"
#include "tessera/data/sequence_dataset.h"
#include "tessera/recipes/recipe.h"

namespace tessera::recipes {

// One way of making frames: a network, TAA, jitter-compensated bicubic.
using FrameMethod = std::function<torch::Tensor(const archs::TemporalFrame&, archs::TemporalState&)>;

struct SequenceEvalOptions {
  int64_t warmup = 4;        // frames of each sequence not scored (the history builds up)
  int64_t crop_border = -1;  // target pixels removed from each side before scoring (-1: the ratio)
  size_t max_samples = 0;    // last frames of the first sequences kept for samples/
};

// Means over the scored frames (t >= warmup) of every sequence. Outputs are quantised to 8 bits as
// saved frames would be. Temporal metrics compare consecutive frames:
//   warp_error  Lai et al. 2018: mean squared difference (RGB in [0,1]) between a frame and the
//               previous frame warped by the exact motion, over pixels whose history is valid and not
//               disoccluded, minus the same for the targets (0: as stable as the ground truth);
//   tpsnr       PSNR (peak 1, RGB) of the frame-to-frame differences against the targets', pooled;
//   tof         TecoGAN's tOF: mean norm of the difference between the Farneback optical flows
//               (OpenCV, TecoGAN's parameters) of consecutive output frames and of consecutive targets.
// psnr_disoccluded: PSNR (Y) over the disoccluded pixels of the scored frames (NaN without masks).
// psnr_per_frame: mean PSNR (Y) at each frame index, warm-up included, over the sequences that long.
struct SequenceScores {
  std::map<std::string, double> metrics;  // psnr_y ssim_y psnr_rgb ssim_rgb psnr_disoccluded warp_error warp_error_gt tpsnr tof
  std::vector<double> psnr_per_frame;
  int64_t frames_scored = 0;
  std::vector<std::pair<std::string, torch::Tensor>> samples;
};
SequenceScores evaluate_sequences(const FrameMethod& method, const data::SequenceFolderDataset& data, const SequenceEvalOptions& opt,
                                  torch::Device device);

// The non-learned references every sequence evaluation reports.
FrameMethod taa_method(int64_t scale, const archs::TaaOptions& opt = {});
FrameMethod bicubic_method(int64_t scale);  // unjittered_upsample of each frame
FrameMethod net_method(archs::NetImpl& net);  // archs::upscale_frame, no grad

void register_temporal_sr_recipe(RecipeRegistry& r);

}  // namespace tessera::recipes
