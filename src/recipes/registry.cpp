// The recipes layer's registrations: every recipe family, by name.
#include "tessera/recipes/generative.h"
#include "tessera/recipes/sr.h"
#include "tessera/recipes/style.h"
#include "tessera/recipes/temporal_sr.h"

namespace tessera::recipes {

RecipeRegistry& recipe_registry() {
  static RecipeRegistry r("recipe");
  return r;
}

void register_builtin_recipes() {
  auto& r = recipe_registry();
  if (r.contains("sr")) return;
  register_sr_recipe(r);
  register_sr_gan_recipes(r);
  register_generative_recipes(r);
  register_style_recipe(r);
  register_cyclegan_recipe(r);
  register_temporal_sr_recipe(r);
}

RecipePtr build_recipe(Cfg& root, torch::Device device, int64_t total_steps) {
  register_builtin_recipes();
  Cfg rc = root.child("recipe");
  std::string type = rc.req<std::string>("type");
  return recipe_registry().build(type, root, rc.where("type"), device, total_steps);
}

}  // namespace tessera::recipes
