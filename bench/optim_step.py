#!/usr/bin/env python3
"""Adam step and EMA update on EDSR-baseline's parameters (x2, 16 blocks x 64 features): tessera's
torch::optim::Adam and FusedAdam (build/bench/tessera_bench_optim) beside torch.optim.Adam with its
default foreach path and with fused=True in Python, one run.

  ~/.cache/tessera/venv/bin/python bench/optim_step.py [--trials 5] [--reps 20]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from reference_archs import EDSR  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "build", "bench", "tessera_bench_optim"))
p.add_argument("--trials", type=int, default=5)
p.add_argument("--reps", type=int, default=20)
p.add_argument("--threads", type=int, default=os.cpu_count())
a = p.parse_args()
torch.set_num_threads(a.threads)
env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
cpp = json.loads(subprocess.run([a.binary, str(a.trials), str(a.reps)], capture_output=True, text=True, check=True, env=env).stdout)

net = EDSR(scale=2, num_feat=64, num_block=16)
params = list(net.parameters())
for q in params:
    q.grad = torch.randn_like(q) * 1e-3


def per_call(fn):
    fn()
    ts = []
    for _ in range(a.trials):
        t = time.perf_counter()
        for _ in range(a.reps):
            fn()
        ts.append((time.perf_counter() - t) / a.reps)
    return statistics.median(ts)


py_foreach = per_call(torch.optim.Adam(params, lr=1e-4, foreach=True).step)
py_fused = per_call(torch.optim.Adam(params, lr=1e-4, fused=True).step)
print(f"EDSR x2 16x64: {cpp['tensors']} tensors, {cpp['parameters']} parameters; {a.threads} threads, torch {torch.__version__}")
print(f"tessera torch::optim::Adam   {cpp['adam'] * 1e3:8.3f} ms")
print(f"tessera FusedAdam            {cpp['fused_adam'] * 1e3:8.3f} ms   ({cpp['adam'] / cpp['fused_adam']:.2f}x torch::optim::Adam)")
print(f"PyTorch Adam (foreach)       {py_foreach * 1e3:8.3f} ms")
print(f"PyTorch Adam (fused=True)    {py_fused * 1e3:8.3f} ms   (tessera fused / PyTorch fused: {py_fused / cpp['fused_adam']:.2f}x speed)")
print(f"EMA update: foreach lerp {cpp['ema_foreach'] * 1e3:.3f} ms vs per-tensor mul+add {cpp['ema_loop'] * 1e3:.3f} ms "
      f"({cpp['ema_loop'] / cpp['ema_foreach']:.2f}x)")
