// Self-describing weight files: safetensors whose tensor names are the PyTorch state_dict names and
// whose metadata holds the arch options, so eval/upscale/export need only the file.
#pragma once
#include <string>

#include "tessera/archs/net.h"
#include "tessera/io/safetensors.h"

namespace tessera::archs {

// Parameters and buffers under their state_dict names, with the arch in the metadata.
io::TensorFile net_weights(NetImpl& net, const std::map<std::string, std::string>& extra_meta = {});
// Copies weights into `net`; missing, unexpected or mis-shaped tensors are an Error naming `source`.
void load_net_weights(torch::nn::Module& net, const io::TensorFile& file, const std::string& source);
// Rebuilds the network stored in a weights file (eval mode, on the CPU). With `tasks`, the file's
// task (its tessera.task metadata, checked before anything is built) must be one of them, or a
// ConfigError says what the file holds and what `command` needs. Non-finite weights are refused.
NetPtr load_net_checkpoint(const std::string& path, const std::vector<std::string>& tasks = {}, const std::string& command = "");
// Network interpolation (ESRGAN, Wang et al. 2018, section 3.4): (1 - alpha) a + alpha b for every
// floating-point tensor of two weight files of one architecture (integer buffers such as
// BatchNorm's num_batches_tracked are a's). Refuses files of different archs or tensor sets with an
// Error naming both sources and the first difference. The result carries a's metadata plus
// tessera.interpolation.
io::TensorFile interpolate_weights(const io::TensorFile& a, const io::TensorFile& b, double alpha, const std::string& a_source,
                                   const std::string& b_source);

// "an image-to-image network (upscaler)", "a GAN critic", ... for messages.
std::string describe_task(const std::string& task);

}  // namespace tessera::archs
