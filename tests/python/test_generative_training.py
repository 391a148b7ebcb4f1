"""Short real runs of the generative families on the 8x8 digits (CPU):
- the VAE's ELBO improves and its held-out reconstructions reach 15 dB PSNR;
- the denoising autoencoder's output beats its noisy input by more than 3 dB;
- the conditional GAN's class-given samples are recognised by the digits classifier >= 80% of the time;
- `tessera sample` writes grids, images and interpolations; `tessera eval` gives FID/IS;
- a WGAN-GP run killed with SIGKILL and resumed ends bit-exact with the uninterrupted run."""
import json
import os
import signal
import subprocess
import time

from safetensors.torch import load_file
from skimage import io as skio

from common import check, parse_args, run

a = parse_args()
cfg = lambda p: os.path.join(a.source, p)
digits = f"data.train.path={a.data}/../digits/digits.csv"
digits_val = f"data.val.path={a.data}/../digits/digits.csv"


def jsonl(run_dir):
    return [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]


# VAE
vae = os.path.join(a.work, "vae")
run([a.tessera, "train", cfg("configs/vae/vae_digits.yaml"), "--run-dir", vae, digits, digits_val,
     "trainer.total_steps=1500", "trainer.val_every=100"])
val = [r for r in jsonl(vae) if "val/elbo" in r]
check(val[-1]["val/elbo"] > val[0]["val/elbo"] + 1, f"VAE held-out ELBO improves: {val[0]['val/elbo']:.2f} -> {val[-1]['val/elbo']:.2f}")
check(val[-1]["val/psnr"] >= 15, f"VAE held-out reconstruction PSNR {val[-1]['val/psnr']:.2f} dB >= 15")
train_rows = [r for r in jsonl(vae) if "train/elbo" in r]
check({"train/reconstruction", "train/kl", "train/elbo"} <= train_rows[-1].keys(), "ELBO, reconstruction and KL logged separately")
vae_ckpt = os.path.join(vae, "checkpoints", "step_00001500", "model.safetensors")
run([a.tessera, "sample", "--checkpoint", vae_ckpt, "--output", os.path.join(a.work, "vae_grid.png"), "--n", "16"])
check(skio.imread(os.path.join(a.work, "vae_grid.png")).shape[:2] == (42, 42), "VAE prior-sample grid (4x4 of 8x8)")

# Denoising autoencoder
dae = os.path.join(a.work, "dae")
run([a.tessera, "train", cfg("configs/ae/dae_digits.yaml"), "--run-dir", dae, digits, digits_val, "trainer.total_steps=1500"])
last = [r for r in jsonl(dae) if "val/psnr" in r][-1]
check(last["val/psnr"] > last["val/noisy_psnr"] + 3, f"DAE output {last['val/psnr']:.2f} dB vs noisy input {last['val/noisy_psnr']:.2f} dB")

# Digits classifier, then the conditional GAN judged by it
clf = os.path.join(a.work, "classifier")
run([a.tessera, "train", cfg("configs/eval/digits_classifier.yaml"), "--run-dir", clf, digits, digits_val])
clf_ckpt = os.path.join(clf, "checkpoints", "best", "model.safetensors")
acc = [r for r in jsonl(clf) if "val/accuracy" in r][-1]["val/accuracy"]
check(acc > 0.95, f"digits classifier held-out accuracy {acc:.3f}")
cgan = os.path.join(a.work, "cgan")
run([a.tessera, "train", cfg("configs/gan/cgan_digits.yaml"), "--run-dir", cgan, digits, digits_val,
     f"recipe.val.feature_net={clf_ckpt}", "trainer.total_steps=3000", "trainer.val_every=1000"])
row = [r for r in jsonl(cgan) if "val/class_accuracy" in r][-1]
check(row["val/class_accuracy"] >= 0.8, f"cGAN class accuracy by the digits classifier {row['val/class_accuracy']:.3f} >= 0.8")
gen = os.path.join(cgan, "checkpoints", "step_00003000", "generator.safetensors")
ev = json.loads(run([a.tessera, "eval", "--checkpoint", gen, "--data", f"{a.data}/../digits/digits.csv", "--features", clf_ckpt,
                     "--n", "500", "--json"]))
check(ev["class_accuracy"] >= 0.8 and ev["fid"] >= 0 and ev["inception_score"] > 5,
      f"tessera eval: FID {ev['fid']:.2f}, IS {ev['inception_score']:.2f}, class accuracy {ev['class_accuracy']:.3f}")
run([a.tessera, "sample", "--checkpoint", gen, "--output", os.path.join(a.work, "sevens"), "--mode", "images", "--n", "5", "--class", "7"])
check(len(os.listdir(os.path.join(a.work, "sevens"))) == 5, "class-given samples written as images")
run([a.tessera, "sample", "--checkpoint", gen, "--output", os.path.join(a.work, "interp.png"), "--mode", "interpolate", "--n", "3"])
check(skio.imread(os.path.join(a.work, "interp.png")).shape[:2] == (32, 102), "interpolation strips (3 rows x 10)")

# Exact resume of a GAN run after SIGKILL
extra = ["trainer.total_steps=400", "trainer.save_every=50", "trainer.val_every=0", "recipe.ema=0.9"]
ref = os.path.join(a.work, "gan_ref")
run([a.tessera, "train", cfg("configs/gan/wgan_gp_ring8.yaml"), "--run-dir", ref, *extra])
killed = os.path.join(a.work, "gan_killed")
p = subprocess.Popen([a.tessera, "train", cfg("configs/gan/wgan_gp_ring8.yaml"), "--run-dir", killed, *extra],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 120
while not os.path.exists(os.path.join(killed, "checkpoints", "step_00000200")) and p.poll() is None and time.time() < deadline:
    time.sleep(0.005)
os.kill(p.pid, signal.SIGKILL)
p.wait()
check(not os.path.exists(os.path.join(killed, "checkpoints", "step_00000400")), "GAN run killed before the end")
run([a.tessera, "train", cfg("configs/gan/wgan_gp_ring8.yaml"), "--run-dir", killed, *extra, "--resume", "auto"])
for f in ["generator.safetensors", "critic.safetensors"]:
    x = load_file(os.path.join(ref, "checkpoints", "step_00000400", f))
    y = load_file(os.path.join(killed, "checkpoints", "step_00000400", f))
    check(all(bool((x[k] == y[k]).all()) for k in x), f"{f} bit-exact after SIGKILL + resume")
