#!/usr/bin/env python3
"""WGAN-GP critic step, tessera vs PyTorch Python, side by side in one run, with and without the
gradient penalty. Same DCGAN critic (3 stride-2 4x4 convs + LeakyReLU 0.2, no norm, linear head),
same batch (64 x 3 x 32 x 32), Adam (0, 0.9), same threads; trials alternate between the two.

  ~/.cache/tessera/venv/bin/python bench/gan_critic_step.py [--trials 5] [--iters 20]
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "build", "bench", "tessera_bench_gan_critic"))
p.add_argument("--trials", type=int, default=5)
p.add_argument("--iters", type=int, default=20)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--size", type=int, default=32)
p.add_argument("--base", type=int, default=64)
p.add_argument("--threads", type=int, default=os.cpu_count())
a = p.parse_args()
torch.set_num_threads(a.threads)


class Critic(nn.Module):  # tessera's dcgan_critic with norm: none
    def __init__(self, size, channels, base):
        super().__init__()
        layers, c_in, ch = [], channels, base
        s = size
        while s > 4:
            layers += [nn.Conv2d(c_in, ch, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in, ch, s = ch, ch * 2, s // 2
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in * 16, 1)

    def forward(self, x):
        return self.fc(self.body(x).flatten(1)).squeeze(1)


def python_rate(gp):
    torch.manual_seed(0)
    critic = Critic(a.size, 3, a.base)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))
    real = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1
    fake = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1

    def step():
        loss = critic(fake).mean() - critic(real).mean()
        if gp:
            t = torch.rand(a.batch, 1, 1, 1)
            x = (t * real + (1 - t) * fake).requires_grad_(True)
            g, = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
            loss = loss + 10 * ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        step()
    return a.iters / (time.perf_counter() - t0)


def tessera_rate(gp):
    cmd = [a.binary, "--batch", a.batch, "--size", a.size, "--base", a.base, "--gp", int(gp), "--iters", a.iters, "--threads", a.threads]
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"]


print(f"DCGAN critic {a.size}x{a.size}, base {a.base}, batch {a.batch}, Adam, {a.threads} threads, torch {torch.__version__}")
for gp in (False, True):
    ts, py = [], []
    for _ in range(a.trials):
        ts.append(tessera_rate(gp))
        py.append(python_rate(gp))
    mt, mp = statistics.median(ts), statistics.median(py)
    print(f"{'with' if gp else 'without'} gradient penalty: tessera {mt:.2f} steps/s, PyTorch {mp:.2f} steps/s, "
          f"ratio {mt / mp:.3f} (median of {a.trials} interleaved trials; tessera {min(ts):.2f}-{max(ts):.2f}, PyTorch {min(py):.2f}-{max(py):.2f})")
