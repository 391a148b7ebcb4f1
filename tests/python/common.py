"""Shared plumbing for the oracle tests: arguments from CTest, running the tessera binaries."""
import argparse
import json
import os
import shutil
import subprocess
import sys


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--tessera", required=True)
    p.add_argument("--helper", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--work", required=True)
    a = p.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    a.data = os.path.join(a.source, "datasets", "skimage")
    return a


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}\n")
        raise SystemExit(1)
    return r.stdout


def smoke_train_args(a, run_dir, *overrides):
    return [a.tessera, "train", os.path.join(a.source, "configs/sr/sr_smoke.yaml"), "--run-dir", run_dir,
            f"data.train.hr_dir={a.data}/train", f"data.val.hr_dir={a.data}/val", *overrides]


def check(cond, msg):
    if not cond:
        sys.stderr.write("FAILED: " + msg + "\n")
        raise SystemExit(1)
    print("ok:", msg)


def json_out(text):
    return json.loads(text)
