// Measures of generative models: FID and IS on a pluggable feature network's outputs, and mode
// coverage on 2D toy mixtures.
#pragma once
#include <torch/types.h>

namespace tessera::metrics {

struct Gaussian {
  torch::Tensor mean;  // [D] float64
  torch::Tensor cov;   // [D, D] float64, unbiased (N - 1), as numpy.cov
};
Gaussian gaussian_fit(const torch::Tensor& features);  // [N, D]

// ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) in float64. The trace of the square root is
// computed from the eigenvalues of S1^{1/2} S2 S1^{1/2} (symmetric PSD, same spectrum as S1 S2).
double frechet_distance(const Gaussian& a, const Gaussian& b);

// exp(E_x KL(p(y|x) || p(y))) over `splits` equal splits of the class probabilities [N, K];
// returns {mean, std} over splits.
std::pair<double, double> inception_score(const torch::Tensor& probs, int64_t splits = 10);

struct ModeCoverage {
  int64_t modes_covered = 0;  // modes with at least `min_share` of their fair share of high-quality samples
  int64_t modes = 0;
  double high_quality = 0;    // fraction of samples within 3 std of their nearest mode
};
ModeCoverage mode_coverage(const torch::Tensor& samples, const torch::Tensor& modes, double std, double min_share = 0.1);

}  // namespace tessera::metrics
