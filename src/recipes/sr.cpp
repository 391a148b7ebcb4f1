#include "tessera/recipes/sr.h"

#include "tessera/recipes/generative.h"

#include <filesystem>

#include "tessera/archs/checkpoint.h"
#include "tessera/data/resize.h"
#include "tessera/io/image_io.h"
#include "tessera/losses/losses.h"
#include "tessera/optim/optim.h"
#include "tessera/recipes/trained_net.h"

namespace tessera::recipes {

torch::Tensor bicubic_upscale(const torch::Tensor& lq, int64_t scale) {
  return data::imresize_bicubic(lq, static_cast<double>(scale), false);
}

SrEvaluation evaluate_sr(archs::NetImpl& net, const data::SrFolderDataset& val, const metrics::QualityOptions& q,
                         const std::vector<std::string>& metric_names, const archs::TileOptions& tile, torch::Device device,
                         size_t max_samples) {
  torch::NoGradGuard ng;
  std::vector<metrics::ImageMetric> fns;
  for (const auto& m : metric_names) fns.push_back(metrics::build_metric(m, "metric"));
  const bool was_training = net.is_training();
  net.eval();
  SrEvaluation ev;
  ev.metrics = metric_names;
  const size_t n = val.files().size();
  for (size_t i = 0; i < n; ++i) {
    check_stop();
    auto [lq, gt] = val.pair(i);
    torch::Tensor sr = io::quantize(archs::run_image(net, lq, tile, device));
    torch::Tensor bic = io::quantize(bicubic_upscale(lq, net.scale()));
    if (sr.sizes() != gt.sizes())
      throw Error("network output " + c10::str(sr.sizes()) + " does not match HR image " + c10::str(gt.sizes()) +
                  " of '" + val.files()[i] + "' (scale mismatch?)");
    SrImageScore s{std::filesystem::path(val.files()[i]).filename().string(), {}, {}};
    for (size_t k = 0; k < fns.size(); ++k) {
      s.model[metric_names[k]] = fns[k](sr, gt, q);
      s.bicubic[metric_names[k]] = fns[k](bic, gt, q);
      ev.model[metric_names[k]] += s.model[metric_names[k]] / n;
      ev.bicubic[metric_names[k]] += s.bicubic[metric_names[k]] / n;
    }
    ev.images.push_back(s);
    if (ev.samples.size() < max_samples) ev.samples.emplace_back(std::filesystem::path(s.name).stem().string(), sr);
  }
  if (was_training) net.train();
  return ev;
}

SrValidation::SrValidation(Cfg vc, archs::NetImpl& net) {
  quality_.y_channel = vc.get<bool>("y_channel", true);
  quality_.crop_border = vc.get<int64_t>("crop_border", net.scale(), 0, 1024);
  samples_ = vc.get<int64_t>("save_images", 3, 0, 1000);
  metric_names_ = vc.get<std::vector<std::string>>("metrics", {"psnr", "ssim"});
  if (metric_names_.empty()) vc.fail("metrics", "needs at least one metric");
  for (size_t i = 0; i < metric_names_.size(); ++i) metrics::build_metric(metric_names_[i], vc.where("metrics") + "[" + std::to_string(i) + "]");
  tile_ = archs::checked_tiles(net, vc.get<int64_t>("tile", 0, 0, 1 << 20), -1, vc.where("tile"));
  vc.finish();
}

ValResult SrValidation::run(archs::NetImpl& net, const data::Dataset* val, torch::Device device, const std::string& recipe) const {
  if (!val) return {};
  auto* sr_val = dynamic_cast<const data::SrFolderDataset*>(val);
  if (!sr_val) throw ConfigError("the " + recipe + " recipe validates on an sr_folder dataset (data.val)");
  SrEvaluation ev = evaluate_sr(net, *sr_val, quality_, metric_names_, tile_, device, static_cast<size_t>(samples_));
  const std::string sfx = quality_.y_channel ? "_y" : "_rgb";
  ValResult r;
  for (const auto& m : metric_names_) {
    r.metrics[m + sfx] = ev.model.at(m);
    r.metrics["bicubic_" + m + sfx] = ev.bicubic.at(m);
  }
  r.images = ev.samples;
  return r;
}

std::string SrValidation::best_metric() const { return metric_names_.front() + (quality_.y_channel ? "_y" : "_rgb"); }

void SrValidation::check_data(const std::string& file, const std::string& recipe, int64_t scale, const data::Dataset& train,
                              const data::Dataset* val) {
  for (auto [split, ds] : {std::pair{"train", &train}, std::pair{"val", val}}) {
    if (!ds) continue;
    auto* sr = dynamic_cast<const data::SrFolderDataset*>(ds);
    if (!sr) throw ConfigError(file + ": data." + split + ": the " + recipe + " recipe trains and validates on sr_folder datasets");
    if (sr->scale() != scale)
      throw ConfigError(file + ": data." + split + ".scale is " + std::to_string(sr->scale()) + " but network.scale is " +
                        std::to_string(scale) + ": they must be equal");
  }
}

namespace {

class SrRecipe : public Recipe {
 public:
  SrRecipe(Cfg& root, torch::Device device, int64_t total_steps) : device_(device), file_(root.file()) {
    Cfg net_cfg = root.child("network");
    archs::NetPtr net = archs::build_arch(net_cfg);
    Cfg rc = root.child("recipe");
    rc.req<std::string>("type");
    loss_ = losses::build_loss(rc.child("loss", true), "l1");
    precision_ = std::make_shared<Precision>(rc, device_);
    net_ = std::make_unique<TrainedNet>(net, rc, read_net_options(rc, precision_), total_steps, device_, "network");
    val_ = std::make_unique<SrValidation>(rc.child("val", true), *net);
    rc.finish();
    resolved_["network"] = net->options_yaml();
    resolved_["recipe"] = yaml_clone(rc.node());
  }

