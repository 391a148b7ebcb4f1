// Autocast helpers shared by the ops (private to src/ops). A custom op falls through autocast unless
// it registers at AutocastCPU/AutocastCUDA; these wrappers state the dtype it runs in and call the op
// again below autocast.
#pragma once
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace tessera::ops::detail {

constexpr c10::DispatchKey autocast_key(c10::DeviceType d) {
  return d == c10::DeviceType::CPU ? c10::DispatchKey::AutocastCPU : c10::DispatchKey::AutocastCUDA;
}

// Below autocast for the op's own call (else it would recurse).
template <c10::DeviceType D>
struct BelowAutocast {
  c10::impl::ExcludeDispatchKeyGuard guard{autocast_key(D)};
};

// The autocast dtype of device D (bf16 on CPU by default, whatever the scope set).
template <c10::DeviceType D>
at::Tensor to_autocast_dtype(const at::Tensor& t) {
  return at::autocast::cached_cast(at::autocast::get_autocast_dtype(D), t, D);
}

}  // namespace tessera::ops::detail
