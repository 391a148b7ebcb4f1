// Recipe classifier: the small CNN whose penultimate layer is the FID/IS feature space.
#include "generative_common.h"

namespace tessera::recipes {

namespace {

class ClassifierRecipe : public SingleNetRecipe<archs::ClassifierImpl> {
 public:
  ClassifierRecipe(Cfg& root, torch::Device device, int64_t total) : SingleNetRecipe(root, device, total, "classifier", "classifier") {
    finish_config();
  }
  Scalars train_step(const data::Batch& batch, int64_t step) override {
    net_->train();
    torch::Tensor loss;
    {
      auto autocast = trained_->autocast();
      torch::Tensor logits = net_->forward(batch.at("image").to(device_)).to(torch::kFloat32);
      loss = torch::cross_entropy_loss(logits, batch.at("label").to(device_));
    }
    optimise(loss, step);
    return {{"loss", loss.item<double>()}};
  }
  ValResult validate(const data::Dataset* val, int64_t) override {
    auto* li = dynamic_cast<const data::LabelledImages*>(val);
    if (!li) return {};
    torch::NoGradGuard ng;
    net_->eval();
    torch::Tensor pred = net_->forward(li->images().to(device_)).argmax(1).to(torch::kCPU);
    net_->train();
    return {{{"accuracy", (pred == li->labels()).to(torch::kFloat64).mean().item<double>()}}, {}};
  }
  std::string best_metric() const override { return "accuracy"; }
  std::string summary() const override {
    return "classifier: " + std::to_string(archs::count_parameters(*net_)) + " params; " + trained_->summary();
  }
};


}  // namespace

void register_classifier_recipe(RecipeRegistry& r) {
  r.add("classifier", [](Cfg& root, torch::Device d, int64_t total) -> RecipePtr { return std::make_unique<ClassifierRecipe>(root, d, total); });
}

}  // namespace tessera::recipes
