#include "tessera/io/image_io.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <utility>
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

// The width and height a file's header declares, read before any decoder allocates for them (a
// decoder sizes its buffer from the header: a 50-byte BMP claiming 2048 x 524288 pixels made OpenCV
// ask for 3 GiB; found by tests/fuzz, regressions/image/bmp_huge_header.bmp). nullopt when the
// header is cut short or malformed. Only called on bytes known_image_format() accepted.
namespace {
struct ByteReader {
  const std::string& b;
  bool little = true;
  bool has(size_t at, size_t n) const { return at <= b.size() && n <= b.size() - at; }
  uint32_t u8(size_t at) const { return static_cast<unsigned char>(b[at]); }
  uint32_t u16(size_t at) const { return little ? u8(at) | u8(at + 1) << 8 : u8(at) << 8 | u8(at + 1); }
  uint32_t u24le(size_t at) const { return u8(at) | u8(at + 1) << 8 | u8(at + 2) << 16; }
  uint32_t u32(size_t at) const {
    return little ? u16(at) | u16(at + 2) << 16 : u16(at) << 16 | u16(at + 2);
  }
};
using Size2 = std::pair<uint64_t, uint64_t>;

std::optional<Size2> png_size(const ByteReader& r) {  // IHDR is the first chunk: width, height at 16, 20
  ByteReader be{r.b, false};
  if (!be.has(12, 12) || r.b.compare(12, 4, "IHDR") != 0) return std::nullopt;
  return Size2{be.u32(16), be.u32(20)};
}

// The first SOFn segment's frame size, found as libjpeg's next_marker() finds markers: bytes other
// than FF between segments are skipped (libjpeg warns and goes on), FF fill bytes are skipped, and
// FF 00 (a stuffed zero) is not a marker. A parser that read FF 00 as a segment with a length would
// see another frame than libjpeg's (found in review): libjpeg sizes the image from the first SOFn it
// meets, so this must meet the same one.
std::optional<Size2> jpeg_size(const ByteReader& r) {
  ByteReader be{r.b, false};
  size_t at = 2;  // after SOI
  for (;;) {
    while (be.has(at, 1) && be.u8(at) != 0xff) ++at;
    while (be.has(at, 1) && be.u8(at) == 0xff) ++at;
    if (!be.has(at, 1)) return std::nullopt;
    const uint32_t marker = be.u8(at++);
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;  // stuffed zero, TEM, RSTn: no length
    if (marker == 0xd8 || marker == 0xd9 || marker == 0xda || !be.has(at, 2)) return std::nullopt;  // SOI again, EOI or SOS before a frame
    const uint32_t len = be.u16(at);
    if (len < 2) return std::nullopt;
    if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc) {
      if (!be.has(at + 2, 5)) return std::nullopt;
      return Size2{be.u16(at + 5), be.u16(at + 3)};  // length, precision, height, width
    }
    at += len;
  }
}

std::optional<Size2> bmp_size(const ByteReader& r) {  // BITMAPCOREHEADER (12 bytes) or a later one
  if (!r.has(14, 4)) return std::nullopt;
  const uint32_t header = r.u32(14);
  if (header == 12) {
    if (!r.has(18, 4)) return std::nullopt;
    return Size2{r.u16(18), r.u16(20)};
  }
  if (header < 16 || !r.has(18, 8)) return std::nullopt;
  const int64_t w = static_cast<int32_t>(r.u32(18)), h = static_cast<int32_t>(r.u32(22));  // h < 0: top-down
  if (w < 0) return std::nullopt;
  return Size2{static_cast<uint64_t>(w), static_cast<uint64_t>(h < 0 ? -h : h)};
}

