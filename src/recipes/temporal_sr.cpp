#include "tessera/recipes/temporal_sr.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>

#include <cmath>
#include <filesystem>
#include <limits>

#include "tessera/archs/checkpoint.h"
#include "tessera/io/image_io.h"
#include "tessera/losses/losses.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/recipes/trained_net.h"

namespace tessera::recipes {

namespace {

using torch::indexing::Slice;

torch::Tensor crop(const torch::Tensor& x, int64_t b) {
  if (b == 0) return x;
  return x.index({"...", Slice(b, x.size(-2) - b), Slice(b, x.size(-1) - b)});
}

// Farneback flow (TecoGAN's parameters) from frame a to frame b, float [3,H,W] in [0,1]: [H,W,2].
cv::Mat farneback(const torch::Tensor& a, const torch::Tensor& b) {
  auto gray = [](const torch::Tensor& x) {
    torch::Tensor u8 = (x.clamp(0, 1) * 255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
    cv::Mat rgb(static_cast<int>(u8.size(0)), static_cast<int>(u8.size(1)), CV_8UC3, u8.data_ptr());
    cv::Mat g;
    cv::cvtColor(rgb, g, cv::COLOR_RGB2GRAY);
    return g;
  };
  cv::Mat flow;
  cv::calcOpticalFlowFarneback(gray(a), gray(b), flow, 0.5, 3, 15, 3, 5, 1.2, 0);
  return flow;
}

double flow_difference(const cv::Mat& f, const cv::Mat& g) {
  cv::Mat d = f - g, sq;
  cv::multiply(d, d, sq);
  std::vector<cv::Mat> ch;
  cv::split(sq, ch);
  cv::Mat n;
  cv::sqrt(ch[0] + ch[1], n);
  return cv::mean(n)[0];
}

}  // namespace

FrameMethod taa_method(int64_t scale, const archs::TaaOptions& opt) {
  return [scale, opt](const archs::TemporalFrame& f, archs::TemporalState& s) { return archs::taa_step(f, s, scale, opt); };
}

FrameMethod bicubic_method(int64_t scale) {
  return [scale](const archs::TemporalFrame& f, archs::TemporalState& s) {
    s.output = archs::unjittered_upsample(f.lr, f.jitter, scale);
    return s.output;
  };
}

FrameMethod net_method(archs::NetImpl& net) {
  return [&net](const archs::TemporalFrame& f, archs::TemporalState& s) { return archs::upscale_frame(net, f, s); };
}

SequenceScores evaluate_sequences(const FrameMethod& method, const data::SequenceFolderDataset& data, const SequenceEvalOptions& opt,
                                  torch::Device device) {
  torch::NoGradGuard ng;
  const int64_t r = data.ratio(), border = opt.crop_border >= 0 ? opt.crop_border : r;
  metrics::QualityOptions qy{true, border}, qrgb{false, border};
  SequenceScores sc;
  std::vector<double> curve_sum;
  std::vector<int64_t> curve_n;
  double psnr_y = 0, ssim_y = 0, psnr_rgb = 0, ssim_rgb = 0, warp = 0, warp_gt = 0, tof = 0, dis_se = 0, dis_n = 0, tdiff_se = 0,
         tdiff_n = 0;
  int64_t n = 0, n_pairs = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    check_stop();
    data::Batch b = data.get(i, 0);
    const int64_t T = b.at("lr").size(0);
    const bool has_dis = b.count("disocclusion") > 0;
    archs::TemporalState state;
    torch::Tensor prev_out, prev_gt;
    for (int64_t t = 0; t < T; ++t) {
      archs::TemporalFrame f{b.at("lr")[t].unsqueeze(0).to(device), b.at("motion")[t].unsqueeze(0).to(device),
                             b.at("jitter")[t].unsqueeze(0).to(device)};
      torch::Tensor out = io::quantize(method(f, state)[0].to(torch::kCPU).clamp(0, 1));
      torch::Tensor gt = b.at("hr")[t];
      const double p = metrics::psnr(out, gt, qy);
      if (static_cast<int64_t>(curve_sum.size()) <= t) curve_sum.push_back(0), curve_n.push_back(0);
      curve_sum[t] += p, curve_n[t] += 1;
      if (t >= opt.warmup) {
        ++n;
        psnr_y += p;
        ssim_y += metrics::ssim(out, gt, qy);
        psnr_rgb += metrics::psnr(out, gt, qrgb);
        ssim_rgb += metrics::ssim(out, gt, qrgb);
        if (has_dis) {
          torch::Tensor m = crop(b.at("disocclusion")[t][0].repeat_interleave(r, 0).repeat_interleave(r, 1), border) > 0.5;
          torch::Tensor d = crop(metrics::rgb_to_y(out) - metrics::rgb_to_y(gt), border);
          dis_se += d.pow(2).masked_select(m).sum().item<double>();
          dis_n += static_cast<double>(m.sum().item<int64_t>());
        }
        if (t >= 1) {
          ++n_pairs;
          const torch::Tensor motion = b.at("motion")[t].unsqueeze(0);
          archs::Reprojection ro = archs::reproject(prev_out.unsqueeze(0), motion, r, motion.size(2), motion.size(3));
          archs::Reprojection rg = archs::reproject(prev_gt.unsqueeze(0), motion, r, motion.size(2), motion.size(3));
          torch::Tensor valid = rg.valid[0][0];
          if (has_dis) valid = valid * (1 - b.at("disocclusion")[t][0].repeat_interleave(r, 0).repeat_interleave(r, 1));
          valid = crop(valid, border);
          const double count = std::max(1.0, valid.sum().item<double>() * 3);
          auto werr = [&](const torch::Tensor& cur, const torch::Tensor& warped) {
            return (crop(cur - warped, border).pow(2) * valid).sum().item<double>() / count;
          };
          warp += werr(out, ro.warped[0]);
          warp_gt += werr(gt, rg.warped[0]);
          torch::Tensor dd = crop((out - prev_out) - (gt - prev_gt), border);
          tdiff_se += dd.pow(2).sum().item<double>();
          tdiff_n += static_cast<double>(dd.numel());
          tof += flow_difference(farneback(crop(prev_out, border), crop(out, border)), farneback(crop(prev_gt, border), crop(gt, border)));
        }
      }
      if (t + 1 == T && sc.samples.size() < opt.max_samples)
        sc.samples.emplace_back(std::filesystem::path(data.sequences()[data.window(i).first].dir).filename().string(), out);
      prev_out = out, prev_gt = gt;
    }
  }
  if (n == 0)
    throw ConfigError("no frame was scored: every sequence has at most warmup = " + std::to_string(opt.warmup) + " frames");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto psnr_of = [](double mse, double peak) { return mse > 0 ? 10.0 * std::log10(peak * peak / mse) : std::numeric_limits<double>::infinity(); };
  sc.frames_scored = n;
  sc.metrics = {{"psnr_y", psnr_y / n}, {"ssim_y", ssim_y / n}, {"psnr_rgb", psnr_rgb / n}, {"ssim_rgb", ssim_rgb / n},
                {"psnr_disoccluded", dis_n > 0 ? psnr_of(dis_se / dis_n, 255.0) : nan},
                {"warp_error", n_pairs ? (warp - warp_gt) / n_pairs : nan}, {"warp_error_gt", n_pairs ? warp_gt / n_pairs : nan},
                {"tpsnr", tdiff_n > 0 ? psnr_of(tdiff_se / tdiff_n, 1.0) : nan}, {"tof", n_pairs ? tof / n_pairs : nan}};
  for (size_t t = 0; t < curve_sum.size(); ++t) sc.psnr_per_frame.push_back(curve_sum[t] / curve_n[t]);
  return sc;
}

namespace {

class TemporalSrRecipe : public Recipe {
 public:
  TemporalSrRecipe(Cfg& root, torch::Device device, int64_t total_steps) : device_(device), file_(root.file()) {
    Cfg net_cfg = root.child("network");
    archs::NetPtr net = archs::build_arch(net_cfg);
    if (net->task() != "temporal_upscaler" && (net->task() != "image_to_image" || net->scale() < 2))
      throw ConfigError(file_ + ": network.type: the temporal_sr recipe trains a temporal_sr network or an upscaler, not " + net->type());
    Cfg rc = root.child("recipe");
    rc.req<std::string>("type");
    loss_ = losses::build_loss(rc.child("loss", true), "l1");
    precision_ = std::make_shared<Precision>(rc, device_);
    net_ = std::make_unique<TrainedNet>(net, rc, read_net_options(rc, precision_), total_steps, device_, "network");
    Cfg vc = rc.child("val", true);
    eval_.warmup = vc.get<int64_t>("warmup", 4, 0, 100000);
    eval_.crop_border = vc.get<int64_t>("crop_border", net->scale(), 0, 1024);
    eval_.max_samples = static_cast<size_t>(vc.get<int64_t>("save_images", 2, 0, 1000));
    baselines_ = vc.get<bool>("baselines", true);
    vc.finish();
    rc.finish();
    resolved_["network"] = net->options_yaml();
    resolved_["recipe"] = yaml_clone(rc.node());
  }

