// Line charts written as images (OpenCV drawing, no plotting library): what `tessera eval --plot`
// draws for the PSNR-per-frame curves of a sequence evaluation.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace tessera::io {

struct PlotSeries {
  std::string name;            // the legend's label
  std::vector<double> values;  // y at x = 0, 1, 2, ...; non-finite values leave gaps
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int width = 960, height = 540;
  double shade_until = 0;  // x values below this are shaded (e.g. the frames a warm-up leaves unscored); 0: none
};

// An RGB float image [3, height, width] in [0, 1]: axes with ticks at round values, a grid, one
// coloured line (with markers) per series and a legend. Throws tessera::Error when no series has a
// finite value.
torch::Tensor line_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt);

}  // namespace tessera::io
