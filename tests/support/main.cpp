// Catch2 main with the seed fixture: every test case starts from the same LibTorch RNG state.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#include <torch/torch.h>

struct SeedListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const&) override { torch::manual_seed(0); }
};
CATCH_REGISTER_LISTENER(SeedListener)