  Scalars train_step(const data::Batch& batch, int64_t step) override {
    net_->net().train();
    torch::Tensor lr = batch.at("lr").to(device_), hr = batch.at("hr").to(device_), motion = batch.at("motion").to(device_),
                  jitter = batch.at("jitter").to(device_);
    if (lr.dim() != 5) throw Error("the temporal_sr recipe needs batches of frame windows [B, K, 3, h, w] (a sequence_folder dataset)");
    const int64_t K = lr.size(1);
    torch::Tensor loss;
    {
      auto autocast = net_->autocast();
      archs::TemporalState state;
      for (int64_t t = 0; t < K; ++t) {
        torch::Tensor out = archs::upscale_frame(net_->net(), {lr.select(1, t), motion.select(1, t), jitter.select(1, t)}, state);
        torch::Tensor l = loss_(out.to(torch::kFloat32), hr.select(1, t));
        loss = loss.defined() ? loss + l : l;
      }
      loss = loss / static_cast<double>(K);
    }
    const double l = loss.item<double>();
    precision_->check_loss(l, step, "loss");
    const double gnorm = net_->step(loss, step, /*measure_norm=*/true);
    return {{"loss", l}, {"lr", net_->lr(step)}, {"grad_norm", gnorm}};
  }

  ValResult validate(const data::Dataset* val, int64_t) override {
    if (!val) return {};
    auto* seqs = dynamic_cast<const data::SequenceFolderDataset*>(val);
    if (!seqs) throw ConfigError("the temporal_sr recipe validates on a sequence_folder dataset (data.val)");
    archs::NetImpl& net = net_->inference();
    const bool was_training = net.is_training();
    net.eval();
    SequenceScores s = evaluate_sequences(net_method(net), *seqs, eval_, device_);
    if (was_training) net.train();
    ValResult r;
    for (const auto& [k, v] : s.metrics)
      if (std::isfinite(v)) r.metrics[k] = v;
    r.images = s.samples;
    if (baselines_) {
      // Fixed for a dataset (scored once), but logged with every validation so the curves share a plot.
      if (baseline_data_ != seqs) {
        SequenceEvalOptions o = eval_;
        o.max_samples = 0;
        baseline_scores_.clear();
        for (const auto& [name, m] : {std::pair{"taa", taa_method(seqs->ratio())}, std::pair{"bicubic", bicubic_method(seqs->ratio())}})
          baseline_scores_[std::string(name) + "_psnr_y"] = evaluate_sequences(m, *seqs, o, device_).metrics.at("psnr_y");
        baseline_data_ = seqs;
      }
      for (const auto& [k, v] : baseline_scores_) r.metrics[k] = v;
    }
    return r;
  }