  Scalars train_step(const data::Batch& batch, int64_t step) override {
    net_->net().train();
    torch::Tensor lq = data::sr_input(batch, net_->net().scale(), device_), gt = batch.at("gt").to(device_);
    torch::Tensor loss;
    {
      auto autocast = net_->autocast();
      torch::Tensor out = net_->net().forward(lq);
      loss = loss_(out.to(torch::kFloat32), gt);
    }
    const double l = loss.item<double>();
    precision_->check_loss(l, step, "loss");  // (under fp16 the loss scaler skips the step instead)
    const double gnorm = net_->step(loss, step, /*measure_norm=*/true);
    return {{"loss", l}, {"lr", net_->lr(step)}, {"grad_norm", gnorm}};
  }

  ValResult validate(const data::Dataset* val, int64_t) override { return val_->run(net_->inference(), val, device_, "sr"); }

  void check_data(const data::Dataset& train, const data::Dataset* val) const override {
    SrValidation::check_data(file_, "sr", net_->net().scale(), train, val);
  }
  std::string best_metric() const override { return val_->best_metric(); }

  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override {
    return {{"model.safetensors", archs::net_weights(net_->inference(), {{"tessera.ema", net_->has_ema() ? "true" : "false"}})}};
  }
  void save_state(torch::serialize::OutputArchive& ar) override { net_->save(ar); }
  void load_state(torch::serialize::InputArchive& ar) override { net_->load(ar); }

  YAML::Node resolved_config() const override { return resolved_; }
  Precision* precision() override { return precision_.get(); }
  std::string summary() const override {
    const archs::NetImpl& n = net_->net();
    return n.type() + " x" + std::to_string(n.scale()) + ", " + std::to_string(archs::count_parameters(n)) + " parameters, " +
           net_->summary();
  }

 private:
  torch::Device device_;
  std::string file_;
  PrecisionPtr precision_;
  std::unique_ptr<TrainedNet> net_;
  losses::LossFn loss_;
  std::unique_ptr<SrValidation> val_;
  YAML::Node resolved_;
};

}  // namespace

void register_sr_recipe(RecipeRegistry& r) {
  r.add("sr", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<SrRecipe>(root, d, total); });
}

}  // namespace tessera::recipes
