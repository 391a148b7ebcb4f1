// The `sequence_folder` dataset: windows of consecutive frames from sequence folders (the format of
// docs/temporal.md), for training and validating temporal upscalers. A sample holds, for K frames,
//   lr [K,3,h,w], hr [K,3,h r,w r], motion [K,2,h,w], jitter [K,2] (float32),
//   disocclusion [K,1,h,w] (when every sequence has one),
// cropped to an LR patch and put through the dihedral group with the motion vectors and jitter
// transformed alike (a flip negates their x or y, a transpose swaps them).
#pragma once
#include "tessera/data/dataset.h"
#include "tessera/data/sequence.h"

namespace tessera::data {

struct SequenceFolderOptions {
  std::string dir;
  int64_t frames = 8, patch_size = 0, repeat = 1;
  bool hflip = false, vflip = false, rot90 = false;
  template <class V>
  void visit(V& v) {
    v.required("dir", dir, "a sequence folder, or a folder of them (seq_00000/, ...)");
    v("frames", frames, "frames per sample (the unroll length); 0: whole sequences", 0, 100000);
    v("patch_size", patch_size, "LR patch side (0: whole frames)", 0, 4096);
    v("hflip", hflip, "random horizontal flips (motion x and jitter x negated)");
    v("vflip", vflip, "random vertical flips (motion y and jitter y negated)");
    v("rot90", rot90, "random transposes (motion and jitter components swapped)");
    v("repeat", repeat, "times the windows are seen per epoch", 1, 1000000);
  }
};

class SequenceFolderDataset : public Dataset {
 public:
  explicit SequenceFolderDataset(SequenceFolderOptions opt);
  size_t size() const override { return windows_.size() * static_cast<size_t>(opt_.repeat); }
  Batch get(size_t index, uint64_t seed) const override;
  std::string describe() const override;
  int64_t ratio() const { return ratio_; }
  const SequenceFolderOptions& options() const { return opt_; }
  const std::vector<SequenceInfo>& sequences() const { return seqs_; }
  // The sequence and first frame of window `index`.
  std::pair<size_t, int64_t> window(size_t index) const { return windows_[index % windows_.size()]; }

 private:
  SequenceFolderOptions opt_;
  std::vector<SequenceInfo> seqs_;
  std::vector<std::pair<size_t, int64_t>> windows_;
  int64_t ratio_ = 0;
  bool disocclusion_ = true;
};

// The sequence folders under `dir` (itself when it holds a sequence.yaml), in name order; a folder
// being written (NAME.tmp) is skipped. Throws when there is none.
std::vector<std::string> list_sequences(const std::string& dir);
// True when `dir` is a sequence folder or holds one.
bool holds_sequences(const std::string& dir);

// The dihedral transform `code` (bit 0: flip x, bit 1: flip y, bit 2: transpose) of a sample's
// frames, motion vectors and jitter, consistently.
Batch transform_sequence(const Batch& sample, int code);

}  // namespace tessera::data
