"""The VGG-style discriminator (SRGAN/ESRGAN, BasicSR's VGGStyleDiscriminator) against BasicSR's
definition written in PyTorch: tessera's weights load with strict names and shapes into it and the
scores agree (eval mode, trained-looking BatchNorm statistics), at 96, 128 and 256 px; a wrong
input size is refused with a message naming input_size."""
import os
import subprocess

import numpy as np
import torch
import yaml
from safetensors import safe_open
from safetensors.numpy import load_file as load_np
from safetensors.numpy import save_file as save_np
from safetensors.torch import load_file

import reference_archs
from common import check, parse_args, run

a = parse_args()
rng = np.random.default_rng(3)
for spec in ["{type: vgg_discriminator, num_feat: 8, input_size: 128}", "{type: vgg_discriminator, num_feat: 4, input_size: 96}",
             "{type: vgg_discriminator, num_feat: 4, input_size: 256, channels: 1}"]:
    arch = os.path.join(a.work, "d.yaml")
    with open(arch, "w") as f:
        f.write(spec)
    ckpt = os.path.join(a.work, "d.safetensors")
    run([a.helper, "init", arch, ckpt])  # BatchNorm statistics randomised, so eval mode is exercised
    with safe_open(ckpt, "pt") as f:
        options = yaml.safe_load(f.metadata()["tessera.arch"])
    module = reference_archs.build(options).eval()
    module.load_state_dict(load_file(ckpt), strict=True)
    size, ch = options["input_size"], options["channels"]
    x = rng.random((2, ch, size, size), dtype=np.float32)
    save_np({"x": x}, os.path.join(a.work, "x.safetensors"))
    run([a.helper, "forward", ckpt, os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "y.safetensors")])
    got = load_np(os.path.join(a.work, "y.safetensors"))["y"]
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy().reshape(-1)
    err = np.abs(got.reshape(-1) - ref).max()
    check(got.size == 2 and err < 1e-4, f"{spec}: BasicSR names load strictly, scores equal PyTorch's (max error {err:.1e})")
    bad = rng.random((1, ch, size // 2, size // 2), dtype=np.float32)
    save_np({"x": bad}, os.path.join(a.work, "bad.safetensors"))
    r = subprocess.run([a.helper, "forward", ckpt, os.path.join(a.work, "bad.safetensors"), os.path.join(a.work, "y2.safetensors")],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "input_size" in r.stdout + r.stderr, f"{spec}: a {size // 2} px input is refused naming input_size")
