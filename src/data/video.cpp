#include "tessera/data/video.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/video/tracking.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <filesystem>

#include "tessera/core/error.h"

namespace tessera::data {

namespace fs = std::filesystem;

bool is_video_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".mp4" || ext == ".avi" || ext == ".mkv" || ext == ".mov" || ext == ".webm" || ext == ".m4v";
}

struct VideoFrames::State {
  std::string path, flow;
  cv::VideoCapture cap;
  cv::Mat prev_gray;
  cv::Ptr<cv::DISOpticalFlow> dis;
  int64_t index = 0, w = 0, h = 0;
};

VideoFrames::VideoFrames(const std::string& path, const std::string& flow) : s_(std::make_unique<State>()) {
  s_->path = path;
  s_->flow = flow;
  if (flow != "dis" && flow != "farneback") throw ConfigError("optical flow '" + flow + "': use dis or farneback");
  if (!fs::is_regular_file(path)) throw Error("video '" + path + "' does not exist");
  // FFmpeg's reader first (OpenCV's own MJPEG reader for what it cannot open), not every backend in turn.
  if (!s_->cap.open(path, cv::CAP_FFMPEG) && !s_->cap.open(path, cv::CAP_OPENCV_MJPEG)) throw Error("OpenCV cannot open the video '" + path + "' (an unsupported container or codec?)");
  s_->w = static_cast<int64_t>(s_->cap.get(cv::CAP_PROP_FRAME_WIDTH));
  s_->h = static_cast<int64_t>(s_->cap.get(cv::CAP_PROP_FRAME_HEIGHT));
  if (flow == "dis") s_->dis = cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
}

VideoFrames::~VideoFrames() = default;

bool VideoFrames::next(torch::Tensor& rgb, torch::Tensor& motion) {
  cv::Mat bgr;
  if (!s_->cap.read(bgr) || bgr.empty()) {
    if (s_->index == 0) throw Error("video '" + s_->path + "' has no frame OpenCV can decode");
    return false;
  }
  if (bgr.channels() == 1) cv::cvtColor(bgr, bgr, cv::COLOR_GRAY2BGR);
  else if (bgr.channels() == 4) cv::cvtColor(bgr, bgr, cv::COLOR_BGRA2BGR);
  if (bgr.depth() != CV_8U) throw Error("video '" + s_->path + "': frame " + std::to_string(s_->index) + " is not 8-bit");
  s_->w = bgr.cols, s_->h = bgr.rows;
  cv::Mat rgb8, gray;
  cv::cvtColor(bgr, rgb8, cv::COLOR_BGR2RGB);
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  rgb = torch::from_blob(rgb8.data, {bgr.rows, bgr.cols, 3}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat32).div(255).contiguous();
  if (s_->index == 0 || s_->prev_gray.size() != gray.size()) {
    motion = torch::zeros({2, bgr.rows, bgr.cols});
  } else {
    // calc(I0 = current, I1 = previous): current(x) ~ previous(x + flow(x)), the current -> previous sign.
    cv::Mat flow;
    if (s_->dis) s_->dis->calc(gray, s_->prev_gray, flow);
    else cv::calcOpticalFlowFarneback(gray, s_->prev_gray, flow, 0.5, 3, 15, 3, 5, 1.2, 0);
    motion = torch::from_blob(flow.data, {flow.rows, flow.cols, 2}, torch::kFloat32).permute({2, 0, 1}).contiguous();
  }
  s_->prev_gray = gray;
  ++s_->index;
  return true;
}

double VideoFrames::fps() const {
  const double f = s_->cap.get(cv::CAP_PROP_FPS);
  return f > 0 && f < 1000 ? f : 30.0;
}
int64_t VideoFrames::width() const { return s_->w; }
int64_t VideoFrames::height() const { return s_->h; }
int64_t VideoFrames::frame_count() const { return static_cast<int64_t>(s_->cap.get(cv::CAP_PROP_FRAME_COUNT)); }

struct VideoWriter::State {
  std::string path;
  cv::VideoWriter writer;
  int64_t w = 0, h = 0;
};

VideoWriter::VideoWriter(const std::string& path, double fps, int64_t width, int64_t height) : s_(std::make_unique<State>()) {
  s_->path = path;
  s_->w = width, s_->h = height;
  if (!is_video_file(path)) throw ConfigError("output '" + path + "' is not a video file name (.avi, .mp4, .mkv, ...)");
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool avi = ext == ".avi";
  const int fourcc = avi ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G') : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
  const cv::Size size(static_cast<int>(width), static_cast<int>(height));
  const bool ok = avi ? s_->writer.open(path, cv::CAP_OPENCV_MJPEG, fourcc, fps, size) : s_->writer.open(path, fourcc, fps, size);
  if (!ok) throw Error("OpenCV cannot write the video '" + path + "' (no encoder for " + ext + " here; .avi always works)");
}

VideoWriter::~VideoWriter() = default;

void VideoWriter::write(const torch::Tensor& rgb) {
  if (rgb.size(1) != s_->h || rgb.size(2) != s_->w)
    throw Error("video '" + s_->path + "': a frame of " + std::to_string(rgb.size(2)) + "x" + std::to_string(rgb.size(1)) + " for a " +
                std::to_string(s_->w) + "x" + std::to_string(s_->h) + " video");
  torch::Tensor u8 = (rgb.clamp(0, 1) * 255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  cv::Mat m(static_cast<int>(s_->h), static_cast<int>(s_->w), CV_8UC3, u8.data_ptr()), bgr;
  cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
  s_->writer.write(bgr);
}

void VideoWriter::close() { s_->writer.release(); }

}  // namespace tessera::data
