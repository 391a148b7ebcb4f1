#include "tessera/io/event_log.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "tessera/core/error.h"
#include "tessera/io/image_io.h"

namespace tessera::io {

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  static uint32_t table[256];
  static bool init = [] {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // Castagnoli, reflected
      table[i] = c;
    }
    return true;
  }();
  (void)init;
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

namespace {

// Minimal protobuf wire encoding for the few messages an event file needs.
void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}
void put_tag(std::string& s, int field, int wire) { put_varint(s, (static_cast<uint64_t>(field) << 3) | wire); }
void put_bytes(std::string& s, int field, const std::string& b) {
  put_tag(s, field, 2);
  put_varint(s, b.size());
  s += b;
}
template <class T>
void put_fixed(std::string& s, int field, T v) {
  put_tag(s, field, sizeof(T) == 8 ? 1 : 5);
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // x86 is little endian, as the wire format
  s.append(buf, sizeof(T));
}
std::string event_header(int64_t step) {
  std::string e;
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  put_fixed<double>(e, 1, now);
  put_tag(e, 2, 0);
  put_varint(e, static_cast<uint64_t>(step));
  return e;
}

}  // namespace

EventWriter::EventWriter(const std::string& dir) {
  std::filesystem::create_directories(dir);
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  path_ = dir + "/events.out.tfevents." + std::to_string(secs) + "." + host + "." + std::to_string(::getpid());
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw Error("cannot create TensorBoard event file '" + path_ + "'");
  std::string e = event_header(0);
  put_bytes(e, 3, "brain.Event:2");
  write_event(e);
  flush();
}

void EventWriter::write_event(const std::string& body) {
  uint64_t len = body.size();
  char lenbuf[8];
  std::memcpy(lenbuf, &len, 8);
  uint32_t lcrc = masked_crc32c(lenbuf, 8), dcrc = masked_crc32c(body.data(), body.size());
  out_.write(lenbuf, 8);
  out_.write(reinterpret_cast<const char*>(&lcrc), 4);
  out_.write(body.data(), static_cast<std::streamsize>(body.size()));
  out_.write(reinterpret_cast<const char*>(&dcrc), 4);
}

void EventWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  std::string v;
  put_bytes(v, 1, tag);
  put_fixed<float>(v, 2, static_cast<float>(value));
  std::string summary;
  put_bytes(summary, 1, v);
  std::string e = event_header(step);
  put_bytes(e, 5, summary);
  write_event(e);
}

void EventWriter::add_image(const std::string& tag, const torch::Tensor& rgb, int64_t step) {
  std::string img;
  put_tag(img, 1, 0);
  put_varint(img, static_cast<uint64_t>(rgb.size(1)));
  put_tag(img, 2, 0);
  put_varint(img, static_cast<uint64_t>(rgb.size(2)));
  put_tag(img, 3, 0);
  put_varint(img, 3);
  put_bytes(img, 4, encode_png(rgb));
  std::string v;
  put_bytes(v, 1, tag);
  put_bytes(v, 4, img);
  std::string summary;
  put_bytes(summary, 1, v);
  std::string e = event_header(step);
  put_bytes(e, 5, summary);
  write_event(e);
}

void EventWriter::flush() { out_.flush(); }

MetricsJsonl::MetricsJsonl(const std::string& path) : out_(path, std::ios::app) {
  if (!out_) throw Error("cannot open '" + path + "' for writing");
}

void MetricsJsonl::write(int64_t step, const std::map<std::string, double>& values) {
  std::ostringstream os;
  os << std::setprecision(10) << "{\"step\": " << step;
  for (const auto& [k, v] : values) {
    os << ", \"" << k << "\": ";
    if (std::isfinite(v)) os << v; else os << "null";
  }
  os << "}\n";
  out_ << os.str();
  out_.flush();
}

}  // namespace tessera::io
