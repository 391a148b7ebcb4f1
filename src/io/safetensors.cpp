#include "tessera/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "tessera/core/error.h"
#include "tessera/io/files.h"

namespace tessera::io {

using json = nlohmann::json;

namespace {

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
const DtypeName kDtypes[] = {
    {torch::kBool, "BOOL"},   {torch::kUInt8, "U8"},     {torch::kInt8, "I8"},      {torch::kInt16, "I16"},
    {torch::kUInt16, "U16"},  {torch::kFloat16, "F16"},  {torch::kBFloat16, "BF16"}, {torch::kInt32, "I32"},
    {torch::kUInt32, "U32"},  {torch::kFloat32, "F32"},  {torch::kFloat64, "F64"},  {torch::kInt64, "I64"},
    {torch::kUInt64, "U64"},
};

const char* dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw Error(std::string("safetensors: unsupported dtype ") + c10::toString(t));
}

bool dtype_from_name(const std::string& s, torch::ScalarType* out) {
  for (const auto& d : kDtypes)
    if (s == d.name) return *out = d.type, true;
  return false;
}

}  // namespace

const torch::Tensor* TensorFile::find(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return &kv.second;
  return nullptr;
}

std::string safetensors_bytes(const TensorFile& file) {
  json header = json::object();
  std::vector<torch::Tensor> blobs;
  uint64_t offset = 0;
  for (const auto& [name, t0] : file.tensors) {
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    uint64_t n = t.numel() * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
    blobs.push_back(t);
  }
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t hl = h.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((hl >> (8 * i)) & 0xff);  // little endian
  out.append(len, 8);
  out += h;
  for (const auto& t : blobs) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

void save_safetensors(const std::string& path, const TensorFile& file) {
  write_file_atomic(path, safetensors_bytes(file));
}

TensorFile parse_safetensors(const std::string& bytes, const std::string& source) {
  auto bad = [&](const std::string& why) -> Error {
    return Error("'" + source + "' is not a valid safetensors file: " + why);
  };
  if (bytes.size() < 8) throw bad("file is " + std::to_string(bytes.size()) + " bytes, too short for a header");
  uint64_t hl = 0;
  for (int i = 0; i < 8; ++i) hl |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (hl > 100'000'000)
    throw bad("header length " + std::to_string(hl) + " is over the 100 MB limit of the format");
  if (8 + hl > bytes.size())
    throw bad("header length " + std::to_string(hl) + " exceeds the file (truncated?)");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(hl));
  } catch (const json::exception& e) {
    throw bad(std::string("header is not JSON: ") + e.what());
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - hl;
  const char* data = bytes.data() + 8 + hl;
  TensorFile out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) throw bad("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) throw bad("metadata value of '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const json& e = *it;
    torch::ScalarType dt;
    if (!e.is_object() || !e.contains("dtype") || !e["dtype"].is_string() ||
        !dtype_from_name(e["dtype"].get<std::string>(), &dt))
      throw bad("tensor '" + it.key() + "' has a missing or unknown dtype");
    if (!e.contains("shape") || !e["shape"].is_array() || !e.contains("data_offsets") ||
        !e["data_offsets"].is_array() || e["data_offsets"].size() != 2)
      throw bad("tensor '" + it.key() + "' lacks shape or data_offsets");
    std::vector<int64_t> shape;
    // The byte size is computed without overflow and must match offsets inside the file before
    // anything is allocated: a tensor never holds more bytes than the file does.
    uint64_t want = c10::elementSize(dt);
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) throw bad("tensor '" + it.key() + "' has a negative or non-integer dimension");
      const uint64_t n = d.get<uint64_t>();
      if (n > static_cast<uint64_t>(INT64_MAX) || (n && want > static_cast<uint64_t>(INT64_MAX) / n))
        throw bad("tensor '" + it.key() + "' has a shape whose byte size overflows 64 bits");
      shape.push_back(static_cast<int64_t>(n));
      want *= n;
    }
    const json& offs = e["data_offsets"];
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      throw bad("tensor '" + it.key() + "' has data_offsets that are not two non-negative integers");
    const uint64_t b = offs[0].get<uint64_t>(), en = offs[1].get<uint64_t>();
    if (en < b || en - b != want)
      throw bad("tensor '" + it.key() + "' data_offsets do not match its shape and dtype");
    if (en > data_size) throw bad("tensor '" + it.key() + "' lies beyond the end of the file (truncated?)");
    ranges.emplace_back(b, en);
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dt));
    if (want) std::memcpy(t.data_ptr(), data + b, want);
    out.tensors.emplace_back(it.key(), t);
  }
  std::sort(ranges.begin(), ranges.end());
  uint64_t pos = 0;
  for (const auto& r : ranges) {
    if (r.first < pos) throw bad("two tensors' data_offsets overlap at byte " + std::to_string(r.first));
    if (r.first > pos) throw bad("the data section has a gap of unused bytes at " + std::to_string(pos));
    pos = r.second;
  }
  if (pos != data_size) throw bad("the data section has " + std::to_string(data_size - pos) + " trailing bytes");
  // nlohmann's object is sorted by key; restore the file's data order for a stable round trip.
  std::sort(out.tensors.begin(), out.tensors.end(), [&](const auto& a, const auto& b) {
    return header[a.first]["data_offsets"][0].template get<uint64_t>() <
           header[b.first]["data_offsets"][0].template get<uint64_t>();
  });
  return out;
}

TensorFile load_safetensors(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error("checkpoint '" + path + "' does not exist");
  return parse_safetensors(read_file(path), path);
}

}  // namespace tessera::io
