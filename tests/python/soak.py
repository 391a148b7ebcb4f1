"""Soak: a long run of a small config whose resident memory must stay flat.

Samples the training process's VmRSS (/proc/PID/status) every --interval seconds. The baseline is
the median of the samples between 20% and 30% of the run (after allocator and cache warm-up, the
first validation and checkpoint included); the end is the median of the last 10%. The run fails when
the end exceeds the baseline by more than --max-growth-mb (default 64 MB) or --max-growth-pct
(default 10%), whichever is larger.

  python soak.py --tessera build/tessera --source . --work /tmp/soak [--steps 10000] [--csv rss.csv]
                 [--config configs/sr/sr_smoke.yaml] [override ...]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        return None
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tessera", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--config", default="configs/sr/sr_smoke.yaml")
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--max-growth-mb", type=float, default=64.0)
    p.add_argument("--max-growth-pct", type=float, default=10.0)
    p.add_argument("--csv")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    src = a.source
    cadence = max(1, a.steps // 10)
    cmd = [a.tessera, "train", os.path.join(src, a.config), "--run-dir", os.path.join(a.work, "run"),
           f"data.train.hr_dir={src}/datasets/skimage/train", f"data.val.hr_dir={src}/datasets/skimage/val",
           f"trainer.total_steps={a.steps}", f"trainer.log_every={max(1, a.steps // 100)}", f"trainer.val_every={cadence}",
           f"trainer.save_every={cadence}", "data.train.repeat=1000", *a.overrides]
    if "sr_smoke" not in a.config:
        cmd = [c for c in cmd if not c.startswith(("data.train.hr_dir", "data.val.hr_dir", "data.train.repeat"))]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while proc.poll() is None:
        r = rss_mb(proc.pid)
        if r is not None:
            samples.append((time.time() - t0, r))
        time.sleep(a.interval)
    err = proc.stderr.read()
    if proc.returncode != 0:
        sys.stderr.write(err[-4000:])
        sys.stderr.write(f"FAILED: the soak run exited {proc.returncode}\n")
        raise SystemExit(1)
    wall = time.time() - t0
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("seconds,rss_mb\n")
            f.writelines(f"{t:.2f},{r:.1f}\n" for t, r in samples)
    if len(samples) < 20:
        sys.stderr.write(f"FAILED: only {len(samples)} RSS samples in {wall:.1f} s; give more --steps\n")
        raise SystemExit(1)
    n = len(samples)
    base = statistics.median(r for _, r in samples[int(0.2 * n):int(0.3 * n)])
    end = statistics.median(r for _, r in samples[int(0.9 * n):])
    peak = max(r for _, r in samples)
    allowed = max(a.max_growth_mb, base * a.max_growth_pct / 100)
    line = (f"soak: {a.steps} steps of {a.config} in {wall:.0f} s; RSS baseline {base:.1f} MB, end {end:.1f} MB "
            f"(growth {end - base:+.1f} MB, allowed {allowed:.1f}), peak {peak:.1f} MB, {n} samples")
    print(line)
    if end - base > allowed:
        sys.stderr.write("FAILED: resident memory grew: " + line + "\n")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
