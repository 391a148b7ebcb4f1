#!/usr/bin/env python3
"""EDSR training step, tessera vs PyTorch Python, side by side in one run.

Same model (EDSR-baseline x2: 16 blocks x 64, tests/python/reference_archs.py on the Python side),
same L1 loss and Adam, same batch (16 x 48x48 LR patches), same thread count. Trials alternate
between the two so drift in machine load hits both. Reports images/s, the ratio, and achieved
FLOP/s against the fp32 matmul peak measured in the same run.

  ~/.cache/tessera/venv/bin/python bench/sr_train_step.py [--trials 5] [--iters 10] [--amp none|bf16]
      [--channels-last] [--fused]   (both sides: NHWC weights and input; Adam on _fused_adam_)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
import reference_archs  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "build", "bench", "tessera_bench_sr_train"))
p.add_argument("--trials", type=int, default=5)
p.add_argument("--iters", type=int, default=10)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--patch", type=int, default=48)
p.add_argument("--scale", type=int, default=2)
p.add_argument("--feat", type=int, default=64)
p.add_argument("--blocks", type=int, default=16)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--amp", default="none", choices=["none", "bf16"])
p.add_argument("--channels-last", action="store_true")
p.add_argument("--fused", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)

torch.manual_seed(0)
net = reference_archs.EDSR(scale=a.scale, num_feat=a.feat, num_block=a.blocks).train()
if a.channels_last:
    net = net.to(memory_format=torch.channels_last)
opt = torch.optim.Adam(net.parameters(), lr=1e-4, fused=True if a.fused else None)
lq = torch.rand(a.batch, 3, a.patch, a.patch)
if a.channels_last:
    lq = lq.contiguous(memory_format=torch.channels_last)
gt = torch.rand(a.batch, 3, a.patch * a.scale, a.patch * a.scale)

# FLOPs of one training step: conv forward 2*MACs, backward twice that (input and weight grads);
# the first conv needs no input gradient. Elementwise ops are left out (a lower bound).
conv_flops = []
hooks = [m.register_forward_hook(lambda m, i, o: conv_flops.append(2 * o.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]))
         for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
with torch.no_grad():
    net(lq)
for h in hooks:
    h.remove()
step_flops = 3 * sum(conv_flops) - conv_flops[0]


def step():
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp == "bf16"):
        loss = F.l1_loss(net(lq).float(), gt)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def python_trial():
    t0 = time.perf_counter()
    for _ in range(a.iters):
        step()
    return a.batch * a.iters / (time.perf_counter() - t0)


def tessera_trial():
    cmd = [a.binary, "--batch", a.batch, "--patch", a.patch, "--scale", a.scale, "--feat", a.feat, "--blocks", a.blocks,
           "--iters", a.iters, "--warmup", a.warmup, "--threads", a.threads, "--amp", a.amp,
           "--channels-last", int(a.channels_last), "--fused", int(a.fused)]
    out = subprocess.run([str(x) for x in cmd], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"]


def matmul_peak(n=2048, reps=10):
    x, y = torch.rand(n, n), torch.rand(n, n)
    torch.mm(x, y)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(x, y)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


for _ in range(a.warmup):
    step()
peak = matmul_peak()
py, ts = [], []
for t in range(a.trials):
    ts.append(tessera_trial())
    py.append(python_trial())
    print(f"trial {t + 1}: tessera {ts[-1]:.2f} img/s, PyTorch {py[-1]:.2f} img/s", flush=True)
peak = max(peak, matmul_peak())
mt, mp = statistics.median(ts), statistics.median(py)
print()
print(f"EDSR {a.blocks}x{a.feat} x{a.scale}, batch {a.batch} of {a.patch}x{a.patch}, Adam{' fused' if a.fused else ''}, amp {a.amp}"
      f"{', channels_last' if a.channels_last else ''}, {a.threads} threads, "
      f"torch {torch.__version__}")
print(f"{'':10}{'images/s':>10}{'GFLOP/s':>10}{'% of peak':>11}")
for name, v in [("tessera", mt), ("PyTorch", mp)]:
    flops = v / a.batch * step_flops
    print(f"{name:10}{v:>10.2f}{flops / 1e9:>10.1f}{100 * flops / peak:>10.1f}%")
print(f"ratio tessera/PyTorch: {mt / mp:.3f} (median of {a.trials} interleaved trials; min/max tessera {min(ts):.2f}/{max(ts):.2f}, "
      f"PyTorch {min(py):.2f}/{max(py):.2f})")
print(f"fp32 matmul peak (2048^3 sgemm, same run): {peak / 1e9:.1f} GFLOP/s; step = {step_flops / 1e9:.2f} GFLOP (convs)")
