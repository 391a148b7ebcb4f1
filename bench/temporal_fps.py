"""Frames per second of temporal SR streaming (`tessera apply` on a sequence folder) against the
same frame step in PyTorch Python eager, on the same weights, batch 1.

  ~/.cache/tessera/venv/bin/python bench/temporal_fps.py [--frames 12] [--threads 2] [--arch "{...}"]

Cases: 960x540 -> 1920x1080 and 640x360 -> 1280x720 at x2, fp32 and bf16 (`--precision bf16`).
tessera's figure is the network time `tessera apply` logs per frame (decode and encode run beside
it). The Python step is written from docs/temporal_sr.md with stock torch ops (grid_sample bicubic
for the two warps, interpolate bicubic for the upsampling, max_pool for the clamp box), so it does
the same work, not the same arithmetic. Weights are random (speed does not depend on them)."""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
p = argparse.ArgumentParser()
p.add_argument("--build", default=os.environ.get("TESSERA_BUILD", os.path.join(ROOT, "build")))
p.add_argument("--frames", type=int, default=12)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--arch", default="{type: temporal_sr, scale: 2, num_feat: 32, num_conv: 5}")
a = p.parse_args()
tessera, helper = os.path.join(a.build, "tessera"), os.path.join(a.build, "tests", "tessera_test_helper")
torch.set_num_threads(a.threads)
work = tempfile.mkdtemp(prefix="tessera_temporal_bench_")
env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def halton(i, b):
    f, r = 1.0, 0.0
    while i > 0:
        f /= b
        r += f * (i % b)
        i //= b
    return r


def make_sequence(w, h, frames, ratio):
    d = os.path.join(work, f"seq_{w}x{h}")
    os.makedirs(os.path.join(d, "lr"))
    os.makedirs(os.path.join(d, "motion"))
    base = np.asarray(Image.open(os.path.join(ROOT, "datasets/skimage/train/astronaut.png")).convert("RGB").resize((w + 64, h + 64)))
    jit = []
    for t in range(frames):
        Image.fromarray(base[2 * t:2 * t + h, 3 * t:3 * t + w]).save(os.path.join(d, "lr", f"{t:05d}.png"))
        mv = np.zeros((h, w, 2), np.float32)
        if t > 0:
            mv[..., 0], mv[..., 1] = 3, 2
        with open(os.path.join(d, "motion", f"{t:05d}.flo"), "wb") as f:
            f.write(struct.pack("<fii", 202021.25, w, h) + mv.tobytes())
        k = t % int(8 * ratio * ratio)
        jit.append([halton(k + 1, 2) - 0.5, halton(k + 1, 3) - 0.5])
    yaml.safe_dump({"format": "tessera-sequence 1", "frames": frames, "ratio": ratio, "lr_size": [w, h], "jitter": jit},
                   open(os.path.join(d, "sequence.yaml"), "w"))
    return d


def python_step(body, scale, lr, motion, jitter, history, radius=1):
    n, _, h, w = lr.shape

    def warp(img, flow):
        H, W = img.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
        gx = (xs + flow[:, 0] + 0.5) / W * 2 - 1
        gy = (ys + flow[:, 1] + 0.5) / H * 2 - 1
        return F.grid_sample(img, torch.stack([gx, gy], -1), mode="bicubic", padding_mode="border", align_corners=False)

    jp = jitter.view(n, 2, 1, 1).expand(n, 2, h, w)
    up = F.interpolate(warp(lr, jp), scale_factor=scale, mode="bicubic", align_corners=False)
    flow = motion.repeat_interleave(scale, 2).repeat_interleave(scale, 3) * scale
    warped = warp(history, flow) if history is not None else up

    def ycocg(x):
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        return torch.cat([r / 4 + g / 2 + b / 4, r / 2 - b / 2, -r / 4 + g / 2 - b / 4], 1)

    c = F.pad(ycocg(up), (radius,) * 4, mode="replicate")
    hi, lo = F.max_pool2d(c, 2 * radius + 1, 1), -F.max_pool2d(-c, 2 * radius + 1, 1)
    y = torch.max(torch.min(ycocg(warped), hi), lo)
    co, cg = y[:, 1:2], y[:, 2:3]
    clamped = torch.cat([y[:, 0:1] + co - cg, y[:, 0:1] + cg, y[:, 0:1] - co - cg], 1)
    x = torch.cat([x for x in (lr, jp, motion, torch.ones(n, 1, h, w), F.pixel_unshuffle(clamped, scale), F.pixel_unshuffle(warped, scale))], 1)
    out = F.pixel_shuffle(body(x), scale)
    alpha = torch.sigmoid(out[:, 3:4])
    return alpha * clamped + (1 - alpha) * up + out[:, :3]


arch_yaml = os.path.join(work, "arch.yaml")
open(arch_yaml, "w").write(a.arch)
ckpt = os.path.join(work, "temporal.safetensors")
run([helper, "init", arch_yaml, ckpt])
opt = yaml.safe_load(a.arch)
scale = opt.get("scale", 2)
state = load_file(ckpt)
layers = []
for i in range(opt.get("num_conv", 5)):
    wgt = state[f"body.{2 * i}.weight"]
    conv = torch.nn.Conv2d(wgt.shape[1], wgt.shape[0], 3, padding=1)
    conv.weight.data, conv.bias.data = wgt, state[f"body.{2 * i}.bias"]
    layers += [conv, torch.nn.LeakyReLU(0.2)]
body = torch.nn.Sequential(*layers[:-1]).eval()
print(f"torch {torch.__version__}, {a.threads} threads, {a.frames} frames per run, arch {a.arch}")
print(f"{'case':34s} {'tessera fps':>12s} {'bf16 fps':>9s} {'PyTorch fps':>12s} {'ratio':>6s}")
for w, h in ((960, 540), (640, 360)):
    seq = make_sequence(w, h, a.frames, scale)
    fps = {}
    for prec in ("fp32", "bf16"):
        log = run([tessera, "apply", "--checkpoint", ckpt, seq, os.path.join(work, f"out_{w}_{prec}"), "--precision", prec])
        fps[prec] = float(re.search(r"\(([\d.]+) fps\)", log).group(1))
    lr = [torch.from_numpy(np.asarray(Image.open(os.path.join(seq, "lr", f"{t:05d}.png")), np.float32).transpose(2, 0, 1).copy())[None] / 255
          for t in range(a.frames)]
    mv = torch.zeros(1, 2, h, w)
    mv[:, 0], mv[:, 1] = 3, 2
    hist, total = None, 0.0
    with torch.inference_mode():
        for t in range(a.frames):
            t0 = time.perf_counter()
            hist = python_step(body, scale, lr[t], mv, torch.tensor([[0.1, -0.2]]), hist)
            total += time.perf_counter() - t0
    py = a.frames / total
    print(f"{f'{w}x{h} -> {w * scale}x{h * scale}':34s} {fps['fp32']:12.2f} {fps['bf16']:9.2f} {py:12.2f} {fps['fp32'] / py:6.2f}")
