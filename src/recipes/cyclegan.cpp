// Recipe `cyclegan` (Zhu et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix's cycle_gan_model):
// two generators G_ab: A -> B and G_ba: B -> A, two discriminators D_b (real B vs G_ab(a)) and D_a,
// trained on unpaired folders. Per step, as junyanz's optimize_parameters:
//   generators (discriminators frozen), one loss for both:
//     gan.weight * (adv(D_b(G_ab(a))) + adv(D_a(G_ba(b))))
//     + lambda_a |G_ba(G_ab(a)) - a| + lambda_b |G_ab(G_ba(b)) - b|                    (cycle)
//     + lambda_identity (lambda_b |G_ab(b) - b| + lambda_a |G_ba(a) - a|)                (identity)
//   discriminators: adv critic loss on (real, a fake drawn from each one's image pool)
// L1 terms are taken on [-1, 1] images as junyanz computes them (twice the [0, 1] difference), and
// junyanz's LSGAN generator term is the MSE without Mao et al.'s 1/2, so gan.weight defaults to 2
// with lsgan (1 with other losses): the defaults reproduce junyanz's loss exactly.
#include <fmt/format.h>

#include "generative_common.h"
#include "tessera/archs/image_gan.h"
#include "tessera/data/image_folder.h"
#include "tessera/dist/dist.h"
#include "tessera/io/image_io.h"
#include "tessera/metrics/image_quality.h"
#include "tessera/losses/adversarial.h"
#include "tessera/recipes/image_pool.h"

namespace tessera::recipes {

namespace {

// L1 on [-1, 1] images given in [0, 1].
torch::Tensor l1_symmetric(const torch::Tensor& x, const torch::Tensor& y) { return 2 * (x - y).abs().mean(); }

class CycleGanRecipe : public Recipe {
 public:
  CycleGanRecipe(Cfg& root, torch::Device device, int64_t total) : device_(device), file_(root.file()) {
    Cfg nets = root.child("networks");
    Cfg gcfg = nets.child("generator"), dcfg = nets.child("discriminator");
    // Each direction gets its own network built from the one section (and its own initial weights).
    archs::NetPtr gab = archs::build_arch(gcfg), gba = archs::build_arch(gcfg);
    archs::NetPtr da = archs::build_arch(dcfg), db = archs::build_arch(dcfg);
    if (gab->task() != "image_to_image" || gab->scale() != 1)
      nets.fail("generator", "must be an image-to-image network of scale 1 (resnet_generator), not " + gab->type());
    auto* dc = dynamic_cast<archs::CriticImpl*>(da.get());
    if (!dc || dc->num_classes() > 0) nets.fail("discriminator", "must be an unconditional critic arch (patchgan), not " + da->type());
    if (gab->in_channels() != dc->in_channels())
      nets.fail("discriminator", "takes " + std::to_string(dc->in_channels()) + " channels but the generator makes " + std::to_string(gab->in_channels()));
    nets.finish();

    Cfg rc = root.child("recipe");
    rc.req<std::string>("type");
    Cfg gc = rc.child("gan", true);
    adv_ = losses::build_adversarial(gc.get<std::string>("loss", "lsgan"), gc.where("loss"));
    gan_weight_ = gc.get<double>("weight", adv_->name() == "lsgan" ? 2.0 : 1.0, 0.0, 1e6);
    gc.finish();
    lambda_a_ = rc.get<double>("lambda_a", 10.0, 0.0, 1e6);
    lambda_b_ = rc.get<double>("lambda_b", 10.0, 0.0, 1e6);
    lambda_identity_ = rc.get<double>("lambda_identity", 0.5, 0.0, 1e6);
    const int64_t pool = rc.get<int64_t>("pool_size", 50, 0, 100000);
    pool_a_ = std::make_unique<ImagePool>(pool);
    pool_b_ = std::make_unique<ImagePool>(pool);

    precision_ = std::make_shared<Precision>(rc, device_);
    const std::string adam = "{type: adam, lr: 2.0e-4, betas: [0.5, 0.999]}";
    auto options = [&](const std::string& net, const std::string& which) {
      TrainedNetOptions o;
      o.precision = precision_;
      o.optimizer_key = "optimizer_" + which, o.scheduler_key = "scheduler_" + which, o.default_optimizer = adam;
      // junyanz's linear policy: constant for half the steps, then linearly down to 0.
      o.default_scheduler = "{type: linear}";
      o.state_net = net, o.state_optimizer = "optimizer_" + net, o.state_ema = "ema_" + net;
      return o;
    };
    // recipe.ema: an exponential moving average of each generator's weights, which validation,
    // the saved generators and apply/export use (as ESRGAN's generator; the discriminators have none).
    const double ema = read_ema(rc);
    TrainedNetOptions ab = options("generator_ab", "g"), ba = options("generator_ba", "g");
    ab.ema = ba.ema = ema;
    gab_ = std::make_unique<TrainedNet>(gab, rc, ab, total, device_, "networks.generator");
    gba_ = std::make_unique<TrainedNet>(gba, rc, ba, total, device_, "networks.generator");
    da_ = std::make_unique<TrainedNet>(da, rc, options("discriminator_a", "d"), total, device_, "networks.discriminator");
    db_ = std::make_unique<TrainedNet>(db, rc, options("discriminator_b", "d"), total, device_, "networks.discriminator");
    Cfg vc = rc.child("val", true);
    val_images_ = vc.get<int64_t>("images", 4, 1, 64);
    paired_ = vc.get<bool>("paired", false);
    vc.finish();
    rc.finish();
    resolved_["networks"]["generator"] = gab->options_yaml();
    resolved_["networks"]["discriminator"] = da->options_yaml();
    resolved_["recipe"] = yaml_clone(rc.node());
    resolved_["recipe"]["gan"]["loss"] = adv_->name();
    resolved_["recipe"]["gan"]["weight"] = gan_weight_;
    for (const char* k : {"scheduler_g", "scheduler_d"})
      if (!resolved_["recipe"][k]) resolved_["recipe"][k] = YAML::Load("{type: linear}");
  }

