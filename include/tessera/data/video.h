// Video files as temporal-SR input: frames decoded by OpenCV (its FFmpeg backend, or its own MJPEG
// AVI reader), motion vectors ESTIMATED with OpenCV's optical flow (a video carries none): for
// each pixel of frame t, where it was in frame t - 1 (current -> previous, the FSR 2 sign), in the
// video's pixels. A video has no jitter (zeros). The low-res frames are the video's own frames.
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>

namespace tessera::data {

// .mp4 .avi .mkv .mov .webm .m4v (by extension)
bool is_video_file(const std::string& path);

class VideoFrames {
 public:
  // flow: "dis" (DIS, medium preset; fast) or "farneback". Throws naming the file when OpenCV
  // cannot open or decode it.
  VideoFrames(const std::string& path, const std::string& flow = "dis");
  ~VideoFrames();
  // The next frame: rgb [3,h,w] float in [0,1], motion [2,h,w] (zeros for the first frame); false
  // at the end.
  bool next(torch::Tensor& rgb, torch::Tensor& motion);
  double fps() const;
  int64_t width() const, height() const;
  int64_t frame_count() const;  // as the container says (may be approximate)
  static constexpr const char* kProvenance = "estimated by OpenCV optical flow from the decoded frames";

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Writes frames ([3,H,W] in [0,1]) to a video file: .avi as MJPEG (OpenCV's own encoder), other
// extensions with the FFmpeg backend's codec for them (mp4v for .mp4). Throws naming the file.
class VideoWriter {
 public:
  VideoWriter(const std::string& path, double fps, int64_t width, int64_t height);
  ~VideoWriter();
  void write(const torch::Tensor& rgb);
  void close();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace tessera::data
