#include "tessera/io/image_io.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cctype>
#include <filesystem>
#include <string_view>

#include "tessera/core/error.h"
#include "tessera/io/files.h"

namespace tessera::io {

namespace fs = std::filesystem;

static std::string lower_ext(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e;
}

bool is_image_file(const std::string& path) {
  static const char* exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"};
  std::string e = lower_ext(path);
  return std::any_of(std::begin(exts), std::end(exts), [&](const char* x) { return e == x; });
}

std::vector<std::string> list_images(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error("image folder '" + dir + "' does not exist or is not a folder");
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image_file(e.path().string())) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

Image read_image(const std::string& path) {
  if (!fs::exists(path)) throw Error("image '" + path + "' does not exist");
  if (fs::is_directory(path)) throw Error("image '" + path + "' is a folder, not an image file");
  return decode_image(read_file(path), path);
}

// The formats tessera reads, recognised by their leading bytes before any decoder sees the data.
// OpenCV would otherwise hand a file to whichever of its decoders claims it (DICOM, JPEG 2000,
// OpenEXR, Radiance HDR, GDAL, ...); some of those abort the process on malformed input (GDCM
// asserts: found by tests/fuzz, regressions/image/dicom_gdcm_assert.dcm).
static bool known_image_format(const std::string& b) {
  auto starts = [&](std::string_view sig, size_t at = 0) { return b.size() >= at + sig.size() && std::string_view(b).substr(at, sig.size()) == sig; };
  if (starts("\x89PNG\r\n\x1a\n")) return true;  // PNG
  if (starts("\xff\xd8\xff")) return true;  // JPEG
  if (starts("BM")) return true;  // BMP
  if (starts(std::string_view("II*\0", 4)) || starts(std::string_view("MM\0*", 4))) return true;  // TIFF, either byte order
  if (starts("RIFF") && starts("WEBP", 8)) return true;  // WebP
  if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(static_cast<unsigned char>(b[2]))) return true;  // PBM/PGM/PPM, ASCII or binary
  return false;
}

Image decode_image(std::string bytes, const std::string& path) {
  if (bytes.empty()) throw Error("image '" + path + "' is an empty file (0 bytes)");
  if (!known_image_format(bytes))
    throw Error("image '" + path + "' is not a PNG, JPEG, BMP, TIFF, WebP or PPM/PGM file (its first bytes match none of their signatures)");
  cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8U, bytes.data());
  cv::Mat m;
  try {
    m = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error("cannot decode image '" + path + "': " + e.what());
  }
  if (m.empty() || m.rows == 0 || m.cols == 0) throw Error("cannot decode image '" + path + "' (corrupt or not an image)");
  int depth = m.depth();
  if (depth != CV_8U && depth != CV_16U)
    throw Error("image '" + path + "' has an unsupported sample type (only 8- and 16-bit integer images)");
  cv::Mat rgb;
  switch (m.channels()) {
    case 1: cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(m, rgb, cv::COLOR_BGRA2RGB); break;
    default: throw Error("image '" + path + "' has " + std::to_string(m.channels()) + " channels; expected 1, 3 or 4");
  }
  Image img;
  img.bit_depth = depth == CV_16U ? 16 : 8;
  const double maxv = depth == CV_16U ? 65535.0 : 255.0;
  if (m.channels() == 4) {
    cv::Mat a, af;
    cv::extractChannel(m, a, 3);
    a.convertTo(af, CV_32F, 1.0 / maxv);
    img.alpha = torch::from_blob(af.data, {1, af.rows, af.cols}, torch::kFloat32).clone();
  }
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3, 1.0 / maxv);
  img.rgb = torch::from_blob(f.data, {f.rows, f.cols, 3}, torch::kFloat32).permute({2, 0, 1}).contiguous().clone();
  return img;
}

