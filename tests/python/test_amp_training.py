"""Mixed-precision training end to end on the SR smoke config:
- bf16 autocast reaches within 0.1 dB of fp32's validation PSNR (same seed and steps);
- fp16 with loss scaling trains, logs its loss scale, backs off and skips steps on overflow (a tiny
  growth interval forces overflows), and a run resumed from its middle checkpoint ends bit-exact
  with the uninterrupted one (scaler state in the checkpoint);
- fused Adam with channels_last weights trains to the same PSNR as the plain path within 0.1 dB and
  resumes bit-exact;
- every family takes amp (WGAN-GP and VAE under fp16 and bf16)."""
import json
import os

from safetensors.torch import load_file

from common import check, parse_args, run, smoke_train_args

a = parse_args()
base = ["trainer.total_steps=60", "trainer.val_every=60", "trainer.save_every=30", "trainer.log_every=5", "data.train.repeat=4"]


def train(name, *extra):
    d = os.path.join(a.work, name)
    run(smoke_train_args(a, d, *base, *extra))
    return d, open(os.path.join(d, "train.log")).read()


def metrics(d):
    return [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]


def val_psnr(d):
    vals = [m["val/psnr_y"] for m in metrics(d) if "val/psnr_y" in m]
    check(len(vals) > 0, f"{d} logged val/psnr_y")
    return vals[-1]


fp32, _ = train("fp32")
bf16, out = train("bf16", "recipe.amp=bf16")
check("autocast bf16" in out, "the bf16 run says it autocasts")
p32, p16 = val_psnr(fp32), val_psnr(bf16)
check(abs(p32 - p16) < 0.1, f"bf16 PSNR {p16:.3f} dB within 0.1 dB of fp32's {p32:.3f} dB")

fused, out = train("fused_cl", "recipe.optimizer.fused=true", "recipe.channels_last=true")
check("channels_last" in out, "the run says it trains channels_last")
pf = val_psnr(fused)
check(abs(pf - p32) < 0.1, f"fused Adam + channels_last PSNR {pf:.3f} dB within 0.1 dB of the plain run's {p32:.3f} dB")
cl_resumed = os.path.join(a.work, "fused_cl_resumed")
run(smoke_train_args(a, cl_resumed, *base, "recipe.optimizer.fused=true", "recipe.channels_last=true",
                     "--resume", os.path.join(fused, "checkpoints", "step_00000030")))
ref = load_file(os.path.join(fused, "checkpoints", "step_00000060", "model.safetensors"))
got = load_file(os.path.join(cl_resumed, "checkpoints", "step_00000060", "model.safetensors"))
check(all(bool((ref[k] == got[k]).all()) for k in ref), "fused Adam + channels_last resumed from step 30: bit-exact at step 60")

# fp16: growth every 2 clean steps from 2^10 drives the scale up until fp16 overflows, then it backs off.
fp16_keys = ["recipe.amp=fp16", "recipe.loss_scale.init=1024", "recipe.loss_scale.growth_interval=2"]
fp16, out = train("fp16", *fp16_keys)
check("autocast fp16 (loss scaling)" in out, "the fp16 run says it scales the loss")
scales = [m["train/loss_scale"] for m in metrics(fp16) if "train/loss_scale" in m]
check(len(scales) >= 10 and max(scales) > 1024, f"the loss scale grew from 1024: {scales}")
check(any(b < a_ for a_, b in zip(scales, scales[1:])), f"the loss scale backed off after an overflow: {scales}")
check(val_psnr(fp16) > p32 - 1.5, f"fp16 with frequent overflows still trains: PSNR {val_psnr(fp16):.3f} dB (fp32 {p32:.3f} dB)")
default16, _ = train("fp16_default", "recipe.amp=fp16")
p_fp16 = val_psnr(default16)
check(abs(p_fp16 - p32) < 0.1, f"fp16 with the default scaler: PSNR {p_fp16:.3f} dB within 0.1 dB of fp32's {p32:.3f} dB")
state = os.path.join(fp16, "checkpoints", "step_00000030")
resumed = os.path.join(a.work, "fp16_resumed")
run(smoke_train_args(a, resumed, *base, *fp16_keys, "--resume", state))
for name in ["model.safetensors"]:
    ref = load_file(os.path.join(fp16, "checkpoints", "step_00000060", name))
    got = load_file(os.path.join(resumed, "checkpoints", "step_00000060", name))
    for k in ref:
        check(bool((ref[k] == got[k]).all()), f"fp16 resumed from step 30: {k} bit-exact at step 60")
last = lambda d: {k: v for k, v in metrics(d)[-1].items() if "it_per_s" not in k}
check(last(fp16) == last(resumed), f"fp16 resumed run logs the same last metrics (loss scale included): {last(fp16)}")

# Every family takes amp: the WGAN-GP critic's penalty through fp16 (scaled gradients) and bf16,
# and the VAE, each training to the end with finite losses.
import math  # noqa: E402
for cfg, amp, keys in [("gan/wgan_gp_smoke.yaml", "fp16", ["train/d_loss", "train/gradient_penalty", "train/g_loss"]),
                       ("gan/wgan_gp_smoke.yaml", "bf16", ["train/d_loss", "train/gradient_penalty", "train/g_loss"]),
                       ("vae/vae_smoke.yaml", "fp16", ["train/loss", "train/kl"]),
                       ("vae/vae_smoke.yaml", "bf16", ["train/loss", "train/kl"])]:
    d = os.path.join(a.work, cfg.replace("/", "_") + "_" + amp)
    digits = os.path.join(a.source, "datasets", "digits", "digits.csv")
    run([a.tessera, "train", os.path.join(a.source, "configs", cfg), "--run-dir", d, f"recipe.amp={amp}", "trainer.total_steps=40",
         f"data.train.path={digits}", f"data.val.path={digits}"])
    log = open(os.path.join(d, "train.log")).read()
    rows = [m for m in metrics(d) if keys[0] in m]
    finite = all(k in m and m[k] is not None and math.isfinite(m[k]) for m in rows for k in keys)
    check(f"autocast {amp}" in log and rows and finite, f"{cfg} trains under {amp} with finite {keys}: {rows[-1] if rows else None}")
