#include "tessera/recipes/trained_net.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

#include "tessera/archs/checkpoint.h"
#include "tessera/archs/inference.h"
#include "tessera/dist/dist.h"
#include "tessera/io/safetensors.h"
#include "tessera/recipes/run_dir.h"

namespace tessera::recipes {

Precision::Precision(Cfg& rc, torch::Device device) : device_(device) {
  amp_ = rc.get_choice("amp", "none", {"none", "bf16", "fp16"});
  tf32_ = rc.get<bool>("tf32", false);
  channels_last_ = rc.get<bool>("channels_last", false);
  if (amp_ == "fp16") {
    if (!device_.is_cuda())
      spdlog::warn("{}: fp16 autocast on the CPU runs, but slowly (CPUs compute fp16 through fp32); bf16 is the CPU's "
                   "mixed precision", rc.where("amp"));
    optim::GradScaler::Options so;
    Cfg ls = rc.child("loss_scale", true);
    so.init_scale = ls.get<double>("init", so.init_scale, 1.0, 1e30);
    so.growth_factor = ls.get<double>("growth_factor", so.growth_factor, 1.0 + 1e-9, 1e3);
    so.backoff_factor = ls.get<double>("backoff_factor", so.backoff_factor, 1e-9, 1.0 - 1e-9);
    so.growth_interval = ls.get<int64_t>("growth_interval", so.growth_interval, 1, 1'000'000'000);
    ls.finish();
    scaler_ = std::make_shared<optim::GradScaler>(device_, so);
  } else if (rc.has("loss_scale")) {
    rc.fail("loss_scale", "applies to amp: fp16 only");
  }
  if (tf32_) {
    at::globalContext().setAllowTF32CuBLAS(true);
    at::globalContext().setAllowTF32CuDNN(true);
  }
  where_ = rc.where("nonfinite");
  nonfinite_ = rc.get_choice("nonfinite", "stop", {"stop", "skip"});
  max_skipped_ = rc.get<int64_t>("max_skipped_steps", max_skipped_, 1, 1'000'000'000);
}

void Precision::check_loss(double value, int64_t step, const std::string& what) {
  if (std::isfinite(value) || scaler_) return;
  if (nonfinite_ == "stop")
    throw Error(fmt::format("step {}: the {} became {} ({} is stop); lower the learning rate, or set {}=skip to skip such steps",
                            step + 1, what, value, where_, where_));
  skip_step_ = step;
  note_skipped(step, fmt::format("the {} is {}", what, value));
}

bool Precision::skip_update(const std::vector<torch::Tensor>& params, int64_t step, const std::string& net) {
  if (scaler_) return false;  // the scaler's business
  // A step whose loss alone was non-finite is skipped here; distributed, only the gradients decide
  // (they are every rank's mean, so every rank skips the same steps; a rank's loss is its own).
  if (skip_step_ == step && !dist::active()) return true;
  if (optim::gradients_finite(params)) return false;
  if (nonfinite_ == "stop")
    throw Error(fmt::format("step {}: the gradients of {} are not finite (NaN or Inf; {} is stop); lower the learning rate or set "
                            "a grad_clip, or set {}=skip to skip such steps",
                            step + 1, net, where_, where_));
  skip_step_ = step;
  note_skipped(step, "the gradients of " + net + " are not finite");
  return true;
}

void Precision::note_skipped(int64_t step, const std::string& why) {
  if (step == last_skipped_) return;
  skipped_in_a_row_ = step == last_skipped_ + 1 ? skipped_in_a_row_ + 1 : 1;
  last_skipped_ = step;
  ++skipped_total_;
  spdlog::warn("step {}: {}; its update is skipped ({}=skip; {} skipped so far)", step + 1, why, where_, skipped_total_);
  if (skipped_in_a_row_ >= max_skipped_)
    throw Error(fmt::format("step {}: {} steps in a row had non-finite losses or gradients ({}=skip, max_skipped_steps {}); "
                            "the run diverged: lower the learning rate",
                            step + 1, skipped_in_a_row_, where_, max_skipped_));
}

optim::AutocastScope Precision::autocast() const {
  return optim::AutocastScope(device_.type(), amp_ != "none", amp_ == "fp16" ? at::kHalf : at::kBFloat16);
}

std::string Precision::summary() const {
  std::string s = amp_ == "none" ? "" : ", autocast " + amp_ + (scaler_ ? " (loss scaling)" : "");
  if (tf32_) s += ", tf32";
  if (channels_last_) s += ", channels_last";
  return s;
}

double read_ema(Cfg& rc, double default_decay) {
  const double decay = rc.get<double>("ema", default_decay, 0.0, 1.0);
  if (decay >= 1.0)
    rc.fail("ema", "is 1: the average would never leave the initial weights, which validation would score and the checkpoint "
                   "save; use a decay below 1 (e.g. 0.999), or 0 for none");
  return decay;
}

TrainedNetOptions read_net_options(Cfg& rc, PrecisionPtr precision, TrainedNetOptions base) {
  base.ema = read_ema(rc);
  base.grad_clip = rc.get<double>("grad_clip", 0.0, 0.0, 1e9);
  base.precision = std::move(precision);
  return base;
}

TrainedNet::TrainedNet(archs::NetPtr net, Cfg& rc, const TrainedNetOptions& opt, int64_t total_steps, torch::Device device,
                       const std::string& cfg_path)
    : net_(std::move(net)), device_(device), opt_(opt), name_(cfg_path) {
  net_->to(device_);
  if (opt_.precision && opt_.precision->channels_last()) archs::to_channels_last(*net_);
  // Distributed: every rank starts from rank 0's weights (the same seed makes them equal already;
  // this makes it so whatever the initialiser drew).
  if (dist::active()) {
    std::vector<torch::Tensor> all = net_->parameters();
    for (const auto& b : net_->buffers()) all.push_back(b);
    dist::broadcast(all);
  }
  Cfg user = rc.child(opt_.optimizer_key, true);
  // (Built in one expression: assigning over a Cfg would assign over the YAML node it refers to.)
  Cfg ocfg = [&] {
    if (opt_.default_optimizer.empty()) return user;
    YAML::Node merged = YAML::Load(opt_.default_optimizer);
    const YAML::Node& given = user.node();
    if (user.has("type") && given["type"].as<std::string>() != merged["type"].as<std::string>()) merged = YAML::Node(YAML::NodeType::Map);
    for (const auto& kv : given) merged[kv.first.as<std::string>()] = YAML::Clone(kv.second);
    return user.with_node(merged);
  }();
  optimizer_type_ = ocfg.has("type") ? ocfg.node()["type"].as<std::string>() : "adam";
  if (ocfg.has("fused") && ocfg.node()["fused"].as<bool>(false)) optimizer_type_ += " (fused)";
  optimizer_ = optim::build_optimizer(ocfg, trainable());
  const bool default_schedule = !opt_.default_scheduler.empty() && !rc.has(opt_.scheduler_key);
  Cfg scfg = rc.child(opt_.scheduler_key, true);
  schedule_ = optim::LrSchedule::from_yaml(default_schedule ? scfg.with_node(YAML::Load(opt_.default_scheduler)) : scfg, total_steps);
  schedule_.base_lr = optim::base_lr(*optimizer_);
  if (opt_.ema > 0) {
    ema_ = std::make_unique<optim::Ema>(*net_, opt_.ema);
    ema_net_ = archs::build_arch(Cfg(yaml_clone(net_->options_yaml()), cfg_path, rc.file()));
    ema_net_->to(device_);
    if (opt_.precision && opt_.precision->channels_last()) archs::to_channels_last(*ema_net_);
    ema_net_->eval();
  }
}

std::vector<torch::Tensor> TrainedNet::trainable() const {
  std::vector<torch::Tensor> out;
  for (auto& p : net_->parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

double TrainedNet::step(const torch::Tensor& loss, int64_t step, bool measure_norm) {
  optim::GradScaler* scaler = opt_.precision ? opt_.precision->scaler() : nullptr;
  optimizer_->zero_grad();
  (scaler ? scaler->scale(loss) : loss).backward();
  return apply_gradients(step, measure_norm);
}

void TrainedNet::step_together(const torch::Tensor& loss, const std::vector<TrainedNet*>& nets, int64_t step) {
  TORCH_CHECK(!nets.empty(), "step_together: no networks");
  for (TrainedNet* n : nets) TORCH_CHECK(n->opt_.precision == nets[0]->opt_.precision, "step_together: the networks must share one Precision");
  optim::GradScaler* scaler = nets[0]->opt_.precision ? nets[0]->opt_.precision->scaler() : nullptr;
  for (TrainedNet* n : nets) n->optimizer_->zero_grad();
  (scaler ? scaler->scale(loss) : loss).backward();
  for (TrainedNet* n : nets) n->apply_gradients(step, false);
}

double TrainedNet::apply_gradients(int64_t step, bool measure_norm) {
  optim::GradScaler* scaler = opt_.precision ? opt_.precision->scaler() : nullptr;
  // Distributed: the mean of every rank's gradients (so every rank takes the same step, and the
  // fp16 scaler sees the same infs on every rank).
  dist::average_gradients(trainable());
  // Clipping needs true gradients, so the scaler unscales first; otherwise a fused optimizer
  // unscales inside its kernel and a measured norm is divided by the scale.
  const bool kernel_unscales = scaler && opt_.grad_clip <= 0 && scaler->unscales_in_step(*optimizer_);
  if (scaler && !kernel_unscales) scaler->unscale(*optimizer_);
  const double norm = opt_.grad_clip > 0 || measure_norm
                          ? optim::clip_grad_norm(trainable(), opt_.grad_clip) / (kernel_unscales ? scaler->scale_value() : 1.0)
                          : std::numeric_limits<double>::quiet_NaN();
  schedule_.apply(*optimizer_, step);
  // Non-finite gradients outside fp16 stop the run or skip the update (no optimizer step, no EMA).
  if (opt_.precision && opt_.precision->skip_update(trainable(), step, name_)) return norm;
  const bool stepped = scaler ? scaler->step(*optimizer_) : (optimizer_->step(), true);
  if (ema_ && stepped) ema_->update(*net_);
  return norm;
}

optim::AutocastScope TrainedNet::autocast() const {
  if (opt_.precision) return opt_.precision->autocast();
  return optim::AutocastScope(device_.type(), false);
}

archs::NetImpl& TrainedNet::inference() {
  if (!ema_) return *net_;
  ema_->copy_to(*ema_net_);
  return *ema_net_;
}

void TrainedNet::save(torch::serialize::OutputArchive& ar) const {
  torch::serialize::OutputArchive net_ar, opt_ar;
  net_->save(net_ar);
  optimizer_->save(opt_ar);
  ar.write(opt_.state_net, net_ar);
  ar.write(opt_.state_optimizer, opt_ar);
  if (ema_)
    for (size_t i = 0; i < ema_->shadow().size(); ++i) ar.write(opt_.state_ema + "." + std::to_string(i), ema_->shadow()[i], true);
}

void TrainedNet::load(torch::serialize::InputArchive& ar) {
  torch::serialize::InputArchive net_ar, opt_ar;
  ar.read(opt_.state_net, net_ar);
  ar.read(opt_.state_optimizer, opt_ar);
  net_->load(net_ar);
  // Loading replaces the parameters with the checkpoint's tensors: keep the configured layout.
  if (opt_.precision && opt_.precision->channels_last()) archs::to_channels_last(*net_);
  optimizer_->load(opt_ar);
  if (ema_)
    for (size_t i = 0; i < ema_->shadow().size(); ++i) {
      torch::Tensor t;
      ar.read(opt_.state_ema + "." + std::to_string(i), t, true);
      ema_->shadow()[i].copy_(t);
    }
}

std::string TrainedNet::summary() const {
  return fmt::format("{} lr {:g}{}{}{}", optimizer_type_, schedule_.base_lr, ema_ ? fmt::format(", EMA {:g}", opt_.ema) : "",
                     opt_.grad_clip > 0 ? fmt::format(", clip {:g}", opt_.grad_clip) : "", opt_.precision ? opt_.precision->summary() : "");
}

void load_pretrained(archs::NetImpl& net, const std::string& arg, const std::vector<std::string>& file_names, const std::string& where) {
  std::string path;
  try {
    path = resolve_weights(arg, file_names);
  } catch (const ConfigError& e) {
    throw ConfigError(where + ": " + e.what());
  }
  if (!std::filesystem::is_regular_file(path))
    throw ConfigError(where + ": '" + arg + "' does not exist (train the network first, or give its weights file, checkpoint or run directory)");
  io::TensorFile f = io::load_safetensors(path);
  auto it = f.metadata.find("tessera.arch");
  if (it == f.metadata.end())
    throw ConfigError(where + ": '" + path + "' is not a tessera weights file (no tessera.arch metadata; convert it with scripts/convert_weights.py)");
  const auto have = flatten_config(YAML::Load(it->second)), want = flatten_config(net.options_yaml());
  for (const auto& [k, v] : want) {
    auto h = have.find(k);
    const std::string got = h == have.end() ? "(absent)" : h->second;
    if (got != v)
      throw ConfigError(where + ": '" + path + "' holds a different network: its " + k + " is " + got + " but this network's is " + v);
  }
  for (const auto& [k, v] : have)
    if (!want.count(k)) throw ConfigError(where + ": '" + path + "' holds a different network: it has option " + k + " = " + v);
  archs::load_net_weights(net, f, path);
}

}  // namespace tessera::recipes
