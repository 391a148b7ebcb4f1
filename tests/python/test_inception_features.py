"""InceptionV3 as a FID feature network: torchvision's inception_v3 (random weights, randomised BN
statistics, since pretrained weights cannot be downloaded here) converted with
scripts/convert_inception.py gives the same logits in tessera (LibTorch) as in torchvision, and
`tessera eval --features` computes FID/IS with it."""
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torchvision
from safetensors.numpy import load_file, save_file

from common import check, parse_args, run

a = parse_args()
torch.manual_seed(0)
net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=False).eval()
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
pth = os.path.join(a.work, "inception.pth")
torch.save(net.state_dict(), pth)
ckpt = os.path.join(a.work, "inception.safetensors")
subprocess.run([sys.executable, os.path.join(a.source, "scripts", "convert_inception.py"), pth, ckpt], check=True)

x = (torch.rand(2, 3, 299, 299) * 2 - 1)
save_file({"x": x.numpy()}, os.path.join(a.work, "x.safetensors"))
run([a.helper, "forward", ckpt, os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "y.safetensors")])
got = load_file(os.path.join(a.work, "y.safetensors"))["y"]
with torch.no_grad():
    ref = net(x).numpy()
err = np.abs(got - ref).max() / max(1e-6, np.abs(ref).max())
check(got.shape == ref.shape == (2, 1000), f"logits shape {got.shape}")
check(err < 1e-4, f"InceptionV3 logits: LibTorch vs torchvision max relative error {err:.2e}")

gen_yaml = os.path.join(a.work, "gen.yaml")
open(gen_yaml, "w").write("{type: dcgan_generator, image_size: 8, channels: 1, latent_dim: 8, base: 8}")
gen = os.path.join(a.work, "gen.safetensors")
run([a.helper, "init", gen_yaml, gen])
# A folder of real images (the three held-out photographs), 8 samples: the pipeline, not the values.
ev = json.loads(run([a.tessera, "eval", "--checkpoint", gen, "--data", os.path.join(a.data, "val"),
                     "--features", ckpt, "--n", "8", "--json"]))
check(ev["real_images"] == 3 and np.isfinite(ev["fid"]) and ev["fid"] >= 0 and ev["inception_score"] >= 0.999,
      f"tessera eval with InceptionV3 features: FID {ev['fid']:.4g}, IS {ev['inception_score']:.3f}")
