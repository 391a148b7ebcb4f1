#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "commands.h"
#include "tessera/archs/checkpoint.h"
#include "tessera/core/runtime.h"
#include "tessera/recipes/sr.h"

namespace tessera::cli {

Run add_eval(CLI::App& app) {
  struct Args {
    std::string checkpoint, data, lr_data, device = "auto";
    int64_t scale = 0, crop_border = -1, tile = 0;
    bool json = false, rgb = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("--checkpoint", a->checkpoint, "weights file (model.safetensors)")->required();
  app.add_option("--data", a->data, "folder of HR images (LR made by MATLAB bicubic)")->required();
  app.add_option("--lr-data", a->lr_data, "folder of matching LR images (instead of bicubic degradation)");
  app.add_option("--scale", a->scale, "upscale factor; must match the checkpoint (default: the checkpoint's)");
  app.add_option("--crop-border", a->crop_border, "pixels removed from each side before scoring (default: scale)");
  app.add_flag("--rgb", a->rgb, "score on RGB instead of the Y channel");
  app.add_option("--tile", a->tile, "LR tile size for inference (0 = whole images)");
  app.add_option("--device", a->device, "auto, cpu or cuda");
  app.add_flag("--json", a->json, "print one JSON object instead of a table");
  return [a] {
    archs::NetPtr net = archs::load_net_checkpoint(a->checkpoint);
    if (a->scale != 0 && a->scale != net->scale())
      throw ConfigError("--scale " + std::to_string(a->scale) + " does not match the checkpoint's x" + std::to_string(net->scale()));
    torch::Device device = resolve_device(a->device);
    net->to(device);
    data::SrFolderOptions o;
    o.hr_dir = a->data;
    o.lr_dir = a->lr_data;
    o.scale = net->scale();
    data::SrFolderDataset ds(o);
    metrics::QualityOptions q;
    q.y_channel = !a->rgb;
    q.crop_border = a->crop_border >= 0 ? a->crop_border : net->scale();
    recipes::SrEvaluation ev = recipes::evaluate_sr(*net, ds, q, {a->tile, 16}, device);
    const std::string ch = q.y_channel ? "y" : "rgb";
    if (a->json) {
      nlohmann::json j;
      j["checkpoint"] = a->checkpoint;
      j["data"] = a->data;
      j["scale"] = net->scale();
      j["channel"] = ch;
      j["crop_border"] = q.crop_border;
      j["model"] = {{"psnr", ev.psnr}, {"ssim", ev.ssim}};
      j["bicubic"] = {{"psnr", ev.bicubic_psnr}, {"ssim", ev.bicubic_ssim}};
      for (const auto& s : ev.images)
        j["images"].push_back({{"name", s.name}, {"psnr", s.psnr}, {"ssim", s.ssim}, {"bicubic_psnr", s.bicubic_psnr},
                               {"bicubic_ssim", s.bicubic_ssim}});
      std::cout << j.dump(2) << std::endl;
    } else {
      std::printf("%s x%lld on %s (%zu images, %s channel, crop %lld)\n", net->type().c_str(),
                  static_cast<long long>(net->scale()), a->data.c_str(), ev.images.size(), ch.c_str(),
                  static_cast<long long>(q.crop_border));
      std::printf("%-28s %10s %8s %12s %8s\n", "image", "PSNR", "SSIM", "bicubic PSNR", "SSIM");
      for (const auto& s : ev.images)
        std::printf("%-28s %10.4f %8.4f %12.4f %8.4f\n", s.name.c_str(), s.psnr, s.ssim, s.bicubic_psnr, s.bicubic_ssim);
      std::printf("%-28s %10.4f %8.4f %12.4f %8.4f\n", "mean", ev.psnr, ev.ssim, ev.bicubic_psnr, ev.bicubic_ssim);
    }
    return 0;
  };
}

}  // namespace tessera::cli
