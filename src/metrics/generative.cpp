#include "tessera/metrics/generative.h"

#include <cmath>

#include "tessera/core/error.h"

namespace tessera::metrics {

Gaussian gaussian_fit(const torch::Tensor& features) {
  TORCH_CHECK(features.dim() == 2 && features.size(0) >= 2, "gaussian_fit needs [N >= 2, D] features");
  torch::Tensor f = features.to(torch::kFloat64);
  torch::Tensor mean = f.mean(0);
  torch::Tensor c = f - mean;
  return {mean, c.t().matmul(c) / static_cast<double>(f.size(0) - 1)};
}

static torch::Tensor psd_sqrt(const torch::Tensor& m) {
  auto [evals, evecs] = torch::linalg_eigh(m);
  return evecs.matmul(torch::diag(evals.clamp_min(0).sqrt())).matmul(evecs.t());
}

double frechet_distance(const Gaussian& a, const Gaussian& b) {
  if (a.mean.sizes() != b.mean.sizes()) throw Error("FID: feature dimensions differ");
  torch::Tensor s1h = psd_sqrt(a.cov);
  torch::Tensor m = s1h.matmul(b.cov).matmul(s1h);
  m = (m + m.t()) / 2;
  torch::Tensor tr_sqrt = torch::linalg_eigvalsh(m).clamp_min(0).sqrt().sum();
  double d = (a.mean - b.mean).square().sum().item<double>() + a.cov.trace().item<double>() + b.cov.trace().item<double>() -
             2 * tr_sqrt.item<double>();
  return std::max(d, 0.0);
}

std::pair<double, double> inception_score(const torch::Tensor& probs, int64_t splits) {
  TORCH_CHECK(probs.dim() == 2, "inception_score needs [N, K] probabilities");
  torch::Tensor p = probs.to(torch::kFloat64);
  const int64_t n = p.size(0);
  splits = std::max<int64_t>(1, std::min(splits, n));
  std::vector<double> scores;
  for (int64_t s = 0; s < splits; ++s) {
    torch::Tensor part = p.narrow(0, s * n / splits, (s + 1) * n / splits - s * n / splits);
    torch::Tensor py = part.mean(0, true);
    torch::Tensor kl = (part * (torch::log(part + 1e-12) - torch::log(py + 1e-12))).sum(1).mean();
    scores.push_back(std::exp(kl.item<double>()));
  }
  double mean = 0, var = 0;
  for (double v : scores) mean += v / scores.size();
  for (double v : scores) var += (v - mean) * (v - mean) / scores.size();
  return {mean, std::sqrt(var)};
}

ModeCoverage mode_coverage(const torch::Tensor& samples, const torch::Tensor& modes, double std, double min_share) {
  torch::Tensor d = torch::cdist(samples.to(torch::kFloat64), modes.to(torch::kFloat64));  // [N, K]
  auto [dist, idx] = d.min(1);
  torch::Tensor hq = dist <= 3 * std;
  ModeCoverage r;
  r.modes = modes.size(0);
  r.high_quality = hq.to(torch::kFloat64).mean().item<double>();
  torch::Tensor counts = torch::bincount(idx.masked_select(hq), {}, r.modes);
  const double need = std::max(1.0, min_share * static_cast<double>(samples.size(0)) / r.modes);
  r.modes_covered = (counts.to(torch::kFloat64) >= need).sum().item<int64_t>();
  return r;
}

}  // namespace tessera::metrics
