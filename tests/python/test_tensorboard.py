"""A training run's event file is read back by TensorBoard's own EventAccumulator (scalars with
the right steps and values, validation images as PNG) and agrees with metrics.jsonl; its weights
load with safetensors.torch."""
import glob
import json
import os

from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from common import check, parse_args, run, smoke_train_args

a = parse_args()
run_dir = os.path.join(a.work, "run")
run(smoke_train_args(a, run_dir))
events = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
check(len(events) == 1, "one event file in the run directory")
acc = EventAccumulator(events[0], size_guidance={"images": 0, "scalars": 0})
acc.Reload()
tags = acc.Tags()
for t in ["train/loss", "train/lr", "val/psnr_y", "val/ssim_y", "val/bicubic_psnr_y"]:
    check(t in tags["scalars"], f"scalar {t} present")
loss = acc.Scalars("train/loss")
check([e.step for e in loss] == [10, 20, 30, 40], f"train/loss steps {[e.step for e in loss]}")
jsonl = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
val = [r for r in jsonl if "val/psnr_y" in r]
tb_val = acc.Scalars("val/psnr_y")
check(len(val) == len(tb_val) == 2, "two validations")
for r, e in zip(val, tb_val):
    check(abs(r["val/psnr_y"] - e.value) < 1e-4 and r["step"] == e.step, f"val/psnr_y at step {e.step}: {e.value:.4f}")
check(len(tags["images"]) >= 1, f"validation images present: {tags['images']}")
img = acc.Images(tags["images"][0])[-1]
check(img.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and img.width > 0 and img.height > 0,
      f"image {tags['images'][0]} is a {img.width}x{img.height} PNG")
sd = load_file(os.path.join(run_dir, "checkpoints", "best", "model.safetensors"))
check("conv_first.weight" in sd and sd["conv_first.weight"].shape == (16, 3, 3, 3), "weights load with safetensors.torch")
