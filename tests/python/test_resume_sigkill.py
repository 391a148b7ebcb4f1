"""A run killed with SIGKILL and resumed with --resume auto ends with exactly the same weights as an
uninterrupted run (bit-exact on CPU with a fixed seed), EMA and learning-rate schedule included."""
import os
import signal
import subprocess
import time

from safetensors.torch import load_file

from common import check, parse_args, run, smoke_train_args

a = parse_args()
extra = ["trainer.total_steps=60", "trainer.save_every=10", "trainer.val_every=0", "trainer.keep_last=10",
         "recipe.ema=0.9", "recipe.scheduler.type=step", "recipe.scheduler.step_size=25", "data.train.repeat=4"]
ref_dir = os.path.join(a.work, "uninterrupted")
run(smoke_train_args(a, ref_dir, *extra))

kill_dir = os.path.join(a.work, "killed")
p = subprocess.Popen([str(c) for c in smoke_train_args(a, kill_dir, *extra)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
target = os.path.join(kill_dir, "checkpoints", "step_00000030")
deadline = time.time() + 120
while not os.path.exists(target) and p.poll() is None and time.time() < deadline:
    time.sleep(0.005)
os.kill(p.pid, signal.SIGKILL)
p.wait()
done = sorted(os.listdir(os.path.join(kill_dir, "checkpoints")))
check(p.returncode == -signal.SIGKILL, f"training killed with SIGKILL; checkpoints then: {done}")
check("step_00000060" not in done, "killed before the end")
out = run(smoke_train_args(a, kill_dir, *extra, "--resume", "auto"))

for name in ["model.safetensors"]:
    ref = load_file(os.path.join(ref_dir, "checkpoints", "step_00000060", name))
    got = load_file(os.path.join(kill_dir, "checkpoints", "step_00000060", name))
    check(ref.keys() == got.keys(), "same tensors")
    for k in ref:
        check(bool((ref[k] == got[k]).all()), f"{name}:{k} bit-exact after SIGKILL + resume")
# model.safetensors holds the EMA of the raw weights over every step, so any step that went
# differently after the resume would show above; the last logged training metrics must agree too,
# and metrics.jsonl must hold each logged step once (rows the killed run wrote past its last
# checkpoint are dropped on resume).
ref_lines = open(os.path.join(ref_dir, "metrics.jsonl")).read().splitlines()
got_lines = open(os.path.join(kill_dir, "metrics.jsonl")).read().splitlines()
strip = lambda l: {k: v for k, v in __import__("json").loads(l).items() if "it_per_s" not in k}
check(strip(ref_lines[-1]) == strip(got_lines[-1]), f"last logged train metrics equal: {strip(ref_lines[-1])}")
rows = lambda lines: [(r["step"], sorted(r)) for r in map(__import__("json").loads, lines)]
check(rows(got_lines) == rows(ref_lines), f"metrics.jsonl after resume has the uninterrupted run's rows: {[r[0] for r in rows(got_lines)]}")
