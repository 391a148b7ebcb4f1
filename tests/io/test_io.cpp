#include <catch2/catch.hpp>
#include <array>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "../support/support.h"
#include "tessera/core/config.h"
#include "tessera/core/error.h"
#include "tessera/io/event_log.h"
#include "tessera/io/files.h"
#include "tessera/io/image_io.h"
#include "tessera/io/safetensors.h"

using namespace tessera;
using Catch::Matchers::Contains;

TEST_CASE("safetensors round trip keeps names, dtypes, shapes, values and metadata", "[io][safetensors]") {
  io::TensorFile f;
  f.tensors = {{"a.weight", torch::randn({3, 4, 2})},
               {"b", torch::arange(10, torch::kInt64)},
               {"half", torch::randn({5}).to(torch::kFloat16)},
               {"bf", torch::randn({2, 2}).to(torch::kBFloat16)},
               {"u8", torch::randint(0, 255, {7}, torch::kUInt8)},
               {"empty", torch::zeros({0, 3})}};
  f.metadata = {{"k", "v"}, {"tessera.arch", "type: edsr\n"}};
  std::string bytes = io::safetensors_bytes(f);
  uint64_t hl;
  std::memcpy(&hl, bytes.data(), 8);
  REQUIRE((8 + hl) % 8 == 0);  // header padded like the reference writer
  io::TensorFile g = io::parse_safetensors(bytes, "mem");
  REQUIRE(g.metadata == f.metadata);
  REQUIRE(g.tensors.size() == f.tensors.size());
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    REQUIRE(g.tensors[i].first == f.tensors[i].first);
    REQUIRE(g.tensors[i].second.scalar_type() == f.tensors[i].second.scalar_type());
    REQUIRE(torch::equal(g.tensors[i].second, f.tensors[i].second));
  }
}

TEST_CASE("truncated or corrupt safetensors give an error naming the file", "[io][safetensors]") {
  io::TensorFile f;
  f.tensors = {{"w", torch::randn({64})}};
  std::string bytes = io::safetensors_bytes(f);
  REQUIRE_THROWS_WITH(io::parse_safetensors(bytes.substr(0, bytes.size() - 10), "x.safetensors"),
                      Contains("x.safetensors") && Contains("truncated"));
  REQUIRE_THROWS_WITH(io::parse_safetensors("abc", "y.safetensors"), Contains("too short"));
  std::string bad = bytes;
  bad[8] = '#';  // the header's opening brace
  REQUIRE_THROWS_WITH(io::parse_safetensors(bad, "z.safetensors"), Contains("z.safetensors"));
  REQUIRE_THROWS_AS(io::parse_safetensors(bytes + "xx", "t"), Error);
}

