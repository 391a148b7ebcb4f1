#!/usr/bin/env python3
"""Converts torchvision's InceptionV3 weights into a tessera feature network for FID/IS.

Weights cannot be downloaded by tessera; fetch torchvision's `inception_v3_google-0cc3c7bd.pth`
(ImageNet, 1000 classes) yourself, then:

  ~/.cache/tessera/venv/bin/python scripts/convert_inception.py inception_v3_google-0cc3c7bd.pth inception_v3.safetensors
  build/tessera eval --checkpoint generator.safetensors --data real_images/ --features inception_v3.safetensors

The auxiliary classifier is dropped; tensor names stay torchvision's. tessera feeds the network
299x299 bilinear-resized images mapped to [-1, 1] (the original Inception preprocessing, which is
what torchvision's transform_input=True reproduces for these weights) and takes the 2048-d
average-pooled Mixed_7c features. Scores from these weights are comparable with each other, not
exactly with pytorch-fid's numbers (that package uses a TF-ported variant of the network).
"""
import argparse
import sys

import torch
import yaml
from safetensors.torch import save_file

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("input", help="torchvision inception_v3 state dict (.pth)")
p.add_argument("output", help="tessera weights (.safetensors)")
a = p.parse_args()
sd = torch.load(a.input, map_location="cpu", weights_only=True)
if isinstance(sd, dict) and "state_dict" in sd:
    sd = sd["state_dict"]
out = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in sd.items() if not k.startswith("AuxLogits.")}
if "fc.weight" not in out or "Mixed_7c.branch_pool.conv.weight" not in out:
    sys.exit(f"{a.input} does not look like a torchvision inception_v3 state dict")
opts = {"type": "inception_v3", "num_classes": int(out["fc.weight"].shape[0])}
save_file(out, a.output, metadata={"format": "pt", "tessera.arch": yaml.safe_dump(opts), "tessera.type": "inception_v3",
                                   "tessera.scale": "1", "tessera.converted_from": a.input})
print(f"wrote {a.output}: {len(out)} tensors", file=sys.stderr)
