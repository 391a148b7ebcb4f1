// What the generative recipes share (private to src/recipes): the real images of a labelled
// dataset, and the single-network recipe base of the autoencoder, VAE and classifier recipes.
#pragma once
#include "tessera/archs/checkpoint.h"
#include "tessera/data/generative_datasets.h"
#include "tessera/recipes/generative.h"
#include "tessera/recipes/trained_net.h"

namespace tessera::recipes {

// The real images of a labelled dataset (for FID), at most n.
inline torch::Tensor real_images(const data::Dataset* val, int64_t n) {
  auto* li = dynamic_cast<const data::LabelledImages*>(val);
  if (!li) return {};
  return li->images().narrow(0, 0, std::min<int64_t>(n, li->images().size(0)));
}

// ---------------- single-network recipes ----------------
// What the autoencoder, VAE and classifier recipes share: one network of type Net, one optimizer
// and schedule, and their checkpoint state.
template <class Net>
class SingleNetRecipe : public Recipe {
 public:
  SingleNetRecipe(Cfg& root, torch::Device device, int64_t total, const std::string& recipe_name, const std::string& want_types)
      : device_(device) {
    Cfg nc = root.child("network");
    archs::NetPtr net = archs::build_arch(nc);
    net_ = std::dynamic_pointer_cast<Net>(net);
    if (!net_) throw ConfigError(root.file() + ": network.type must be " + want_types + " for the " + recipe_name + " recipe");
    rc_ = root.child("recipe");
    rc_.req<std::string>("type");
    precision_ = std::make_shared<Precision>(rc_, device_);
    TrainedNetOptions tno;
    tno.precision = precision_;
    trained_ = std::make_unique<TrainedNet>(net, rc_, tno, total, device_, "network");
  }
  std::vector<std::pair<std::string, io::TensorFile>> weight_files() override { return {{"model.safetensors", archs::net_weights(*net_)}}; }
  void save_state(torch::serialize::OutputArchive& ar) override { trained_->save(ar); }
  void load_state(torch::serialize::InputArchive& ar) override { trained_->load(ar); }
  YAML::Node resolved_config() const override { return resolved_; }
  Precision* precision() override { return precision_.get(); }

 protected:
  // Call at the end of the derived constructor, once every recipe key has been read.
  void finish_config() {
    rc_.finish();
    resolved_["network"] = net_->options_yaml();
    resolved_["recipe"] = yaml_clone(rc_.node());
  }
  void optimise(const torch::Tensor& loss, int64_t step) { trained_->step(loss, step); }

  torch::Device device_;
  std::shared_ptr<Net> net_;  // the trained network, typed
  Cfg rc_;
  PrecisionPtr precision_;
  std::unique_ptr<TrainedNet> trained_;
  YAML::Node resolved_;
};


void register_gan_recipes(RecipeRegistry& r);
void register_autoencoder_recipes(RecipeRegistry& r);
void register_classifier_recipe(RecipeRegistry& r);

}  // namespace tessera::recipes
