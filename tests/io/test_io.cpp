#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "../support/support.h"
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

TEST_CASE("CRC32C matches the standard check value", "[io][tensorboard]") {
  REQUIRE(io::crc32c("123456789", 9) == 0xE3069283u);
}
