"""Every *_smoke.yaml in configs/ runs for real from the repository root with one command. Training
configs: exit 0, finite losses that were logged, a validation (metrics, or sample images for GANs
without a feature network), a checkpoint whose weights load with safetensors. Style-transfer
configs (configs/style/gatys*.yaml, for `tessera stylize`): exit 0, an output image, a logged style
loss that fell."""
import glob
import json
import math
import os

from safetensors.torch import load_file

from common import check, parse_args, run

a = parse_args()
smokes = sorted(glob.glob(os.path.join(a.source, "configs", "**", "*_smoke.yaml"), recursive=True))
check(len(smokes) >= 7, f"{len(smokes)} smoke configs")
for cfg in smokes:
    name = os.path.basename(cfg)[:-5]
    run_dir = os.path.join(a.work, name)
    if os.path.basename(cfg).startswith("gatys"):
        out = os.path.join(a.work, name + ".png")
        run([a.tessera, "stylize", "--config", cfg, "--content", "datasets/skimage/val/chelsea.png",
             "--style", "datasets/skimage/train/brick.png", "--output", out, "--run-dir", run_dir], cwd=a.source)
        rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
        check(os.path.exists(out) and rows[-1]["style/style"] < rows[0]["style/style"],
              f"{name}: stylised, style loss {rows[0]['style/style']:.4g} -> {rows[-1]['style/style']:.4g}")
        continue
    run([a.tessera, "train", cfg, "--run-dir", run_dir], cwd=a.source)
    rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    train = [v for r in rows for k, v in r.items() if k.startswith("train/") and "loss" in k]
    check(train and all(v is not None and math.isfinite(v) for v in train), f"{name}: {len(train)} finite logged losses")
    samples = os.listdir(os.path.join(run_dir, "samples"))
    check(any(k.startswith("val/") for r in rows for k in r) or samples, f"{name}: validation metrics or samples ({len(samples)} images)")
    ckpts = sorted(glob.glob(os.path.join(run_dir, "checkpoints", "step_*")))
    weights = glob.glob(os.path.join(ckpts[-1], "*.safetensors"))
    check(weights and all(len(load_file(w)) > 0 for w in weights), f"{name}: checkpoint {os.path.basename(ckpts[-1])} loads")