  void check_data(const data::Dataset& train, const data::Dataset* val) const override {
    for (auto [split, ds] : {std::pair{"train", &train}, std::pair{"val", val}}) {
      if (!ds) continue;
      auto* s = dynamic_cast<const data::SequenceFolderDataset*>(ds);
      if (!s) throw ConfigError(file_ + ": data." + split + ": the temporal_sr recipe trains and validates on sequence_folder datasets");
      if (ds == val && (s->options().frames != 0 || s->options().patch_size != 0 || s->options().repeat != 1))
        throw ConfigError(file_ + ": data.val: the temporal_sr recipe validates whole sequences: set frames: 0 (and no patch_size or repeat)");
      if (s->ratio() != net_->net().scale())
        throw ConfigError(file_ + ": data." + split + " holds x" + std::to_string(s->ratio()) + " sequences but network.scale is " +
                          std::to_string(net_->net().scale()) + ": they must be equal");
    }
  }
  std::string best_metric() const override { return "psnr_y"; }

  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override {
    return {{"model.safetensors", archs::net_weights(net_->inference(), {{"tessera.ema", net_->has_ema() ? "true" : "false"}})}};
  }
  void save_state(torch::serialize::OutputArchive& ar) override { net_->save(ar); }
  void load_state(torch::serialize::InputArchive& ar) override { net_->load(ar); }
  YAML::Node resolved_config() const override { return resolved_; }
  Precision* precision() override { return precision_.get(); }
  std::string summary() const override {
    const archs::NetImpl& n = net_->net();
    const double macs = archs::macs_per_output_pixel(n);
    return n.type() + " x" + std::to_string(n.scale()) + ", " + std::to_string(archs::count_parameters(n)) + " parameters" +
           (macs > 0 ? ", " + std::to_string(static_cast<int64_t>(std::lround(macs))) + " multiply-adds per output pixel" : "") + ", " +
           net_->summary();
  }

 private:
  torch::Device device_;
  std::string file_;
  PrecisionPtr precision_;
  std::unique_ptr<TrainedNet> net_;
  losses::LossFn loss_;
  SequenceEvalOptions eval_;
  bool baselines_ = true;
  const data::Dataset* baseline_data_ = nullptr;
  Scalars baseline_scores_;
  YAML::Node resolved_;
};

}  // namespace

void register_temporal_sr_recipe(RecipeRegistry& r) {
  r.add("temporal_sr", [](Cfg& c, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<TemporalSrRecipe>(c, d, total); });
}

}  // namespace tessera::recipes