// ImageWidth (256), ImageLength (257) of the first IFD, and the pixels of the buffer OpenCV's TIFF
// decoder allocates per tile or strip: TileWidth x TileLength (322, 323), or the width times
// RowsPerStrip (278; 0 or 2^32-1: the height), not clamped to the image (OpenCV 4.6 does not). A
// tag given twice is refused: libtiff keeps the first, and a reader keeping the last would check
// another size than the decoder uses (found in review).
std::optional<Size2> tiff_size(const std::string& b, uint64_t* buffer_pixels) {
  ByteReader r{b, b[0] == 'I'};
  if (!r.has(4, 4)) return std::nullopt;
  const size_t ifd = r.u32(4);
  if (!r.has(ifd, 2)) return std::nullopt;
  const uint32_t n = r.u16(ifd);
  std::map<uint32_t, uint64_t> tags;
  for (uint32_t i = 0; i < n; ++i) {
    const size_t e = ifd + 2 + 12 * static_cast<size_t>(i);
    if (!r.has(e, 12)) return std::nullopt;
    const uint32_t tag = r.u16(e), type = r.u16(e + 2);
    if (tag != 256 && tag != 257 && tag != 278 && tag != 322 && tag != 323) continue;
    if ((type != 3 && type != 4) || tags.count(tag)) return std::nullopt;  // SHORT or LONG, once
    tags[tag] = type == 3 ? r.u16(e + 8) : r.u32(e + 8);
  }
  if (!tags.count(256) || !tags.count(257)) return std::nullopt;
  const uint64_t w = tags[256], h = tags[257];
  uint64_t tw = w, th = h;
  if (tags.count(322) || tags.count(323)) {
    if (!tags.count(322) || !tags.count(323)) return std::nullopt;
    tw = tags[322], th = tags[323];
  } else if (tags.count(278) && tags[278] != 0 && tags[278] != 0xffffffffu) {
    th = tags[278];
  }
  *buffer_pixels = tw * th;  // both < 2^32
  return Size2{w, h};
}

// OpenCV hands a RIFF/WEBP file to its WebP decoder only when libwebp's WebPGetFeatures accepts
// the first 32 bytes; otherwise it goes on to the decoders after it (GDAL, GDCM: a fuzzed
// "RIFF....WEBPVP8L" file reached GDCM, which allocated 3 GiB; regressions/image/webp_to_gdcm.webp).
// So these are libwebp's checks on those 32 bytes (src/dec/webp_dec.c ParseHeadersInternal, VP8GetInfo,
// VP8LGetInfo), at least as strict: a file passing them can only reach the WebP decoder.
std::optional<Size2> webp_size(const ByteReader& r) {  // the VP8 / VP8L / VP8X chunk after "WEBP"
  if (!r.has(0, 32)) return std::nullopt;
  const uint32_t riff_size = r.u32(4);
  if (riff_size < 12 || riff_size > 0xfffffff6u) return std::nullopt;
  const std::string chunk = r.b.substr(12, 4);
  if (chunk == "VP8X") {
    const uint64_t w = r.u24le(24) + uint64_t{1}, h = r.u24le(27) + uint64_t{1};
    if (r.u32(16) != 10 || w * h >= (uint64_t{1} << 32)) return std::nullopt;
    return Size2{w, h};
  }
  if (chunk != "VP8 " && chunk != "VP8L") return std::nullopt;
  const uint32_t size = r.u32(16);
  if (size > riff_size - 12) return std::nullopt;  // the chunk must fit in the RIFF payload after "WEBP" and its own header
  if (chunk == "VP8 ") {  // frame tag (key frame, profile <= 3, shown, first partition inside), start code
    const uint32_t tag = r.u24le(20);
    const bool frame_ok = !(tag & 1) && ((tag >> 1) & 7) <= 3 && ((tag >> 4) & 1) && (tag >> 5) < size;
    if (!frame_ok || r.u8(23) != 0x9d || r.u8(24) != 0x01 || r.u8(25) != 0x2a) return std::nullopt;
    const Size2 wh{r.u16(26) & 0x3fff, r.u16(28) & 0x3fff};
    if (wh.first == 0 || wh.second == 0) return std::nullopt;
    return wh;
  }
  if (r.u8(20) != 0x2f || (r.u8(24) >> 5) != 0) return std::nullopt;  // VP8L signature, version 0
  const uint32_t bits = r.u32(21);
  return Size2{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
}

std::optional<Size2> pnm_size(const std::string& b) {  // "P6 <width> <height> ...", '#' comments
  size_t at = 2;
  uint64_t v[2];
  for (uint64_t& x : v) {
    for (;;) {
      while (at < b.size() && std::isspace(static_cast<unsigned char>(b[at]))) ++at;
      if (at < b.size() && b[at] == '#') {
        while (at < b.size() && b[at] != '\n' && b[at] != '\r') ++at;
        continue;
      }
      break;
    }
    if (at >= b.size() || !std::isdigit(static_cast<unsigned char>(b[at]))) return std::nullopt;
    x = 0;
    while (at < b.size() && std::isdigit(static_cast<unsigned char>(b[at]))) {
      if (x > (uint64_t{1} << 40)) return std::nullopt;
      x = x * 10 + static_cast<uint64_t>(b[at++] - '0');
    }
  }
  return Size2{v[0], v[1]};
}

// `buffer_pixels`: a decoder buffer beyond the image that the header sizes (TIFF tiles), else 0.
std::optional<Size2> header_size(const std::string& b, uint64_t* buffer_pixels) {
  const ByteReader le{b, true};
  *buffer_pixels = 0;
  switch (b[0]) {
    case '\x89': return png_size(le);
    case '\xff': return jpeg_size(le);
    case 'B': return bmp_size(le);
    case 'I': case 'M': return tiff_size(b, buffer_pixels);
    case 'R': return webp_size(le);
    case 'P': return pnm_size(b);
    default: return std::nullopt;
  }
}
}  // namespace

