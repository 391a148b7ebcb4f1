"""Soak: a long run of a small config whose resident memory must stay flat.

Samples the training process's VmRSS (/proc/PID/status) every --interval seconds. The first half
of the run is warm-up: allocator arenas, oneDNN's primitive caches and the first validations and
checkpoints settle there, as one-time steps. The baseline is the median of the samples between 40%
and 50% of the run, the end the median of the last 10%; the trend is a least-squares line through
the second half. The run fails when the end exceeds the baseline, or the trend rises over the
second half, by more than --max-growth-mb (default 64 MB) or --max-growth-pct (default 10%),
whichever is larger.

  python soak.py --tessera build/tessera --source . --work /tmp/soak [--steps 10000] [--csv rss.csv]
                 [--config configs/sr/sr_smoke.yaml] [override ...]
  python soak.py --analyze rss.csv        (the same verdict from a recorded run's samples)
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
    p.add_argument("--tessera")
    p.add_argument("--source")
    p.add_argument("--work")
    p.add_argument("--config", default="configs/sr/sr_smoke.yaml")
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--max-growth-mb", type=float, default=64.0)
    p.add_argument("--max-growth-pct", type=float, default=10.0)
    p.add_argument("--csv")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--analyze", metavar="CSV", help="judge a recorded run's samples (seconds,rss_mb) instead of running one")
    a = p.parse_args()
    if a.analyze:
        rows = open(a.analyze).read().splitlines()[1:]
        verdict([tuple(map(float, r.split(","))) for r in rows], a, f"recorded run {a.analyze}")
        return
    if not (a.tessera and a.source and a.work):
        p.error("--tessera, --source and --work are required to run a soak")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    cadence = max(1, a.steps // 10)
    cmd = [a.tessera, "train", os.path.join(a.source, a.config), "--run-dir", os.path.join(a.work, "run"),
           f"trainer.total_steps={a.steps}", f"trainer.log_every={max(1, a.steps // 100)}", f"trainer.val_every={cadence}",
           f"trainer.save_every={cadence}", *a.overrides]
    t0 = time.time()
    # From the repository root, where the configs' relative data paths (datasets/...) point.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=a.source)
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
    verdict(samples, a, f"{a.steps} steps of {a.config} in {wall:.0f} s")


def verdict(samples, a, what):
    if len(samples) < 20:
        sys.stderr.write(f"FAILED: only {len(samples)} RSS samples; give more --steps\n")
        raise SystemExit(1)
    n = len(samples)
    base = statistics.median(r for _, r in samples[int(0.4 * n):int(0.5 * n)])
    end = statistics.median(r for _, r in samples[int(0.9 * n):])
    half = samples[n // 2:]
    mt, mr = statistics.fmean(t for t, _ in half), statistics.fmean(r for _, r in half)
    slope = sum((t - mt) * (r - mr) for t, r in half) / max(1e-9, sum((t - mt) ** 2 for t, _ in half))
    trend = slope * (half[-1][0] - half[0][0])
    peak = max(r for _, r in samples)
    allowed = max(a.max_growth_mb, base * a.max_growth_pct / 100)
    line = (f"soak: {what}; RSS baseline {base:.1f} MB, end {end:.1f} MB (growth {end - base:+.1f} MB, trend over the second "
            f"half {trend:+.1f} MB, allowed {allowed:.1f}), peak {peak:.1f} MB, {n} samples")
    print(line)
    if end - base > allowed or trend > allowed:
        sys.stderr.write("FAILED: resident memory grew: " + line + "\n")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
