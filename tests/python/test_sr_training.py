"""Integration: a small EDSR trained for real on the default data (the skimage photographs) beats
MATLAB-bicubic upscaling on the held-out images (PSNR and SSIM on Y, crop 2), as measured by
`tessera eval`; the resulting checkpoint upscales an image and exports to ONNX that onnxruntime runs."""
import json
import os

import numpy as np
import onnxruntime as ort
from skimage import io as skio

from common import check, parse_args, run, smoke_train_args

a = parse_args()
run_dir = os.path.join(a.work, "run")
run(smoke_train_args(a, run_dir, "name=sr_small", "network.num_feat=32", "network.num_block=4", "data.train.patch_size=32",
                     "data.batch_size=16", "data.train.repeat=40", "recipe.optimizer.lr=5e-4", "trainer.total_steps=400",
                     "trainer.val_every=200", "trainer.save_every=200", "trainer.log_every=50"))
ckpt = os.path.join(run_dir, "checkpoints", "step_00000400", "model.safetensors")
ev = json.loads(run([a.tessera, "eval", "--checkpoint", ckpt, "--data", os.path.join(a.data, "val"), "--json"]))
m, b = ev["model"], ev["bicubic"]
print(f"EDSR 32x4 after 400 steps: PSNR_Y {m['psnr']:.3f} / SSIM_Y {m['ssim']:.4f}; bicubic {b['psnr']:.3f} / {b['ssim']:.4f}")
check(b["psnr"] > 30, "bicubic baseline is sane")
check(m["psnr"] > b["psnr"] + 0.2, f"model PSNR_Y {m['psnr']:.3f} beats bicubic {b['psnr']:.3f} by > 0.2 dB")
check(m["ssim"] > b["ssim"], f"model SSIM_Y {m['ssim']:.4f} beats bicubic {b['ssim']:.4f}")

out = os.path.join(a.work, "chelsea_x2.png")
run([a.tessera, "upscale", "--checkpoint", ckpt, os.path.join(a.data, "val", "chelsea.png"), out])
img = skio.imread(out)
check(img.shape == (600, 902, 3), f"upscaled image shape {img.shape}")
onnx_path = os.path.join(a.work, "model.onnx")
run([a.tessera, "export", "--checkpoint", ckpt, "--output", onnx_path])
x = skio.imread(os.path.join(a.data, "val", "chelsea.png"))[:64, :80, :3].astype(np.float32).transpose(2, 0, 1)[None] / 255
y = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
check(y.shape == (1, 3, 128, 160), "onnxruntime runs the exported model")

# RRDBNet (ESRGAN's generator, x4) trains through the same recipe: a tiny one for 60 steps, its L1
# loss falls and its validation PSNR is finite; the weights load into BasicSR's layout (names).
rrdb_dir = os.path.join(a.work, "rrdb")
run(smoke_train_args(a, rrdb_dir, "name=rrdb_small", "network={type: rrdbnet, scale: 4, num_feat: 16, num_block: 2, num_grow_ch: 8}",
                     "data.train.scale=4", "data.val.scale=4", "data.train.patch_size=16", "data.batch_size=8",
                     "recipe.optimizer={type: adam, lr: 2.0e-4, betas: [0.9, 0.99]}", "recipe.val.crop_border=4",
                     "trainer.total_steps=60", "trainer.val_every=60", "trainer.save_every=60", "trainer.log_every=10"))
rows = [json.loads(l) for l in open(os.path.join(rrdb_dir, "metrics.jsonl"))]
losses = [r["train/loss"] for r in rows if "train/loss" in r]
vals = [r["val/psnr_y"] for r in rows if "val/psnr_y" in r]
check(len(losses) >= 5 and losses[-1] < losses[0], f"RRDBNet x4 trains: L1 {losses[0]:.4f} -> {losses[-1]:.4f}")
check(len(vals) == 1 and np.isfinite(vals[0]), f"RRDBNet x4 validates: PSNR_Y {vals[0] if vals else None}")
from safetensors.torch import load_file  # noqa: E402
keys = set(load_file(os.path.join(rrdb_dir, "checkpoints", "step_00000060", "model.safetensors")))
check({"conv_first.weight", "body.0.rdb1.conv1.weight", "body.1.rdb3.conv5.bias", "conv_body.weight", "conv_up1.weight",
       "conv_up2.weight", "conv_hr.weight", "conv_last.weight"} <= keys, "RRDBNet checkpoint has BasicSR's parameter names")