uint64_t max_image_pixels() {
  const char* env = std::getenv("TESSERA_MAX_IMAGE_PIXELS");
  if (!env || !*env) return uint64_t{1} << 27;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(env, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || !std::isdigit(static_cast<unsigned char>(env[0])))
    throw ConfigError("TESSERA_MAX_IMAGE_PIXELS='" + std::string(env) + "' is not a positive whole number of pixels");
  return v;
}

Image decode_image(std::string bytes, const std::string& path) {
  if (bytes.empty()) throw Error("image '" + path + "' is an empty file (0 bytes)");
  if (!known_image_format(bytes))
    throw Error("image '" + path + "' is not a PNG, JPEG, BMP, TIFF, WebP or PPM/PGM file (its first bytes match none of their signatures)");
  uint64_t buffer_pixels = 0;
  const std::optional<Size2> size = header_size(bytes, &buffer_pixels);
  if (!size) throw Error("cannot decode image '" + path + "': its header is cut short or malformed (no width and height)");
  const auto [width, height] = *size;
  if (width == 0 || height == 0)
    throw Error("cannot decode image '" + path + "': its header declares " + std::to_string(width) + " x " + std::to_string(height) + " pixels");
  const uint64_t limit = max_image_pixels();
  const std::string raise = " (TESSERA_MAX_IMAGE_PIXELS raises it; a corrupt header is the likelier cause in a small file)";
  if (width > limit / height)
    throw Error("image '" + path + "' declares " + std::to_string(width) + " x " + std::to_string(height) +
                " pixels, over the limit of " + std::to_string(limit) + raise);
  if (buffer_pixels > limit)
    throw Error("image '" + path + "' declares tiles or strips of " + std::to_string(buffer_pixels) + " pixels, over the limit of " +
                std::to_string(limit) + raise);
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
  m.release();  // each copy is freed as soon as the next exists
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3, 1.0 / maxv);
  rgb.release();
  // One copy into planar RGB (clone always copies; contiguous() may not, e.g. for a 1x1 image).
  img.rgb = torch::from_blob(f.data, {f.rows, f.cols, 3}, torch::kFloat32).permute({2, 0, 1}).clone(torch::MemoryFormat::Contiguous);
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