  archs::CriticImpl& critic(TrainedNet& t) { return t.as<archs::CriticImpl>(); }

  // The discriminator's fakes from a pool. Distributed, the pool takes the global batch's fakes (so
  // it is the same on every rank, as one process's with the global batch), and each rank keeps its rows.
  static torch::Tensor pooled(ImagePool& pool, const torch::Tensor& fake) {
    const torch::Tensor all = pool.query(dist::all_gather_batch(fake.detach()));
    return dist::world_size() == 1 ? all : all.narrow(0, dist::rank() * fake.size(0), fake.size(0));
  }

  Scalars train_step(const data::Batch& batch, int64_t step) override {
    for (TrainedNet* t : {gab_.get(), gba_.get(), da_.get(), db_.get()}) t->net().train();
    archs::NetImpl &gab = gab_->net(), &gba = gba_->net();
    archs::CriticImpl &da = critic(*da_), &db = critic(*db_);
    const torch::Tensor a = batch.at("a").to(device_), b = batch.at("b").to(device_);
    Scalars out;
    torch::Tensor fake_b, fake_a;
    {
      FrozenParameters frozen{&da, &db};
      torch::Tensor loss;
      {
        auto autocast = precision_->autocast();
        fake_b = gab.forward(a).to(torch::kFloat32);
        fake_a = gba.forward(b).to(torch::kFloat32);
        const torch::Tensor rec_a = gba.forward(fake_b).to(torch::kFloat32), rec_b = gab.forward(fake_a).to(torch::kFloat32);
        const torch::Tensor none;
        const torch::Tensor g_ab = gan_weight_ * adv_->generator(adv_->generator_needs_real() ? db.score(b).to(torch::kFloat32).detach() : none,
                                                                 db.score(fake_b).to(torch::kFloat32));
        const torch::Tensor g_ba = gan_weight_ * adv_->generator(adv_->generator_needs_real() ? da.score(a).to(torch::kFloat32).detach() : none,
                                                                 da.score(fake_a).to(torch::kFloat32));
        const torch::Tensor cycle_a = lambda_a_ * l1_symmetric(rec_a, a), cycle_b = lambda_b_ * l1_symmetric(rec_b, b);
        loss = g_ab + g_ba + cycle_a + cycle_b;
        out["g_ab"] = g_ab.item<double>(), out["g_ba"] = g_ba.item<double>();
        out["cycle_a"] = cycle_a.item<double>(), out["cycle_b"] = cycle_b.item<double>();
        if (lambda_identity_ > 0) {
          const torch::Tensor idt_b = lambda_identity_ * lambda_b_ * l1_symmetric(gab.forward(b).to(torch::kFloat32), b);
          const torch::Tensor idt_a = lambda_identity_ * lambda_a_ * l1_symmetric(gba.forward(a).to(torch::kFloat32), a);
          loss = loss + idt_a + idt_b;
          out["identity_a"] = idt_a.item<double>(), out["identity_b"] = idt_b.item<double>();
        }
      }
      out["g_loss"] = loss.item<double>();
      precision_->check_loss(out["g_loss"], step, "generator loss");
      TrainedNet::step_together(loss, {gab_.get(), gba_.get()}, step);
    }
    torch::Tensor d_loss;
    {
      auto autocast = precision_->autocast();
      const torch::Tensor pooled_b = pooled(*pool_b_, fake_b), pooled_a = pooled(*pool_a_, fake_a);
      const torch::Tensor d_b = adv_->critic(db.score(b).to(torch::kFloat32), db.score(pooled_b).to(torch::kFloat32));
      const torch::Tensor d_a = adv_->critic(da.score(a).to(torch::kFloat32), da.score(pooled_a).to(torch::kFloat32));
      out["d_a"] = d_a.item<double>(), out["d_b"] = d_b.item<double>();
      d_loss = d_a + d_b;
    }
    precision_->check_loss(out["d_a"] + out["d_b"], step, "discriminator loss");
    TrainedNet::step_together(d_loss, {da_.get(), db_.get()}, step);
    out["lr_g"] = gab_->lr(step);
    return out;
  }

