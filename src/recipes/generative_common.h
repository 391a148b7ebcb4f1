// What the generative recipes share (private to src/recipes): the real images of a labelled
// dataset, and the single-network recipe base of the autoencoder, VAE and classifier recipes.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>

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

// Labelled-image datasets must give images of the networks' input shape [C, H, W] (else a step fails
// mid-way with a shape error): a ConfigError naming the split, both shapes and the keys to change.
inline void check_image_shapes(const std::string& file, const data::Dataset& train, const data::Dataset* val,
                               const std::vector<int64_t>& want, const std::string& keys) {
  if (want.size() != 3) return;
  for (auto [split, ds] : {std::pair{"train", &train}, std::pair{"val", val}}) {
    auto* li = dynamic_cast<const data::LabelledImages*>(ds);
    if (!li) continue;
    const auto got = li->images().sizes().slice(1).vec();
    if (got != want)
      throw ConfigError(fmt::format("{}: data.{} gives images of [C, H, W] = [{}] but the networks take [{}]: set {} to match the data",
                                    file, split, fmt::join(got, ", "), fmt::join(want, ", "), keys));
  }
}

// ---------------- single-network recipes ----------------
// What the autoencoder, VAE and classifier recipes share: one network of type Net, one optimizer
// and schedule, and their checkpoint state.
template <class Net>
class SingleNetRecipe : public Recipe {
 public:
  SingleNetRecipe(Cfg& root, torch::Device device, int64_t total, const std::string& recipe_name, const std::string& want_types)
      : device_(device), file_(root.file()) {
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
  void check_data(const data::Dataset& train, const data::Dataset* val) const override {
    check_image_shapes(file_, train, val, net_->input_shape(), "network.image_size/channels");
  }
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
  std::string file_;
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
