"""Data-parallel training through torchrun and c10d (Gloo over loopback, 2 ranks on this machine):
- 2 ranks x batch 8 end with the weights of 1 process x batch 16 (EDSR, and WGAN-GP with its
  gradient penalty's double backward and its noise drawn for the global batch);
- a rank killed with SIGKILL under torchrun --max-restarts 1: the run finishes from its newest
  checkpoint, with the weights of an uninterrupted distributed run;
- rank 0 alone writes the run directory;
- launch errors (missing variables, an unreachable master, a rank that dies, a wrong backend) are
  clear and exit non-zero, within the timeout."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

from safetensors.torch import load_file

from common import check, parse_args, run

a = parse_args()
a.tessera = os.path.abspath(a.tessera)
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
check(os.path.exists(TORCHRUN), f"torchrun is in the venv ({TORCHRUN})")
SR = os.path.join(a.source, "configs/sr/sr_smoke.yaml")
WGAN = os.path.join(a.source, "configs/gan/wgan_gp_smoke.yaml")
SR_DATA = [f"data.train.hr_dir={a.data}/train", f"data.val.hr_dir={a.data}/val", "data.num_workers=1"]
SR_ARGS = SR_DATA + ["trainer.total_steps=20", "trainer.val_every=0", "trainer.save_every=20", "trainer.log_every=5"]
# No batch norm in the generator: batch statistics are per rank (the trainer warns), so only
# networks without it can equal the single-process run.
DIGITS = os.path.join(a.source, "datasets", "digits", "digits.csv")
WGAN_ARGS = [f"data.train.path={DIGITS}", f"data.val.path={DIGITS}", "networks.generator.norm=none", "trainer.total_steps=20", "trainer.val_every=0", "trainer.save_every=20",
             "trainer.log_every=5", "data.num_workers=1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, nproc=2, extra=()):
    return [TORCHRUN, "--no-python", f"--nproc-per-node={nproc}", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}",
            *extra, a.tessera, *args]


def weights(run_dir, step):
    d = os.path.join(run_dir, "checkpoints", f"step_{step:08d}")
    return {f: load_file(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".safetensors")}


def max_diff(x, y):
    check(x.keys() == y.keys(), f"same weight files {sorted(x)}")
    worst = 0.0
    for f in x:
        check(x[f].keys() == y[f].keys(), f"{f}: same tensors")
        for k in x[f]:
            worst = max(worst, float((x[f][k].double() - y[f][k].double()).abs().max()))
    return worst


# 1. Two ranks of batch 8 are one process of batch 16.
for name, cfg, args in [("edsr", SR, SR_ARGS), ("wgan_gp", WGAN, WGAN_ARGS)]:
    one = os.path.join(a.work, f"{name}_1x16")
    two = os.path.join(a.work, f"{name}_2x8")
    run([a.tessera, "train", cfg, "--run-dir", one, "data.batch_size=16", "threads=1", *args])
    out = subprocess.run(torchrun("train", cfg, "--run-dir", two, "data.batch_size=8", *args), capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
    check(out.returncode == 0, f"{name}: torchrun with 2 ranks trains")
    d = max_diff(weights(one, 20), weights(two, 20))
    check(d < 1e-5, f"{name}: 2 ranks x batch 8 = 1 x batch 16 after 20 steps (largest weight difference {d:.2e})")
    # Rank 0 alone writes; the logged losses are the mean over ranks (the same as the single run's).
    check(os.path.exists(os.path.join(two, "train.log")) and os.path.exists(os.path.join(two, "config.yaml")), f"{name}: rank 0 wrote its run")
    log = open(os.path.join(two, "train.log")).read()
    check("distributed: 2 ranks over gloo" in log and "global batch 8 x 2 = 16" in log, f"{name}: the log says 2 ranks, global batch 16")
    last = lambda p: [r for r in map(json.loads, open(os.path.join(p, "metrics.jsonl"))) if "train/it_per_s" in r][-1]
    l1, l2 = last(one), last(two)
    keys = [k for k in l1 if k.startswith("train/") and "it_per_s" not in k]
    check(bool(keys) and all(abs(l1[k] - l2[k]) <= 1e-4 * max(1.0, abs(l1[k])) for k in keys),
          f"{name}: logged losses are the global means ({', '.join(f'{k} {l1[k]:.5g}/{l2[k]:.5g}' for k in keys)})")

# CycleGAN: the image pools take the global batch, so 2 ranks x 1 are 1 x 2 as well. Without norms
# here: a conv bias before an instance norm has a true gradient of 0, so its Adam step follows the
# rounding noise of that 0 and differs between any two batchings (by up to lr per step).
one, two = os.path.join(a.work, "cyclegan_1x2"), os.path.join(a.work, "cyclegan_2x1")
cg = [os.path.join(a.source, "configs/cyclegan/cyclegan_smoke.yaml"), "trainer.total_steps=12", "trainer.val_every=0", "trainer.save_every=12",
      "data.num_workers=1", "networks.generator.norm=none", "networks.discriminator.norm=none"]
run([a.tessera, "train", cg[0], "--run-dir", one, "data.batch_size=2", "threads=1", *cg[1:]], cwd=a.source)
out = subprocess.run(torchrun("train", cg[0], "--run-dir", two, *cg[1:]), capture_output=True, text=True, cwd=a.source)
check(out.returncode == 0, "cyclegan: torchrun with 2 ranks trains")
d = max_diff(weights(one, 12), weights(two, 12))
check(d < 1e-5, f"cyclegan: 2 ranks x batch 1 = 1 x batch 2 after 12 steps, pools included (largest weight difference {d:.2e})")

# Every other family trains distributed (its smoke config, a few steps from the repository root).
for cfg in ["sr/srgan_smoke", "sr/esrgan_smoke", "gan/gan_smoke", "gan/cgan_smoke", "gan/wgan_smoke", "ae/ae_smoke", "vae/vae_smoke",
            "style/johnson_smoke"]:
    rd = os.path.join(a.work, "family_" + os.path.basename(cfg))
    out = subprocess.run(torchrun("train", os.path.join(a.source, "configs", cfg + ".yaml"), "--run-dir", rd, "trainer.total_steps=4",
                                  "trainer.log_every=2", "trainer.save_every=4"), capture_output=True, text=True, cwd=a.source)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
    rows = [json.loads(l) for l in open(os.path.join(rd, "metrics.jsonl"))] if out.returncode == 0 else []
    check(out.returncode == 0 and any("train/it_per_s" in r for r in rows) and os.path.isdir(os.path.join(rd, "checkpoints", "step_00000004")),
          f"{cfg}: 2 ranks train, log and checkpoint")

# Resuming at a checkpoint that was saved and validated (rank 0 alone reads metrics.jsonl, and
# every rank must follow its decision), in the default cadence where both fall on one step.
val_args = SR_DATA + ["trainer.total_steps=20", "trainer.save_every=10", "trainer.val_every=10", "trainer.log_every=5"]
straight, stopped = os.path.join(a.work, "validated_straight"), os.path.join(a.work, "validated_resumed")
for rd, extra in [(straight, []), (stopped, ["--stop-after", "10"]), (stopped, ["--resume", "auto"])]:
    out = subprocess.run(torchrun("train", SR, "--run-dir", rd, *val_args, *extra, "--dist-timeout", "60"), capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
    check(out.returncode == 0, f"2 ranks: train {' '.join(extra) or 'straight'}")
d = max_diff(weights(straight, 20), weights(stopped, 20))
check(d == 0.0, f"resumed at a validated checkpoint, the ranks stay in step: weights equal the straight run's ({d:.2e})")

# Resuming a 2-rank run in one process changes the global batch: the trainer says so.
ws = os.path.join(a.work, "world_change")
out = subprocess.run(torchrun("train", SR, "--run-dir", ws, *val_args, "--stop-after", "10"), capture_output=True, text=True)
check(out.returncode == 0, "2 ranks: stopped at step 10")
out = subprocess.run([a.tessera, "train", SR, "--run-dir", ws, *val_args, "--resume", "auto"], capture_output=True, text=True)
check(out.returncode == 0 and "resuming with 1 rank(s) a run last trained with 2" in out.stderr,
      "a resume with another world size warns that the global batch changes")

# 2. SIGKILL of a rank under torchrun --max-restarts 1: the run completes from its newest checkpoint.
kill_args = SR_DATA + ["data.batch_size=8", "trainer.total_steps=40", "trainer.save_every=10", "trainer.val_every=0", "trainer.keep_last=10",
                       "trainer.log_every=10"]
ref = os.path.join(a.work, "uninterrupted")
out = subprocess.run(torchrun("train", SR, "--run-dir", ref, *kill_args), capture_output=True, text=True)
check(out.returncode == 0, "uninterrupted 2-rank run")
killed = os.path.join(a.work, "killed")
p = subprocess.Popen(torchrun("train", SR, "--run-dir", killed, *kill_args, "--resume", "auto", extra=["--max-restarts=1"]),
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def rank1_pid():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"RANK=1" in env and killed.encode() in cmd and os.path.basename(a.tessera).encode() in cmd.split(b"\0")[0]:
            return int(pid)
    return None


target = os.path.join(killed, "checkpoints", "step_00000020")
deadline = time.time() + 180
while not os.path.exists(target) and p.poll() is None and time.time() < deadline:
    time.sleep(0.01)
victim = rank1_pid()
check(victim is not None and p.poll() is None, f"rank 1 found (pid {victim}) after step 20 was saved")
os.kill(victim, signal.SIGKILL)
done_then = sorted(os.listdir(os.path.join(killed, "checkpoints")))
log, _ = p.communicate(timeout=300)
check(p.returncode == 0, f"torchrun restarted the workers and the run finished (checkpoints at the kill: {done_then})")
check("step_00000040" not in done_then, "the kill came before the end")
train_log = open(os.path.join(killed, "train.log")).read()
check("resumed from" in train_log, "the restarted workers resumed from a checkpoint")
d = max_diff(weights(ref, 40), weights(killed, 40))
check(d == 0.0, f"weights after SIGKILL + elastic restart equal the uninterrupted distributed run's (largest difference {d:.2e})")

# 3. Launch errors are clear and exit non-zero.
env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}


def fails(extra_env, args, needle, what, timeout=60):
    t0 = time.time()
    r = subprocess.run([a.tessera, "train", SR, *SR_ARGS, *args], env={**env, **extra_env}, capture_output=True, text=True, timeout=timeout)
    check(r.returncode != 0 and needle in r.stderr, f"{what}: exit {r.returncode} in {time.time() - t0:.1f} s, says '{needle}'\n{r.stderr[-400:]}")


rd = ["--run-dir", os.path.join(a.work, "bad")]
fails({"WORLD_SIZE": "2"}, rd, "RANK is not set", "WORLD_SIZE without RANK")
fails({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, rd, "RANK='2' is not an integer in [0, 1]",
      "a rank outside the world")
fails({"WORLD_SIZE": "2", "RANK": "1"}, rd, "MASTER_ADDR is not set", "no MASTER_ADDR")
fails({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}, rd + ["--dist-timeout", "3"],
      "cannot reach the store at 127.0.0.1", "an unreachable master (3 s timeout)")
fails({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}, rd + ["--dist-backend", "nccl"],
      "--dist-backend nccl needs a CUDA device", "nccl on a CPU run")

# A rank that dies mid-run (launched by hand, no agent to stop the others): the survivor exits with
# a clear error instead of hanging.
port = str(free_port())
hand = os.path.join(a.work, "by_hand")
ranks = [subprocess.Popen([a.tessera, "train", SR, *SR_DATA, "trainer.total_steps=100000", "trainer.val_every=0", "trainer.save_every=0",
                           "threads=1", "--run-dir", hand, "--dist-timeout", "30"],
                          env={**env, "WORLD_SIZE": "2", "RANK": str(r), "LOCAL_RANK": str(r), "MASTER_ADDR": "127.0.0.1",
                               "MASTER_PORT": port}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
deadline = time.time() + 120
while time.time() < deadline and not (os.path.exists(os.path.join(hand, "metrics.jsonl")) and os.path.getsize(os.path.join(hand, "metrics.jsonl"))):
    time.sleep(0.05)
check(ranks[0].poll() is None and ranks[1].poll() is None, "both hand-launched ranks train")
ranks[1].kill()
t0 = time.time()
_, err = ranks[0].communicate(timeout=60)
check(ranks[0].returncode != 0 and "distributed" in err and "failed on rank 0 of 2" in err,
      f"the survivor exits ({ranks[0].returncode}) {time.time() - t0:.1f} s after its peer died, naming the failed collective\n{err[-400:]}")
