#!/usr/bin/env python3
"""Style transfer, tessera vs PyTorch Python, side by side in one run: a Gatys L-BFGS iteration
(VGG19, one loss + gradient evaluation, 256x256) and a Johnson training step (TransformerNet +
VGG16 losses, batch 4, 256x256, Adam). Same networks (random weights), layers, normalisation and
threads on both sides; trials alternate between the two.

  ~/.cache/tessera/venv/bin/python bench/style_step.py [--trials 3] [--iters 10] [--size 256]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from reference_archs import TransformerNet  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "build", "bench", "tessera_bench_style"))
p.add_argument("--trials", type=int, default=3)
p.add_argument("--iters", type=int, default=10)
p.add_argument("--johnson-iters", type=int, default=3)
p.add_argument("--size", type=int, default=256)
p.add_argument("--batch", type=int, default=4)
p.add_argument("--threads", type=int, default=os.cpu_count())
a = p.parse_args()
torch.set_num_threads(a.threads)
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
NAMES19 = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu4_2": 22, "relu5_1": 29}
NAMES16 = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}


def features(vgg, x, taps, index):
    want = {index[t]: t for t in taps}
    out, h = {}, (x - MEAN) / STD
    for i, m in enumerate(vgg):
        h = m(h)
        if i in want:
            out[want[i]] = h
        if i >= max(want):
            break
    return out


def gram(f):
    b, c, h, w = f.shape
    v = f.reshape(b, c, h * w)
    return v.bmm(v.transpose(1, 2)) / (c * h * w)


def term(x, t, normalize):
    v = ((x - t.expand_as(x)) ** 2).mean()
    return v / ((t ** 2).mean().detach() + 1e-12) if normalize else v


def tv(x):
    return ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean() + ((x[..., 1:] - x[..., :-1]) ** 2).mean()


def python_gatys():
    torch.manual_seed(0)
    vgg = torchvision.models.vgg19(weights=None).features.eval()
    for q in vgg.parameters():
        q.requires_grad_(False)
    content, style = torch.rand(1, 3, a.size, a.size), torch.rand(1, 3, a.size, a.size)
    styles = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    with torch.no_grad():
        ct = features(vgg, content, ["relu4_2"], NAMES19)
        grams = {k: gram(v) for k, v in features(vgg, style, styles, NAMES19).items()}
    x = content.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, tolerance_grad=0, tolerance_change=0)

    def closure():
        opt.zero_grad()
        f = features(vgg, x, styles + ["relu4_2"], NAMES19)
        loss = 5 * term(f["relu4_2"], ct["relu4_2"], True) + sum(100 * term(gram(f[k]), grams[k], True) for k in styles) + 1e-3 * tv(x)
        loss.backward()
        return loss

    for _ in range(2):
        opt.step(closure)
    opt.param_groups[0]["max_iter"], opt.param_groups[0]["max_eval"] = a.iters, a.iters * 5 // 4 + 1
    t0 = time.perf_counter()
    opt.step(closure)
    return a.iters / (time.perf_counter() - t0)


def python_johnson():
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None).features.eval()
    for q in vgg.parameters():
        q.requires_grad_(False)
    net = TransformerNet()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, style = torch.rand(a.batch, 3, a.size, a.size), torch.rand(1, 3, a.size, a.size)
    taps = list(NAMES16)
    with torch.no_grad():
        grams = {k: gram(v) for k, v in features(vgg, style, taps, NAMES16).items()}

    def step():
        with torch.no_grad():
            target = features(vgg, x, ["relu2_2"], NAMES16)
        y = net(x * 255)[:, :, :a.size, :a.size] / 255
        f = features(vgg, y, taps, NAMES16)
        loss = 1e5 * term(f["relu2_2"], target["relu2_2"], False) + sum(1e10 * term(gram(f[k]), grams[k], False) for k in taps)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(1):
        step()
    t0 = time.perf_counter()
    for _ in range(a.johnson_iters):
        step()
    return a.johnson_iters / (time.perf_counter() - t0)


def tessera_rate(mode, iters):
    cmd = [a.binary, "--mode", mode, "--size", a.size, "--batch", a.batch, "--iters", iters, "--threads", a.threads,
           "--warmup", 2 if mode == "gatys" else 1]
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"]


print(f"{a.size}x{a.size}, {a.threads} threads, torch {torch.__version__}, random VGG weights")
for mode, fn, iters, what in (("gatys", python_gatys, a.iters, "Gatys L-BFGS iteration (VGG19)"),
                              ("johnson", python_johnson, a.johnson_iters, f"Johnson training step (batch {a.batch}, VGG16)")):
    ts, py = [], []
    for _ in range(a.trials):
        ts.append(tessera_rate(mode, iters))
        py.append(fn())
    mt, mp = statistics.median(ts), statistics.median(py)
    print(f"{what}: tessera {mt:.3f}/s, PyTorch {mp:.3f}/s, ratio {mt / mp:.3f} "
          f"(median of {a.trials} interleaved trials; tessera {min(ts):.3f}-{max(ts):.3f}, PyTorch {min(py):.3f}-{max(py):.3f})")
