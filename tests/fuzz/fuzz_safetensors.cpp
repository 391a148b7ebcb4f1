// libFuzzer harness: tessera::io::parse_safetensors on arbitrary bytes. A file is either refused with
// tessera::Error (a message for the user) or parsed; a parsed file serialises and parses back to the
// same tensors. Anything else (another exception type, a crash, a sanitizer report) is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  tessera::io::TensorFile f;
  try {
    f = tessera::io::parse_safetensors(bytes, "fuzz.safetensors");
  } catch (const tessera::Error&) {
    return 0;
  }
  // Round trip: what was accepted is written back and reads back equal.
  const tessera::io::TensorFile g = tessera::io::parse_safetensors(tessera::io::safetensors_bytes(f), "roundtrip");
  if (g.tensors.size() != f.tensors.size() || g.metadata != f.metadata) std::abort();
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const auto* t = g.find(f.tensors[i].first);
    if (!t || t->scalar_type() != f.tensors[i].second.scalar_type() || t->sizes() != f.tensors[i].second.sizes()) std::abort();
    // Bytes, not values: NaN payloads must survive too.
    const auto& a = f.tensors[i].second;
    if (a.nbytes() != t->nbytes() || (a.nbytes() && std::memcmp(a.data_ptr(), t->data_ptr(), a.nbytes()) != 0)) std::abort();
  }
  return 0;
}