static cv::Mat to_mat(const torch::Tensor& rgb, int bit_depth) {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3, "image tensor must be [3,H,W], got ", rgb.sizes());
  const double maxv = bit_depth == 16 ? 65535.0 : 255.0;
  torch::Tensor hwc = (rgb.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1) * maxv).round()
                          .permute({1, 2, 0}).contiguous();
  torch::Tensor q = hwc.to(bit_depth == 16 ? torch::kInt32 : torch::kUInt8).contiguous();
  cv::Mat m;
  if (bit_depth == 16) {
    cv::Mat i32(static_cast<int>(q.size(0)), static_cast<int>(q.size(1)), CV_32SC3, q.data_ptr());
    i32.convertTo(m, CV_16UC3);
  } else {
    m = cv::Mat(static_cast<int>(q.size(0)), static_cast<int>(q.size(1)), CV_8UC3, q.data_ptr()).clone();
  }
  cv::Mat bgr;
  cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

bool supports_alpha(const std::string& path) {
  const std::string e = lower_ext(path);
  return e == ".png" || e == ".tif" || e == ".tiff" || e == ".webp";
}

void write_image(const std::string& path, const torch::Tensor& rgb, int bit_depth, const torch::Tensor& alpha) {
  std::string ext = lower_ext(path);
  if (!is_image_file(path)) throw ConfigError("cannot write image '" + path + "': unknown extension '" + ext + "'");
  if (bit_depth == 16 && ext != ".png" && ext != ".tif" && ext != ".tiff") bit_depth = 8;
  cv::Mat bgr = to_mat(rgb, bit_depth);
  if (alpha.defined() && supports_alpha(path)) {
    TORCH_CHECK(alpha.dim() == 3 && alpha.size(0) == 1 && alpha.size(1) == rgb.size(1) && alpha.size(2) == rgb.size(2),
                "alpha must be [1,H,W] matching the image, got ", alpha.sizes());
    cv::Mat a3 = to_mat(alpha.expand({3, -1, -1}), bit_depth), a, bgra;
    cv::extractChannel(a3, a, 0);
    std::vector<cv::Mat> planes;
    cv::split(bgr, planes);
    planes.push_back(a);
    cv::merge(planes, bgra);
    bgr = bgra;
  }
  std::vector<uchar> buf;
  if (!cv::imencode(ext, bgr, buf)) throw Error("cannot encode image '" + path + "'");
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

std::string encode_png(const torch::Tensor& rgb) {
  cv::Mat bgr = to_mat(rgb, 8);
  std::vector<uchar> buf;
  cv::imencode(".png", bgr, buf);
  return std::string(buf.begin(), buf.end());
}

torch::Tensor rgb_to_gray(const torch::Tensor& rgb) {
  TORCH_CHECK(rgb.dim() >= 3 && rgb.size(-3) == 3, "rgb_to_gray expects 3 channels at dim -3, got ", rgb.sizes());
  return (0.299 * rgb.select(-3, 0) + 0.587 * rgb.select(-3, 1) + 0.114 * rgb.select(-3, 2)).unsqueeze(-3);
}

torch::Tensor rgb_to_ycbcr(const torch::Tensor& rgb) {
  TORCH_CHECK(rgb.dim() >= 3 && rgb.size(-3) == 3, "rgb_to_ycbcr expects 3 channels at dim -3, got ", rgb.sizes());
  torch::Tensor r = rgb.select(-3, 0), g = rgb.select(-3, 1), b = rgb.select(-3, 2);
  torch::Tensor y = 0.299 * r + 0.587 * g + 0.114 * b;
  torch::Tensor cb = 0.5 + (b - y) / 1.772, cr = 0.5 + (r - y) / 1.402;
  return torch::stack({y, cb, cr}, -3);
}

torch::Tensor ycbcr_to_rgb(const torch::Tensor& ycc) {
  TORCH_CHECK(ycc.dim() >= 3 && ycc.size(-3) == 3, "ycbcr_to_rgb expects 3 channels at dim -3, got ", ycc.sizes());
  torch::Tensor y = ycc.select(-3, 0), cb = ycc.select(-3, 1) - 0.5, cr = ycc.select(-3, 2) - 0.5;
  torch::Tensor r = y + 1.402 * cr, b = y + 1.772 * cb;
  torch::Tensor g = (y - 0.299 * r - 0.114 * b) / 0.587;
  return torch::stack({r, g, b}, -3);
}

torch::Tensor quantize(const torch::Tensor& x, int bit_depth) {
  const double maxv = bit_depth == 16 ? 65535.0 : 255.0;
  return (x.clamp(0, 1) * maxv).round() / maxv;
}

}  // namespace tessera::io
