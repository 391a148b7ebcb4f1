#!/usr/bin/env python3
"""Data-parallel scaling on this machine: 1 process against N processes (one thread each, Gloo over
loopback), for tessera's EDSR training step and for PyTorch Python's DDP on the same model, in one
run. Weak scaling: every process keeps batch B, so N processes train on N*B samples per step;
efficiency = samples/s(N) / (N * samples/s(1)).

tessera runs `tessera train` on an EDSR config (real data from datasets/skimage, its loader
included, 1 loader thread per process); the Python side runs DDP on tests/python/reference_archs.py's
EDSR with random tensors of the same shapes (no loader). Times are the steady-state steps/s that
metrics.jsonl logs (tessera) or a timed loop (Python), after warm-up.

  ~/.cache/tessera/venv/bin/python bench/dist_scaling.py [--procs 2] [--steps 60] [--batch 16]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")

p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(ROOT, "build", "tessera"))
p.add_argument("--procs", type=int, default=2)
p.add_argument("--steps", type=int, default=60)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--patch", type=int, default=48)
p.add_argument("--feat", type=int, default=64)
p.add_argument("--blocks", type=int, default=8)
p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
a = p.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if a.worker:  # one PyTorch DDP process
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
    import reference_archs

    torch.set_num_threads(1)
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if ddp:
        dist.init_process_group("gloo")
    torch.manual_seed(0)
    net = reference_archs.EDSR(scale=2, num_feat=a.feat, num_block=a.blocks)
    model = torch.nn.parallel.DistributedDataParallel(net) if ddp else net
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    lq, gt = torch.rand(a.batch, 3, a.patch, a.patch), torch.rand(a.batch, 3, 2 * a.patch, 2 * a.patch)
    warm = a.steps // 3
    for i in range(a.steps):
        if i == warm:
            if ddp:
                dist.barrier()
            t0 = time.perf_counter()
        opt.zero_grad()
        F.l1_loss(model(lq), gt).backward()
        opt.step()
    if ddp:
        dist.barrier()
    rate = (a.steps - warm) / (time.perf_counter() - t0)
    if not ddp or dist.get_rank() == 0:
        print(json.dumps({"steps_per_s": rate}))
    if ddp:
        dist.destroy_process_group()
    sys.exit(0)


def python_rate(n):
    me = [sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(a.steps), "--batch", str(a.batch), "--patch", str(a.patch),
          "--feat", str(a.feat), "--blocks", str(a.blocks)]
    cmd = me if n == 1 else [TORCHRUN, f"--nproc-per-node={n}", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}", *me[1:]]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode != 0:
        sys.exit(out.stdout + out.stderr)
    return json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])["steps_per_s"]


def tessera_rate(n, work):
    run_dir = os.path.join(work, f"tessera_{n}")
    data = os.path.join(ROOT, "datasets", "skimage")
    args = ["train", os.path.join(ROOT, "configs", "sr", "sr_smoke.yaml"), "--run-dir", run_dir, "threads=1",
            f"network.num_feat={a.feat}", f"network.num_block={a.blocks}", f"data.batch_size={a.batch}",
            f"data.train.patch_size={a.patch}", f"data.train.hr_dir={data}/train", f"data.val.hr_dir={data}/val",
            "data.num_workers=1", f"trainer.total_steps={a.steps}", f"trainer.log_every={a.steps // 3}", "trainer.val_every=0",
            f"trainer.save_every={a.steps}"]
    cmd = [a.binary, *args] if n == 1 else [TORCHRUN, "--no-python", f"--nproc-per-node={n}", "--rdzv-backend=c10d",
                                            f"--rdzv-endpoint=127.0.0.1:{free_port()}", a.binary, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode != 0:
        sys.exit(out.stdout + out.stderr)
    rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    rates = [r["train/it_per_s"] for r in rows if "train/it_per_s" in r]
    return sum(rates[1:]) / len(rates[1:])  # the first window holds the warm-up


with tempfile.TemporaryDirectory() as work:
    res = {}
    for n in (1, a.procs):
        res[("tessera", n)] = tessera_rate(n, work)
        res[("pytorch", n)] = python_rate(n)
print(f"EDSR x2 ({a.blocks} blocks x {a.feat}), batch {a.batch} per process of {a.patch}x{a.patch} LR patches, 1 thread per process, "
      f"gloo over loopback, {os.cpu_count()} cores")
print(f"{'':10} {'1 proc samples/s':>18} {f'{a.procs} procs samples/s':>20} {'efficiency':>11}")
eff = {}
for who in ("tessera", "pytorch"):
    s1, sn = res[(who, 1)] * a.batch, res[(who, a.procs)] * a.batch * a.procs
    eff[who] = sn / (a.procs * s1)
    print(f"{who:10} {s1:18.2f} {sn:20.2f} {eff[who]:11.3f}")
print(f"tessera / pytorch: 1 proc {res[('tessera', 1)] / res[('pytorch', 1)]:.3f}, {a.procs} procs "
      f"{res[('tessera', a.procs)] / res[('pytorch', a.procs)]:.3f}, efficiency {eff['tessera'] / eff['pytorch']:.3f}")
