"""scripts/convert_weights.py turns PyTorch .pth checkpoints (BasicSR and official EDSR layouts,
official WDSR) into tessera weight files whose LibTorch output equals the PyTorch module's."""
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as load_np
from safetensors.numpy import save_file as save_np

import reference_archs
from common import check, parse_args, run

a = parse_args()
convert = os.path.join(a.source, "scripts", "convert_weights.py")
x = np.random.default_rng(1).random((1, 3, 10, 12), dtype=np.float32)
save_np({"x": x}, os.path.join(a.work, "x.safetensors"))


def compare(name, module, pth, *args):
    out = os.path.join(a.work, name + ".safetensors")
    subprocess.run([sys.executable, convert, pth, out, *args], check=True)
    run([a.helper, "forward", out, os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "y.safetensors")])
    got = load_np(os.path.join(a.work, "y.safetensors"))["y"]
    with torch.no_grad():
        ref = module.eval()(torch.from_numpy(x)).numpy()
    check(np.abs(got - ref).max() < 1e-4, f"{name}: converted weights reproduce PyTorch (err {np.abs(got - ref).max():.1e})")


edsr = reference_archs.EDSR(scale=3, num_feat=16, num_block=3)
torch.save({"params": edsr.state_dict()}, os.path.join(a.work, "basicsr.pth"))
compare("basicsr_edsr", edsr, os.path.join(a.work, "basicsr.pth"), "--arch", "edsr", "--scale", "3")

# The official EDSR-PyTorch layout: the same network under other names.
official = {}
for k, v in edsr.state_dict().items():
    k = k.replace("conv_first.", "head.0.").replace("conv_after_body.", "body.3.").replace("conv_last.", "tail.1.")
    k = k.replace("upsample.", "tail.0.")
    for i in range(3):
        k = k.replace(f"body.{i}.conv1.", f"body.{i}.body.0.").replace(f"body.{i}.conv2.", f"body.{i}.body.2.")
    official["module." + k] = v
official["sub_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
torch.save(official, os.path.join(a.work, "official.pth"))
compare("official_edsr", edsr, os.path.join(a.work, "official.pth"), "--arch", "edsr", "--scale", "3")

wdsr = reference_archs.WDSR(variant="b", scale=2, num_feat=10, num_block=2, expansion=6)
torch.save(wdsr.state_dict(), os.path.join(a.work, "wdsr.pth"))
compare("official_wdsr_b", wdsr, os.path.join(a.work, "wdsr.pth"), "--arch", "wdsr", "--variant", "b", "--scale", "2")
