"""Faults during a run (docs/reliability.md):

- a full disk: a checkpoint save whose writes fail (the file-size limit RLIMIT_FSIZE makes write()
  fail with EFBIG, the same path as ENOSPC) stops the run with exit 1 and a message naming the
  checkpoint; every earlier checkpoint is byte-for-byte intact, nothing half-written is left, and a
  resumed run ends with the uninterrupted run's weights;
- SIGTERM during a long validation (60 images) exits within seconds (not after the validation), with the step
  saved; the resumed run validates that step first; a second SIGTERM ends the process at once;
- a run that diverges to NaN stops with recipe.nonfinite: stop, naming the step and the key, and its
  checkpoints survive; with recipe.nonfinite: skip the same run skips those steps instead.
"""
import hashlib
import os
import resource
import signal
import subprocess
import time

from safetensors.torch import load_file

from common import check, parse_args, run, smoke_train_args

a = parse_args()


def files_of(d):
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            out[os.path.relpath(p, d)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


# --- a checkpoint save that runs out of space ---------------------------------------------------
extra = ["trainer.total_steps=30", "trainer.save_every=10", "trainer.val_every=0", "trainer.log_every=5"]
ref = os.path.join(a.work, "disk_ref")
run(smoke_train_args(a, ref, *extra))
full = os.path.join(a.work, "disk_full")
run(smoke_train_args(a, full, *extra, "--stop-after", "20"))
before = files_of(os.path.join(full, "checkpoints"))
check("step_00000020/model.safetensors" in before, "two checkpoints before the disk fills")
weights_size = os.path.getsize(os.path.join(full, "checkpoints", "step_00000020", "model.safetensors"))
limit = weights_size // 2  # below any checkpoint file, above the logs this leg writes


def small_disk():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


r = subprocess.run([str(c) for c in smoke_train_args(a, full, *extra, "--resume", "auto")], capture_output=True, text=True,
                   preexec_fn=small_disk)
msg = r.stdout + r.stderr
check(r.returncode == 1, f"a failing checkpoint write stops the run with exit 1 (got {r.returncode})")
check("cannot save checkpoint" in msg and "step_00000030" in msg and "earlier checkpoints are intact" in msg and "--resume auto" in msg,
      "the message names the checkpoint, says the earlier ones are intact and how to continue: " +
      next((l for l in msg.splitlines() if "cannot save" in l), msg[-500:]))
after = files_of(os.path.join(full, "checkpoints"))
check(after == before, f"the earlier checkpoints are byte-for-byte unchanged and nothing half-written is left: {sorted(set(after) ^ set(before))}")
run(smoke_train_args(a, full, *extra, "--resume", "auto"))
w_ref = load_file(os.path.join(ref, "checkpoints", "step_00000030", "model.safetensors"))
w_got = load_file(os.path.join(full, "checkpoints", "step_00000030", "model.safetensors"))
check(all(bool((w_ref[k] == w_got[k]).all()) for k in w_ref), "with room again, the resumed run ends with the uninterrupted run's weights")

# --- SIGTERM during a long validation -----------------------------------------------------------
val = os.path.join(a.work, "big_val")
os.makedirs(val)
src_val = os.path.join(a.data, "val")
for i in range(20):
    for n in sorted(os.listdir(src_val)):
        os.symlink(os.path.join(src_val, n), os.path.join(val, f"{i:03d}_{n}"))
sig_run = os.path.join(a.work, "sigterm")
sig_overrides = ["trainer.total_steps=20", "trainer.save_every=10", "trainer.val_every=10", f"data.val.hr_dir={val}"]
args = smoke_train_args(a, sig_run, *sig_overrides)
p = subprocess.Popen([str(c) for c in args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
target = os.path.join(sig_run, "checkpoints", "step_00000010")
deadline = time.time() + 120
while not os.path.isdir(target) and p.poll() is None and time.time() < deadline:
    time.sleep(0.01)
time.sleep(0.3)  # inside the validation of step 10 (60 images)
t_sig = time.time()
p.send_signal(signal.SIGTERM)
out, _ = p.communicate(timeout=120)
waited = time.time() - t_sig
check(p.returncode == 0, f"SIGTERM during validation exits cleanly (exit {p.returncode})")
check(waited < 5, f"... within {waited:.1f} s of the signal")
check("during the validation of step 10" in out and "terminated (SIGTERM) at step 10" in out,
      "the log says the validation was stopped at step 10 and how to continue")
check(os.path.isdir(target), "the step is saved")
t0 = time.time()
out = run(args + ["--resume", "auto"])
log = open(os.path.join(sig_run, "train.log")).read()
check("step 10 was saved but not validated: validating it now" in log, "the resumed run validates step 10 first")
check(waited * 2 < time.time() - t0, f"the stop came well before the validations' end ({waited:.1f} s vs {time.time() - t0:.1f} s for the resumed leg)")

# A second signal ends the process at once; what is on disk stays whole.
twice = os.path.join(a.work, "sigterm_twice")
p = subprocess.Popen([str(c) for c in smoke_train_args(a, twice, *sig_overrides)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
target = os.path.join(twice, "checkpoints", "step_00000010")
deadline = time.time() + 120
while not os.path.isdir(target) and p.poll() is None and time.time() < deadline:
    time.sleep(0.01)
time.sleep(0.5)
# Signals of one kind do not queue: one sent while the first is still pending would merge with it,
# so SIGTERM is repeated every 5 ms until the process is gone.
deadline = time.time() + 60
while p.poll() is None and time.time() < deadline:
    p.send_signal(signal.SIGTERM)
    time.sleep(0.005)
p.wait(timeout=60)
check(p.returncode == -signal.SIGTERM, f"a second SIGTERM ends the process at once (exit {p.returncode})")
w = load_file(os.path.join(target, "model.safetensors"))
check(len(w) > 0, "the step saved before the signals loads")

# --- a run that diverges ------------------------------------------------------------------------
div = ["trainer.total_steps=20", "trainer.save_every=5", "trainer.val_every=0", "trainer.log_every=1",
       "recipe.optimizer.type=sgd", "recipe.optimizer.lr=10", "recipe.optimizer.momentum=0.9"]
stop_run = os.path.join(a.work, "diverge_stop")
r = subprocess.run([str(c) for c in smoke_train_args(a, stop_run, *div)], capture_output=True, text=True)
msg = r.stdout + r.stderr
line = next((l for l in msg.splitlines() if "recipe.nonfinite" in l), "")
check(r.returncode == 1 and "step " in line and ("became" in line or "not finite" in line),
      f"a diverged run stops with exit 1 naming the step and recipe.nonfinite: {line or msg[-800:]}")
for c in sorted(os.listdir(os.path.join(stop_run, "checkpoints"))) if os.path.isdir(os.path.join(stop_run, "checkpoints")) else []:
    w = load_file(os.path.join(stop_run, "checkpoints", c, "model.safetensors"))
    check(all(bool(t.isfinite().all()) for t in w.values()), f"checkpoint {c} of the stopped run is whole and finite")
skip_run = os.path.join(a.work, "diverge_skip")
r = subprocess.run([str(c) for c in smoke_train_args(a, skip_run, *div, "recipe.nonfinite=skip", "recipe.max_skipped_steps=1000")],
                   capture_output=True, text=True)
msg = r.stdout + r.stderr
check(r.returncode == 0 and "its update is skipped" in msg, f"with recipe.nonfinite=skip the run skips those steps and finishes (exit {r.returncode})")
w = load_file(os.path.join(skip_run, "checkpoints", "step_00000020", "model.safetensors"))
check(all(bool(t.isfinite().all()) for t in w.values()), "the skipping run's weights stay finite")