  ValResult validate(const data::Dataset* val, int64_t) override {
    auto* folder = dynamic_cast<const data::UnpairedFolderDataset*>(val);
    if (!folder) return {};
    torch::NoGradGuard ng;
    archs::NetImpl &gab = gab_->inference(), &gba = gba_->inference();
    gab.eval(), gba.eval();
    auto [a, b] = folder->first(static_cast<size_t>(val_images_));
    a = a.to(device_), b = b.to(device_);
    const torch::Tensor ab = gab.forward(a), aba = gba.forward(ab), ba = gba.forward(b), bab = gab.forward(ba);
    ValResult r;
    r.metrics["cycle_a_l1"] = (aba - a).abs().mean().item<double>();
    r.metrics["cycle_b_l1"] = (bab - b).abs().mean().item<double>();
    r.metrics["identity_a_l1"] = (gba.forward(a) - a).abs().mean().item<double>();
    r.metrics["identity_b_l1"] = (gab.forward(b) - b).abs().mean().item<double>();
    if (paired_) {
      // Aligned val folders (the same scene in both, e.g. datasets/cyclegan/testA, testB): how
      // close each translation is to its true counterpart, RGB PSNR of 8-bit images over all of them;
      // psnr_aba: how close the round trip G_ba(G_ab(a)) comes back to a.
      auto [all_a, all_b] = folder->first(std::numeric_limits<size_t>::max());
      double p_ab = 0, p_ba = 0, p_aba = 0;
      const metrics::QualityOptions q{false, 0};
      for (int64_t i = 0; i < all_a.size(0); ++i) {
        check_stop();
        const torch::Tensor x = all_a[i].unsqueeze(0).to(device_), y = all_b[i].unsqueeze(0).to(device_);
        const torch::Tensor xb = gab.forward(x);
        p_ab += metrics::psnr(io::quantize(xb[0].cpu()), io::quantize(all_b[i]), q) / all_a.size(0);
        p_aba += metrics::psnr(io::quantize(gba.forward(xb)[0].cpu()), io::quantize(all_a[i]), q) / all_a.size(0);
        p_ba += metrics::psnr(io::quantize(gba.forward(y)[0].cpu()), io::quantize(all_a[i]), q) / all_a.size(0);
      }
      r.metrics["psnr_ab"] = p_ab, r.metrics["psnr_ba"] = p_ba, r.metrics["psnr_aba"] = p_aba;
      best_ = "psnr_ab";
    }
    // Rows: inputs, translations, reconstructions.
    r.images.emplace_back("a_to_b_to_a", make_grid(torch::cat({a, ab.clamp(0, 1), aba.clamp(0, 1)}).to(torch::kCPU), a.size(0)));
    r.images.emplace_back("b_to_a_to_b", make_grid(torch::cat({b, ba.clamp(0, 1), bab.clamp(0, 1)}).to(torch::kCPU), b.size(0)));
    return r;
  }

