// Recipe `style` (feed-forward style networks, Johnson et al. 2016); see src/recipes/style.cpp.
#pragma once
#include "tessera/recipes/recipe.h"

namespace tessera::recipes {

void register_style_recipe(RecipeRegistry& r);

}  // namespace tessera::recipes
