"""`tessera interpolate` (ESRGAN's network interpolation): the result is (1 - alpha) A + alpha B for
every floating-point tensor (checked with safetensors against numpy), loads as the same network,
and bad inputs are refused with messages: another architecture, alpha outside [0, 1], writing over
an input."""
import os
import subprocess

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from common import check, parse_args, run

a = parse_args()
arch = os.path.join(a.work, "rrdb.yaml")
with open(arch, "w") as f:
    f.write("{type: rrdbnet, scale: 4, num_feat: 8, num_block: 1, num_grow_ch: 4}")
pa, pb = os.path.join(a.work, "psnr.safetensors"), os.path.join(a.work, "gan.safetensors")
run([a.helper, "init", arch, pa])
with safe_open(pa, "pt") as f:
    meta = f.metadata()
torch.manual_seed(1)
wa = load_file(pa)
save_file({k: v + 0.05 * torch.randn_like(v) for k, v in wa.items()}, pb, metadata=meta)  # another model, same arch
out = os.path.join(a.work, "interp.safetensors")
run([a.tessera, "interpolate", "--alpha", "0.8", pa, pb, "--output", out])
wb, wi = load_file(pb), load_file(out)
err = max(((1 - 0.8) * wa[k].double() + 0.8 * wb[k].double() - wi[k].double()).abs().max().item() for k in wa)
check(wi.keys() == wa.keys() and err < 1e-6, f"interpolated = 0.2 A + 0.8 B for all {len(wa)} tensors (max error {err:.2e})")
with safe_open(out, "pt") as f:
    m = f.metadata()
check(m["tessera.arch"] == meta["tessera.arch"] and "tessera.interpolation" in m, "the result keeps the arch and records the blend")
y = run([a.tessera, "export", "--checkpoint", out, "--output", os.path.join(a.work, "interp.onnx")])
check(os.path.exists(os.path.join(a.work, "interp.onnx")), "the blend loads and exports as the network")


def refused(args, needle, what):
    r = subprocess.run([a.tessera, "interpolate", *args], capture_output=True, text=True)
    check(r.returncode != 0 and needle in (r.stdout + r.stderr), f"{what}: exit {r.returncode}, says '{needle}'")


other = os.path.join(a.work, "other.yaml")
with open(other, "w") as f:
    f.write("{type: rrdbnet, scale: 4, num_feat: 8, num_block: 2, num_grow_ch: 4}")
po = os.path.join(a.work, "other.safetensors")
run([a.helper, "init", other, po])
refused(["--alpha", "0.5", pa, po, "--output", os.path.join(a.work, "x.safetensors")], "architectures differ", "another arch")
refused(["--alpha", "1.5", pa, pb, "--output", os.path.join(a.work, "x.safetensors")], "alpha", "alpha 1.5")
before = open(pa, "rb").read()
refused(["--alpha", "0.5", pa, pb, "--output", pa], "one of the inputs", "writing over an input")
check(open(pa, "rb").read() == before, "the input is untouched")