namespace {
// A safetensors file from a raw JSON header and a data section, for the refusal tests.
std::string raw_safetensors(const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
  const uint64_t hl = claimed_len ? claimed_len : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((hl >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\x01');
}
std::string f32(const std::string& name, const std::string& shape, uint64_t b, uint64_t e) {
  return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(b) +
         "," + std::to_string(e) + "]}";
}
}  // namespace

TEST_CASE("the safetensors reader refuses each malformed layout with its own message", "[io][safetensors]") {
  auto refuses = [](const std::string& bytes, const std::string& why) {
    INFO(why);
    REQUIRE_THROWS_WITH(io::parse_safetensors(bytes, "m.safetensors"), Contains("m.safetensors") && Contains(why));
  };
  // A well-formed control, so each case below differs from a valid file in one point only.
  REQUIRE_NOTHROW(io::parse_safetensors(raw_safetensors("{" + f32("a", "[2]", 0, 8) + "," + f32("b", "[1]", 8, 12) + "}", 12), "m"));
  refuses(raw_safetensors("{}", 0, 4096), "exceeds the file");
  refuses(raw_safetensors("{}", 0, 100'000'001), "over the 100 MB limit");
  refuses(raw_safetensors("{\"a\":", 0), "not JSON");
  refuses(raw_safetensors("[1,2]", 0), "not a JSON object");
  refuses(raw_safetensors("{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "unknown dtype");
  refuses(raw_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "lacks shape or data_offsets");
  refuses(raw_safetensors("{" + f32("a", "[2]", 0, 8) + "," + f32("b", "[2]", 4, 12) + "}", 12), "overlap");
  refuses(raw_safetensors("{" + f32("a", "[1]", 0, 4) + "," + f32("b", "[1]", 8, 12) + "}", 12), "gap");
  refuses(raw_safetensors("{" + f32("a", "[4]", 0, 16) + "}", 8), "beyond the end of the file");
  refuses(raw_safetensors("{" + f32("a", "[3]", 0, 8) + "}", 8), "do not match its shape and dtype");
  refuses(raw_safetensors("{" + f32("a", "[1]", 0, 4) + "}", 8), "trailing bytes");
  // A shape whose byte count overflows 64 bits is refused before anything is allocated.
  refuses(raw_safetensors("{" + f32("a", "[4294967296,4294967296,16]", 0, 0) + "}", 0), "byte size overflows 64 bits");
  refuses(raw_safetensors("{" + f32("a", "[-1]", 0, 4) + "}", 4), "negative or non-integer dimension");
  refuses(raw_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 4),
          "not two non-negative integers");
  refuses(raw_safetensors("{\"__metadata__\":{\"k\":1}}", 0), "metadata value of 'k' is not a string");
}

// Inputs the fuzzers found or that guard a past bug (tests/fuzz/regressions/<target>/): each must be
// refused with tessera::Error or accepted, never crash or leak another exception type.
TEST_CASE("fuzz regression inputs are refused cleanly", "[io][fuzz]") {
  const auto root = test::source_dir() / "tests" / "fuzz" / "regressions";
  const std::map<std::string, std::function<void(const std::string&, const std::string&)>> readers = {
      {"safetensors", [](const std::string& b, const std::string& src) { io::parse_safetensors(b, src); }},
      {"image", [](const std::string& b, const std::string& src) { io::decode_image(b, src); }},
      {"config", [](const std::string& b, const std::string& src) { load_yaml_text(b, src); }}};
  int n = 0;
  for (const auto& [target, read] : readers) {
    for (const auto& e : std::filesystem::directory_iterator(root / target)) {
      if (e.path().filename().string().front() == '.') continue;
      INFO(e.path().string());
      try {
        read(io::read_file(e.path()), e.path().string());
      } catch (const Error&) {
      }
      ++n;
    }
  }
  REQUIRE(n >= 3);
}

TEST_CASE("atomic writes replace the file whole", "[io]") {
  auto dir = test::temp_dir("atomic");
  auto p = dir / "f.bin";
  io::write_file_atomic(p, "first");
  io::write_file_atomic(p, "second");
  REQUIRE(io::read_file(p) == "second");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) (void)e, ++n;
  REQUIRE(n == 1);  // no temp files left behind
}

TEST_CASE("images round trip in 8 and 16 bits, RGB order kept", "[io][image]") {
  auto dir = test::temp_dir("images");
  torch::Tensor img = torch::rand({3, 17, 23});
  img[0].fill_(1.0);  // pure red channel: a BGR mix-up would show
  img[2].fill_(0.0);
  io::write_image((dir / "a.png").string(), img, 8);
  auto r8 = io::read_image((dir / "a.png").string());
  REQUIRE(r8.bit_depth == 8);
  REQUIRE(torch::allclose(r8.rgb, io::quantize(img, 8)));
  io::write_image((dir / "b.png").string(), img, 16);
  auto r16 = io::read_image((dir / "b.png").string());
  REQUIRE(r16.bit_depth == 16);
  REQUIRE((r16.rgb - img).abs().max().item<float>() <= 0.5f / 65535 + 1e-6f);
  REQUIRE(r16.rgb[0].min().item<float>() == 1.0f);
}

TEST_CASE("gray images become RGB, corrupt images name the file", "[io][image]") {
  auto img = io::read_image((test::data_dir() / "train" / "camera.png").string());
  REQUIRE(img.rgb.size(0) == 3);
  REQUIRE(torch::equal(img.rgb[0], img.rgb[1]));
  auto dir = test::temp_dir("corrupt_image");
  std::ofstream(dir / "broken.png") << "not a png at all";
  REQUIRE_THROWS_WITH(io::read_image((dir / "broken.png").string()), Contains("broken.png"));
  REQUIRE_THROWS_WITH(io::read_image((dir / "nope.png").string()), Contains("nope.png") && Contains("does not exist"));
}

TEST_CASE("only the formats tessera reads reach a decoder", "[io][image]") {
  // Each accepted format decodes (written by OpenCV); the same pixels in formats tessera does not
  // read, and a DICOM preamble, are refused by their leading bytes before any decoder runs.
  cv::Mat m(5, 7, CV_8UC3, cv::Scalar(10, 20, 30)), gray(5, 7, CV_8UC1, cv::Scalar(40));
  for (const std::string ext : {".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm", ".pgm"}) {
    std::vector<uchar> buf;
    REQUIRE(cv::imencode(ext, ext == ".pgm" ? gray : m, buf));
    auto img = io::decode_image(std::string(buf.begin(), buf.end()), "x" + ext);
    CHECK(img.rgb.size(1) == 5);
    CHECK(img.rgb.size(2) == 7);
  }
  std::vector<uchar> buf;
  REQUIRE(cv::imencode(".ras", m, buf));  // Sun raster: OpenCV decodes it, tessera does not take it
  REQUIRE_THROWS_WITH(io::decode_image(std::string(buf.begin(), buf.end()), "x.ras"),
                      Contains("x.ras") && Contains("not a PNG, JPEG, BMP, TIFF, WebP or PPM/PGM file"));
  std::string dicom(128, '\0');
  dicom += "DICM";
  dicom += std::string(64, '\xff');
  REQUIRE_THROWS_WITH(io::decode_image(dicom, "scan.dcm"), Contains("scan.dcm") && Contains("signatures"));
  cv::Mat f(4, 4, CV_32FC3, cv::Scalar(0.5, 0.5, 0.5));
  REQUIRE(cv::imencode(".tif", f, buf));
  REQUIRE_THROWS_WITH(io::decode_image(std::string(buf.begin(), buf.end()), "f32.tif"),
                      Contains("f32.tif") && Contains("only 8- and 16-bit integer images"));
}

TEST_CASE("an image's declared size is checked before a decoder allocates for it", "[io][image]") {
  // Each format's header is read for its size: with the limit at 35 pixels a 7 x 5 image decodes,
  // at 34 it is refused naming the file and the size, whatever the format's header layout.
  cv::Mat m(5, 7, CV_8UC3, cv::Scalar(10, 20, 30)), gray(5, 7, CV_8UC1, cv::Scalar(40)), rgba(5, 7, CV_8UC4, cv::Scalar(1, 2, 3, 4));
  struct Case { std::string ext; cv::Mat mat; std::vector<int> params; };
  const std::vector<Case> cases = {
      {".png", m, {}}, {".jpg", m, {}}, {".jpg", m, {cv::IMWRITE_JPEG_PROGRESSIVE, 1}}, {".bmp", m, {}},
      {".tif", m, {}}, {".webp", m, {cv::IMWRITE_WEBP_QUALITY, 90}}, {".webp", m, {cv::IMWRITE_WEBP_QUALITY, 101}},
      {".webp", rgba, {cv::IMWRITE_WEBP_QUALITY, 90}}, {".ppm", m, {}}, {".pgm", gray, {}},
      {".ppm", m, {cv::IMWRITE_PXM_BINARY, 0}}};
  struct EnvGuard { ~EnvGuard() { unsetenv("TESSERA_MAX_IMAGE_PIXELS"); } } guard;
  for (const auto& c : cases) {
    std::vector<uchar> buf;
    REQUIRE(cv::imencode(c.ext, c.mat, buf, c.params));
    const std::string bytes(buf.begin(), buf.end());
    INFO(c.ext << " " << bytes.substr(0, 16));
    setenv("TESSERA_MAX_IMAGE_PIXELS", "35", 1);
    CHECK(io::decode_image(bytes, "ok" + c.ext).rgb.sizes() == torch::IntArrayRef({3, 5, 7}));
    setenv("TESSERA_MAX_IMAGE_PIXELS", "34", 1);
    CHECK_THROWS_WITH(io::decode_image(bytes, "big" + c.ext),
                      Contains("big" + c.ext) && Contains("declares 7 x 5 pixels, over the limit of 34") && Contains("TESSERA_MAX_IMAGE_PIXELS"));
  }
  setenv("TESSERA_MAX_IMAGE_PIXELS", "lots", 1);
  REQUIRE_THROWS_AS(io::max_image_pixels(), ConfigError);
  REQUIRE_THROWS_WITH(io::max_image_pixels(), Contains("TESSERA_MAX_IMAGE_PIXELS='lots'"));
  unsetenv("TESSERA_MAX_IMAGE_PIXELS");
  REQUIRE(io::max_image_pixels() == (uint64_t{1} << 27));
  // The fuzzer's find: 50 bytes of BMP declaring 2048 x 524288 pixels (OpenCV asked for 3 GiB).
  const auto bmp = test::source_dir() / "tests" / "fuzz" / "regressions" / "image" / "bmp_huge_header.bmp";
  REQUIRE_THROWS_WITH(io::decode_image(io::read_file(bmp), "huge.bmp"), Contains("huge.bmp") && Contains("declares 2048 x 524288 pixels"));
  // A RIFF/WEBP file libwebp would not take: OpenCV passed it on to GDCM (3 GiB). Refused here, as is
  // a WebP under the 32 bytes OpenCV's signature check needs.
  const auto webp = test::source_dir() / "tests" / "fuzz" / "regressions" / "image" / "webp_to_gdcm.webp";
  REQUIRE_THROWS_WITH(io::decode_image(io::read_file(webp), "odd.webp"), Contains("odd.webp") && Contains("header is cut short or malformed"));
  {
    std::vector<uchar> w;
    REQUIRE(cv::imencode(".webp", m, w, {cv::IMWRITE_WEBP_QUALITY, 101}));
    REQUIRE_THROWS_WITH(io::decode_image(std::string(w.begin(), w.begin() + 31), "short.webp"), Contains("header is cut short"));
  }
  // A PNG whose IHDR claims 100000 x 100000, and one cut off inside its IHDR.
  std::vector<uchar> buf;
  REQUIRE(cv::imencode(".png", m, buf));
  std::string png(buf.begin(), buf.end());
  for (int at : {16, 20}) png.replace(at, 4, std::string("\x00\x01\x86\xa0", 4));
  REQUIRE_THROWS_WITH(io::decode_image(png, "claims.png"), Contains("declares 100000 x 100000 pixels"));
  REQUIRE_THROWS_WITH(io::decode_image(png.substr(0, 20), "cut.png"), Contains("cut.png") && Contains("header is cut short or malformed"));
  // Found in review: a JPEG whose FF 00 (a stuffed zero to libjpeg) a parser could take for a
  // segment hiding the first frame header; TIFF tags given twice (libtiff keeps the first); TIFF
  // strips or tiles larger than the image, which OpenCV allocates per strip or tile.
  const std::string jpeg_ff00 = std::string("\xff\xd8\xff\x00\xff\xc0\x00\x11\x08\x80\x00\x80\x00\x03", 14) + std::string(24, '\0');
  REQUIRE_THROWS_WITH(io::decode_image(jpeg_ff00, "ff00.jpg"), Contains("declares 32768 x 32768 pixels"));
  auto tiff = [](bool little, std::vector<std::array<uint32_t, 3>> entries) {  // tag, type (3 SHORT, 4 LONG), value
    std::string t = little ? std::string("II*\0", 4) : std::string("MM\0*", 4);
    auto put = [&](uint64_t v, int bytes) {
      for (int i = 0; i < bytes; ++i) t += static_cast<char>(little ? (v >> (8 * i)) & 0xff : (v >> (8 * (bytes - 1 - i))) & 0xff);
    };
    put(8, 4);
    put(entries.size(), 2);
    for (const auto& [tag, type, value] : entries) {
      put(tag, 2), put(type, 2), put(1, 4);
      if (type == 3) put(value, 2), put(0, 2);
      else put(value, 4);
    }
    put(0, 4);
    return t;
  };
  REQUIRE_THROWS_WITH(io::decode_image(tiff(true, {{256, 4, 32768}, {257, 4, 32768}, {256, 3, 1}}), "twice.tif"), Contains("malformed"));
  REQUIRE_THROWS_WITH(io::decode_image(tiff(true, {{256, 3, 16384}, {257, 3, 1}, {278, 4, 65535}}), "strips.tif"),
                      Contains("strips.tif") && Contains("tiles or strips of 1073725440 pixels"));
  REQUIRE_THROWS_WITH(io::decode_image(tiff(false, {{256, 3, 1}, {257, 3, 1}, {322, 4, 65536}, {323, 4, 65536}}), "tiles.tif"),
                      Contains("tiles or strips of 4294967296 pixels"));
  setenv("TESSERA_MAX_IMAGE_PIXELS", "34", 1);  // a big-endian header is read as such
  REQUIRE_THROWS_WITH(io::decode_image(tiff(false, {{256, 3, 7}, {257, 4, 5}}), "be.tif"), Contains("declares 7 x 5 pixels"));
  unsetenv("TESSERA_MAX_IMAGE_PIXELS");
  // A JPEG with no frame header before its scan; a PPM with a zero width.
  REQUIRE_THROWS_WITH(io::decode_image(std::string("\xff\xd8\xff\xda\x00\x02", 6), "noframe.jpg"), Contains("header is cut short"));
  REQUIRE_THROWS_WITH(io::decode_image("P6\n0 5\n255\n", "zero.ppm"), Contains("zero.ppm") && Contains("declares 0 x 5 pixels"));
}

TEST_CASE("CRC32C matches the standard check value", "[io][tensorboard]") {
  REQUIRE(io::crc32c("123456789", 9) == 0xE3069283u);
}
