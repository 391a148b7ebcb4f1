"""Kill campaign: SIGKILL a `tessera train` run at random moments, resume it each time with
--resume auto, and check that

- after every kill, each checkpoint on disk is whole: it loads (safetensors' own reader) and its
  weights equal, bit for bit, the uninterrupted run's checkpoint of the same step; best/ is a whole
  copy of the step its best.yaml names (or, killed inside its replacement, best.tmp + best.old,
  which the next start puts back);
- the finished run's final weights, best/ and logged metrics equal the uninterrupted run's.

Kills land at a random step (the run is killed a random fraction of a step after metrics.jsonl
shows it), or, one time in four, a random moment after the process starts (loading, resuming,
the first steps); with save_every 5 and validation every 10 steps, kills fall inside checkpoint
writes and validations too. CPU runs with a fixed seed are bit-exact, which is what makes the
comparison exact.

  python kill_campaign.py --tessera build/tessera --source . --work /tmp/kc [--family sr|gan]
                          [--kills 20] [--steps 100] [--seed 0]
Exit 0 when every check passes; the log says how many kills landed and in which phase.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

from safetensors.torch import load_file

FAMILIES = {
    # (config, weight file, extra overrides)
    "sr": ("configs/sr/sr_smoke.yaml", "model.safetensors",
           lambda src: [f"data.train.hr_dir={src}/datasets/skimage/train", f"data.val.hr_dir={src}/datasets/skimage/val",
                        "recipe.ema=0.9", "recipe.scheduler.type=step", "recipe.scheduler.step_size=25", "data.train.repeat=8"]),
    "gan": ("configs/gan/gan_smoke.yaml", "generator.safetensors", lambda src: []),
}


def train_cmd(a, run_dir, *extra):
    cfg, _, overrides = FAMILIES[a.family]
    return [a.tessera, "train", os.path.join(a.source, cfg), "--run-dir", run_dir, *overrides(a.source),
            f"trainer.total_steps={a.steps}", "trainer.save_every=5", "trainer.val_every=10", "trainer.log_every=1",
            "trainer.keep_last=1000", *extra]


def logged_step(run_dir):
    try:
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            return json.loads(line)["step"]
        except (ValueError, KeyError):
            continue  # a line being written
    return 0


def checkpoints(run_dir):
    d = os.path.join(run_dir, "checkpoints")
    return sorted(n for n in os.listdir(d) if n.startswith("step_") and len(n) == 13) if os.path.isdir(d) else []


def same_weights(a, b):
    return a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def fail(msg):
    sys.stderr.write("FAILED: " + msg + "\n")
    raise SystemExit(1)


def best_record(run_dir):
    path = os.path.join(run_dir, "checkpoints", "best", "best.yaml")
    return open(path).read() if os.path.exists(path) else None


def check_best(run_dir, ref_weights, weight_file, when, allow_replacing=False):
    """best/ is a whole copy of the checkpoint of the step its best.yaml names. A kill inside its
    replacement may leave best.tmp + best.old instead, which the next start puts back."""
    d = os.path.join(run_dir, "checkpoints")
    record = best_record(run_dir)
    if record is None:
        if allow_replacing and os.path.isdir(os.path.join(d, "best.old")):
            return
        if os.path.isdir(os.path.join(d, "best.old")) or os.path.isdir(os.path.join(d, "best")):
            fail(f"{when}: best/ is missing or lacks best.yaml")
        return
    step = int(next(l for l in record.splitlines() if l.startswith("step:")).split(":")[1])
    name = f"step_{step:08d}"
    try:
        got = load_file(os.path.join(d, "best", weight_file))
    except Exception as e:  # noqa: BLE001 - any failure to load is the finding
        fail(f"{when}: best/ does not load: {e}")
    if name not in ref_weights or not same_weights(got, ref_weights[name]):
        fail(f"{when}: best/ (step {step}) differs from the uninterrupted run's checkpoint {name}")


def metrics_rows(run_dir):
    rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl")).read().splitlines()]
    return [{k: v for k, v in r.items() if "it_per_s" not in k} for r in rows]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tessera", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--family", choices=sorted(FAMILIES), default="sr")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.steps < 2 * a.kills:
        fail(f"--steps {a.steps} is too few for {a.kills} kills (give at least 2 steps per kill)")
    rng = random.Random(a.seed)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    weight_file = FAMILIES[a.family][1]

    ref = os.path.join(a.work, "uninterrupted")
    t0 = time.time()
    r = subprocess.run([str(c) for c in train_cmd(a, ref)], capture_output=True, text=True, cwd=a.source)
    if r.returncode != 0:
        fail(f"the uninterrupted run failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    print(f"uninterrupted run: {a.steps} steps in {time.time() - t0:.1f} s")
    ref_weights = {c: load_file(os.path.join(ref, "checkpoints", c, weight_file)) for c in checkpoints(ref)}

    run = os.path.join(a.work, "killed")
    kills, phases, legs = 0, [], 0
    while True:
        resume = ["--resume", "auto"] if legs else []
        legs += 1
        proc = subprocess.Popen([str(c) for c in train_cmd(a, run, *resume)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                cwd=a.source)
        start_step, started = logged_step(run), time.time()
        if kills < a.kills:
            remaining = a.steps - start_step
            if rng.random() < 0.25 or remaining <= 0:
                target, delay = None, rng.uniform(0.0, 2.0)  # loading, resuming, the first steps
            else:
                share = max(1, 2 * remaining // max(1, a.kills - kills))
                target, delay = start_step + rng.randint(1, min(share, remaining)), rng.uniform(0.0, 0.25)
            while proc.poll() is None:
                if target is None and time.time() - started >= delay:
                    break
                if target is not None and logged_step(run) >= target:
                    time.sleep(delay)
                    break
                time.sleep(0.002)
        if proc.poll() is None and kills < a.kills:
            at = logged_step(run)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            phases.append(f"{'start' if target is None else 'step'}@{at}")
            # Every checkpoint left behind is whole and equals the uninterrupted run's.
            for c in checkpoints(run):
                path = os.path.join(run, "checkpoints", c, weight_file)
                if not os.path.exists(os.path.join(run, "checkpoints", c, "state.pt")):
                    fail(f"kill {kills}: checkpoint {c} lacks state.pt")
                try:
                    got = load_file(path)
                except Exception as e:  # noqa: BLE001 - any failure to load is the finding
                    fail(f"kill {kills}: checkpoint {c} does not load: {e}")
                if c not in ref_weights or not same_weights(got, ref_weights[c]):
                    fail(f"kill {kills}: checkpoint {c} differs from the uninterrupted run's")
            check_best(run, ref_weights, weight_file, f"kill {kills}", allow_replacing=True)
            continue
        err = proc.stderr.read()
        proc.wait()
        if proc.returncode != 0:
            fail(f"leg {legs} (after {kills} kills) exited {proc.returncode}:\n{err[-4000:]}")
        if logged_step(run) >= a.steps and kills >= a.kills:
            break
    print(f"{kills} kills survived in {legs} legs: {' '.join(phases)}")

    final = f"step_{a.steps:08d}"
    if not same_weights(load_file(os.path.join(run, "checkpoints", final, weight_file)), ref_weights[final]):
        fail("the final weights differ from the uninterrupted run's")
    for c in checkpoints(run):
        if not same_weights(load_file(os.path.join(run, "checkpoints", c, weight_file)), ref_weights[c]):
            fail(f"checkpoint {c} differs from the uninterrupted run's")
    check_best(run, ref_weights, weight_file, "the finished run")
    if best_record(run) != best_record(ref):
        fail(f"best/ differs from the uninterrupted run's: {best_record(run)} vs {best_record(ref)}")
    if metrics_rows(run) != metrics_rows(ref):
        fail("metrics.jsonl differs from the uninterrupted run's (steps: "
             f"{[r['step'] for r in metrics_rows(run)][:50]})")
    leftovers = [n for n in os.listdir(os.path.join(run, "checkpoints")) if ".tmp" in n]
    print(f"ok: {a.family}: final weights, every checkpoint and metrics.jsonl equal the uninterrupted run's "
          f"bit for bit after {kills} SIGKILLs (temporary folders left by kills: {len(leftovers)})")


if __name__ == "__main__":
    main()