  std::string best_metric() const override { return best_; }

  void check_data(const data::Dataset& train, const data::Dataset* val) const override {
    if (paired_ && val) {
      auto* u = dynamic_cast<const data::UnpairedFolderDataset*>(val);
      if (u && u->count_a() != u->count_b())
        throw ConfigError(file_ + ": recipe.val.paired is true but data.val's A and B folders hold different numbers of images");
    }
    for (auto [split, ds] : {std::pair{"train", &train}, std::pair{"val", val}}) {
      if (!ds) continue;
      auto* u = dynamic_cast<const data::UnpairedFolderDataset*>(ds);
      if (!u) throw ConfigError(file_ + ": data." + split + ": the cyclegan recipe trains on unpaired_folder datasets (a_dir, b_dir)");
      const int64_t k = gab_->net().size_multiple();
      if (u->crop() % k != 0)
        throw ConfigError(fmt::format("{}: data.{}.crop is {}: the generator needs a multiple of {}", file_, split, u->crop(), k));
    }
  }

  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override {
    return {{"generator_ab.safetensors", archs::net_weights(gab_->inference(), {{"tessera.direction", "A->B"}})},
            {"generator_ba.safetensors", archs::net_weights(gba_->inference(), {{"tessera.direction", "B->A"}})},
            {"discriminator_a.safetensors", archs::net_weights(da_->net())},
            {"discriminator_b.safetensors", archs::net_weights(db_->net())}};
  }
  void save_state(torch::serialize::OutputArchive& ar) override {
    for (TrainedNet* t : {gab_.get(), gba_.get(), da_.get(), db_.get()}) t->save(ar);
    pool_a_->save(ar, "pool_a");
    pool_b_->save(ar, "pool_b");
  }
  void load_state(torch::serialize::InputArchive& ar) override {
    for (TrainedNet* t : {gab_.get(), gba_.get(), da_.get(), db_.get()}) t->load(ar);
    pool_a_->load(ar, "pool_a");
    pool_b_->load(ar, "pool_b");
  }
  YAML::Node resolved_config() const override { return resolved_; }
  Precision* precision() override { return precision_.get(); }
  std::string summary() const override {
    return fmt::format("cyclegan: 2 x {} ({} params; {}) and 2 x {} ({} params; {}); {} GAN x {:g}, cycle {:g}/{:g}, identity {:g}",
                       gab_->net().type(), archs::count_parameters(gab_->net()), gab_->summary(), da_->net().type(),
                       archs::count_parameters(da_->net()), da_->summary(), adv_->name(), gan_weight_, lambda_a_, lambda_b_, lambda_identity_);
  }

 private:
  torch::Device device_;
  std::string file_;
  PrecisionPtr precision_;
  std::unique_ptr<TrainedNet> gab_, gba_, da_, db_;
  losses::AdversarialPtr adv_;
  double gan_weight_ = 2, lambda_a_ = 10, lambda_b_ = 10, lambda_identity_ = 0.5;
  std::unique_ptr<ImagePool> pool_a_, pool_b_;
  int64_t val_images_ = 4;
  bool paired_ = false;
  std::string best_;
  YAML::Node resolved_;
};

}  // namespace

void register_cyclegan_recipe(RecipeRegistry& r) {
  r.add("cyclegan", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<CycleGanRecipe>(root, d, total); });
}

}  // namespace tessera::recipes
