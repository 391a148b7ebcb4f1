// Evaluators per task, chosen from the checkpoint's task (tessera.task metadata): what `tessera
// eval` runs. image_to_image upscalers: PSNR/SSIM of the model and of MATLAB bicubic side by side;
// generators and autoencoders: FID, inception score and class accuracy against real images;
// temporal upscalers, and upscalers given sequence folders as data: the sequence metrics of
// temporal_sr.h for the model, each `compare` network, TAA and jitter-compensated bicubic.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "tessera/archs/net.h"

namespace tessera::recipes {

struct EvalRequest {
  std::string checkpoint, data, lr_data, features;
  int64_t scale = 0, crop_border = -1, tile = 0, n = 1000;
  uint64_t seed = 0;
  bool rgb = false;
  std::vector<std::string> metrics{"psnr", "ssim"};
  torch::Device device = torch::kCPU;
  // Sequences: frames not scored at the start of each, and other networks scored alongside
  // (name, network), e.g. the equal-cost single-frame network and ESPCN.
  int64_t warmup = 4;
  std::vector<std::pair<std::string, archs::NetPtr>> compare;
};

struct EvalReport {
  nlohmann::json json;  // what --json prints
  std::string table;    // what a terminal gets
};

using Evaluator = std::function<EvalReport(archs::NetImpl& net, const EvalRequest& request)>;
// The evaluator of a task; a ConfigError names the tasks that have one when `task` has none.
const Evaluator& evaluator_for(const std::string& task, const archs::NetImpl& net);

}  // namespace tessera::recipes
