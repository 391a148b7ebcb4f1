#include "tessera/io/plot.h"

#include <fmt/format.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tessera/core/error.h"

namespace tessera::io {

namespace {

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over `span`.
double tick_step(double span, int target) {
  const double raw = span / std::max(target, 1);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

std::string tick_label(double v, double step) {
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return fmt::format("{:.{}f}", v, decimals);
}

}  // namespace

torch::Tensor line_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  size_t n = 0;
  for (const auto& s : series) {
    n = std::max(n, s.values.size());
    for (double v : s.values)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) throw Error("nothing to plot: no series has a finite value");
  if (hi - lo <= 1e-9 * std::max(1.0, std::abs(hi))) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  const double x_max = std::max<double>(static_cast<double>(n) - 1, 1);

  // Black on white, BGR (OpenCV's order, converted to RGB at the end).
  cv::Mat img(opt.height, opt.width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const double fs = 0.45;
  // The legend goes under the x axis's label, one series per line.
  const int legend_h = 18 * static_cast<int>(series.size()) + 8;
  const int left = 70, right = 20, top = opt.title.empty() ? 20 : 40, bottom = 55 + legend_h;
  const cv::Rect area(left, top, opt.width - left - right, opt.height - top - bottom);
  if (area.width < 360 || area.height < 100) throw Error(fmt::format("a {}x{} plot is too small for {} series", opt.width, opt.height, series.size()));
  auto px = [&](double x) { return area.x + static_cast<int>(std::lround(x / x_max * area.width)); };
  auto py = [&](double y) { return area.y + area.height - static_cast<int>(std::lround((y - lo) / (hi - lo) * area.height)); };

  if (opt.shade_until > 0)
    cv::rectangle(img, cv::Point(area.x, area.y), cv::Point(px(std::min(opt.shade_until, x_max)), area.y + area.height),
                  cv::Scalar(235, 235, 235), cv::FILLED);
  const cv::Scalar grid(210, 210, 210), ink(0, 0, 0);
  const double ys = tick_step(hi - lo, 6);
  const double y0 = std::ceil(lo / ys);
  for (int k = 0; k <= 100 && (y0 + k) * ys <= hi; ++k) {  // an index, not y += ys: no drift, no stall
    const double y = (y0 + k) * ys;
    cv::line(img, cv::Point(area.x, py(y)), cv::Point(area.x + area.width, py(y)), grid, 1);
    const std::string t = tick_label(y, ys);
    int base = 0;
    const cv::Size sz = cv::getTextSize(t, font, fs, 1, &base);
    cv::putText(img, t, cv::Point(area.x - 6 - sz.width, py(y) + sz.height / 2), font, fs, ink, 1, cv::LINE_AA);
  }
  const double xs = std::max(1.0, tick_step(x_max, 10));
  for (int k = 0; k <= 100 && k * xs <= x_max + 1e-9; ++k) {
    const double x = k * xs;
    cv::line(img, cv::Point(px(x), area.y), cv::Point(px(x), area.y + area.height), grid, 1);
    const std::string t = tick_label(x, xs);
    int base = 0;
    const cv::Size sz = cv::getTextSize(t, font, fs, 1, &base);
    cv::putText(img, t, cv::Point(px(x) - sz.width / 2, area.y + area.height + 6 + sz.height), font, fs, ink, 1, cv::LINE_AA);
  }
  cv::rectangle(img, area, ink, 1);
  if (!opt.title.empty()) {
    int base = 0;
    const cv::Size sz = cv::getTextSize(opt.title, font, 0.6, 1, &base);
    cv::putText(img, opt.title, cv::Point((opt.width - sz.width) / 2, 25), font, 0.6, ink, 1, cv::LINE_AA);
  }
  if (!opt.x_label.empty()) {
    int base = 0;
    const cv::Size sz = cv::getTextSize(opt.x_label, font, fs, 1, &base);
    cv::putText(img, opt.x_label, cv::Point(area.x + (area.width - sz.width) / 2, area.y + area.height + 44), font, fs, ink, 1, cv::LINE_AA);
  }
  if (!opt.y_label.empty()) {  // written horizontally, then turned to read bottom to top
    int base = 0;
    const cv::Size sz = cv::getTextSize(opt.y_label, font, fs, 1, &base);
    cv::Mat label(sz.height + base + 4, sz.width + 4, CV_8UC3, cv::Scalar(255, 255, 255)), turned;
    cv::putText(label, opt.y_label, cv::Point(2, sz.height + 2), font, fs, ink, 1, cv::LINE_AA);
    cv::rotate(label, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int y0 = std::max(0, area.y + (area.height - turned.rows) / 2);
    if (turned.rows + y0 <= img.rows && turned.cols + 4 <= left) turned.copyTo(img(cv::Rect(4, y0, turned.cols, turned.rows)));
  }

  // Tableau's first colours (BGR), then repeats.
  const cv::Scalar colours[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214}, {189, 103, 148}, {75, 86, 140}, {194, 119, 227}};
  auto colour = [&](size_t i) { return colours[i % std::size(colours)]; };
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& v = series[i].values;
    for (size_t t = 0; t < v.size(); ++t) {
      if (!std::isfinite(v[t])) continue;
      const cv::Point p(px(static_cast<double>(t)), py(v[t]));
      if (t > 0 && std::isfinite(v[t - 1]))
        cv::line(img, cv::Point(px(static_cast<double>(t - 1)), py(v[t - 1])), p, colour(i), 2, cv::LINE_AA);
      cv::circle(img, p, 3, colour(i), cv::FILLED, cv::LINE_AA);
    }
  }
  for (size_t i = 0; i < series.size(); ++i) {
    const int y = opt.height - legend_h + 18 * static_cast<int>(i) + 8;
    cv::line(img, cv::Point(area.x, y - 4), cv::Point(area.x + 24, y - 4), colour(i), 2, cv::LINE_AA);
    cv::putText(img, series[i].name, cv::Point(area.x + 30, y), font, 0.4, ink, 1, cv::LINE_AA);
  }

  cv::Mat rgb, f;
  cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(f, CV_32FC3, 1.0 / 255);
  return torch::from_blob(f.data, {f.rows, f.cols, 3}, torch::kFloat32).permute({2, 0, 1}).contiguous().clone();
}

}  // namespace tessera::io
