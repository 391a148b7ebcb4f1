"""scripts/convert_weights.py turns PyTorch .pth checkpoints (BasicSR and official EDSR layouts,
official WDSR, RRDBNet from BasicSR/Real-ESRGAN and both original ESRGAN layouts, junyanz's CycleGAN /
pix2pix ResnetGenerator and NLayerDiscriminator with instance, batch or no norm, legacy instance-norm
statistics and a DataParallel 'module.' prefix included, Real-ESRGAN's UNetDiscriminatorSN) into
tessera weight files whose LibTorch output equals the PyTorch module's (the junyanz networks on
tessera's [0, 1] images: generator (ref(2x - 1) + 1) / 2, PatchGAN ref(2x - 1))."""
import os
import re
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as load_np
from safetensors.numpy import save_file as save_np

import reference_archs
from common import check, parse_args, run

a = parse_args()
convert = os.path.join(a.source, "scripts", "convert_weights.py")
x = np.random.default_rng(1).random((1, 3, 10, 12), dtype=np.float32)
save_np({"x": x}, os.path.join(a.work, "x.safetensors"))


def compare(name, module, pth, *args):
    out = os.path.join(a.work, name + ".safetensors")
    subprocess.run([sys.executable, convert, pth, out, *args], check=True)
    run([a.helper, "forward", out, os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "y.safetensors")])
    got = load_np(os.path.join(a.work, "y.safetensors"))["y"]
    with torch.no_grad():
        ref = module.eval()(torch.from_numpy(x)).numpy()
    check(np.abs(got - ref).max() < 1e-4, f"{name}: converted weights reproduce PyTorch (err {np.abs(got - ref).max():.1e})")


edsr = reference_archs.EDSR(scale=3, num_feat=16, num_block=3)
torch.save({"params": edsr.state_dict()}, os.path.join(a.work, "basicsr.pth"))
compare("basicsr_edsr", edsr, os.path.join(a.work, "basicsr.pth"), "--arch", "edsr", "--scale", "3")

# The official EDSR-PyTorch layout: the same network under other names.
official = {}
for k, v in edsr.state_dict().items():
    k = k.replace("conv_first.", "head.0.").replace("conv_after_body.", "body.3.").replace("conv_last.", "tail.1.")
    k = k.replace("upsample.", "tail.0.")
    for i in range(3):
        k = k.replace(f"body.{i}.conv1.", f"body.{i}.body.0.").replace(f"body.{i}.conv2.", f"body.{i}.body.2.")
    official["module." + k] = v
official["sub_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
torch.save(official, os.path.join(a.work, "official.pth"))
compare("official_edsr", edsr, os.path.join(a.work, "official.pth"), "--arch", "edsr", "--scale", "3")

wdsr = reference_archs.WDSR(variant="b", scale=2, num_feat=10, num_block=2, expansion=6)
torch.save(wdsr.state_dict(), os.path.join(a.work, "wdsr.pth"))
compare("official_wdsr_b", wdsr, os.path.join(a.work, "wdsr.pth"), "--arch", "wdsr", "--variant", "b", "--scale", "2")

# RRDBNet (ESRGAN): BasicSR / Real-ESRGAN files, the original ESRGAN names and its oldest layout,
# x4, and a BasicSR x2 file (pixel-unshuffle: input sides divisible by 2).
rrdb = reference_archs.RRDBNet(scale=4, num_feat=8, num_block=2, num_grow_ch=4)
torch.save({"params_ema": rrdb.state_dict(), "params": {}}, os.path.join(a.work, "realesrgan.pth"))
compare("basicsr_rrdbnet", rrdb, os.path.join(a.work, "realesrgan.pth"), "--arch", "rrdbnet")
esrgan, oldest = {}, {}
names = {"conv_body.": "trunk_conv.", "conv_up1.": "upconv1.", "conv_up2.": "upconv2.", "conv_hr.": "HRconv."}
old = {"conv_first.": "model.0.", "trunk_conv.": "model.1.sub.2.", "upconv1.": "model.3.", "upconv2.": "model.6.", "HRconv.": "model.8.",
       "conv_last.": "model.10."}
for k, v in rrdb.state_dict().items():
    if m := re.match(r"body\.(\d+)\.rdb(\d)\.(conv\d)\.(weight|bias)", k):
        esrgan[f"RRDB_trunk.{m.group(1)}.RDB{m.group(2)}.{m.group(3)}.{m.group(4)}"] = v
        oldest[f"model.1.sub.{m.group(1)}.RDB{m.group(2)}.{m.group(3)}.0.{m.group(4)}"] = v
        continue
    e = next((names[p] + k[len(p):] for p in names if k.startswith(p)), k)
    esrgan[e] = v
    oldest[next(old[p] + e[len(p):] for p in old if e.startswith(p))] = v
torch.save(esrgan, os.path.join(a.work, "esrgan.pth"))
compare("esrgan_rrdbnet", rrdb, os.path.join(a.work, "esrgan.pth"), "--arch", "rrdbnet", "--scale", "4")
torch.save(oldest, os.path.join(a.work, "esrgan_old.pth"))
compare("esrgan_old_rrdbnet", rrdb, os.path.join(a.work, "esrgan_old.pth"), "--arch", "rrdbnet")
rrdb2 = reference_archs.RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)
torch.save({"params": rrdb2.state_dict()}, os.path.join(a.work, "rrdb_x2.pth"))
compare("basicsr_rrdbnet_x2", rrdb2, os.path.join(a.work, "rrdb_x2.pth"), "--arch", "rrdbnet")
r = subprocess.run([sys.executable, convert, os.path.join(a.work, "rrdb_x2.pth"), os.path.join(a.work, "bad.safetensors"), "--arch",
                    "rrdbnet", "--scale", "4"], capture_output=True, text=True)
check(r.returncode != 0 and "not --scale 4" in r.stderr, "an RRDBNet x2 file converted with --scale 4 is refused, naming both")

# Image-to-image GAN archs (sides: multiples of 4 for the generator, 8 for the U-Net; PatchGAN >= 24).
x32 = np.random.default_rng(2).random((1, 3, 32, 32), dtype=np.float32)
save_np({"x": x32}, os.path.join(a.work, "x32.safetensors"))


def compare_gan(name, kind, module, obj, *args):
    pth, out = os.path.join(a.work, name + ".pth"), os.path.join(a.work, name + ".safetensors")
    torch.save(obj, pth)
    subprocess.run([sys.executable, convert, pth, out, "--arch", kind, *args], check=True)
    run([a.helper, "forward", out, os.path.join(a.work, "x32.safetensors"), os.path.join(a.work, "y.safetensors")])
    got = load_np(os.path.join(a.work, "y.safetensors"))["y"]
    with torch.no_grad():
        ref = reference_archs.unit_range_forward(kind, module.eval(), torch.from_numpy(x32)).numpy()
    err = np.abs(got - ref).max() if got.shape == ref.shape else float("inf")
    scale = float(np.abs(ref).max())
    check(err <= 1e-4 * max(scale, 1.0), f"{name}: converted weights reproduce PyTorch (shape {got.shape}, err {err:.1e}, scale {scale:.2g})")


def trained_looking_bn(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1), m.running_var.uniform_(0.5, 1.5), m.weight.uniform_(0.5, 1.5), m.bias.normal_(0, 0.1)
                m.num_batches_tracked.fill_(1000)
    return module


torch.manual_seed(4)
g = reference_archs.ResnetGenerator(num_feat=4, num_blocks=2)  # CycleGAN: instance norm, conv biases
compare_gan("junyanz_resnet_generator", "resnet_generator", g, g.state_dict())
# Old junyanz files: instance norm with running statistics (PyTorch < 0.4), saved from DataParallel.
legacy = {"module." + k: v for k, v in g.state_dict().items()}
for k, c in [("model.2", 4), ("model.5", 8), ("model.8", 16), ("model.10.conv_block.2", 16), ("model.11.conv_block.6", 16)]:
    legacy[f"module.{k}.running_mean"], legacy[f"module.{k}.running_var"] = torch.randn(c), torch.rand(c) + 0.5
compare_gan("junyanz_resnet_generator_legacy", "resnet_generator", g, legacy, "--norm", "instance")
r = subprocess.run([sys.executable, convert, os.path.join(a.work, "junyanz_resnet_generator_legacy.pth"),
                    os.path.join(a.work, "bad.safetensors"), "--arch", "resnet_generator", "--norm", "batch"], capture_output=True, text=True)
check(r.returncode != 0 and "not --norm batch" in r.stderr, "an instance-norm generator converted with --norm batch is refused")
# pix2pix-style: batch norm (no conv biases) and dropout, wrapped in 'state_dict'.
gb = trained_looking_bn(reference_archs.ResnetGenerator(num_feat=4, num_blocks=1, norm="batch", dropout=True))
compare_gan("junyanz_resnet_generator_batch_dropout", "resnet_generator", gb, {"state_dict": gb.state_dict()})
# junyanz's norm 'none': an Identity in each norm place and no conv biases (tessera: consecutive, zero biases).
gn = reference_archs.ResnetGenerator(num_feat=4, num_blocks=1, norm="none", junyanz_none=True)
compare_gan("junyanz_resnet_generator_none", "resnet_generator", gn, gn.state_dict())

d = trained_looking_bn(reference_archs.NLayerDiscriminator(num_feat=4, norm="batch"))  # pix2pix's default
compare_gan("junyanz_patchgan_batch", "patchgan", d, d.state_dict())
d2 = reference_archs.NLayerDiscriminator(num_feat=4, num_layers=2)  # CycleGAN's: instance norm
compare_gan("junyanz_patchgan_instance", "patchgan", d2, d2.state_dict(), "--norm", "instance")

u = reference_archs.UNetDiscriminatorSN(num_feat=4)
with torch.no_grad():
    for _ in range(20):  # power iterations, as training leaves u and v
        u.train()(torch.rand(1, 3, 16, 16))
compare_gan("realesrgan_unet_discriminator_sn", "unet_discriminator_sn", u, {"params": u.state_dict()})
u2 = reference_archs.UNetDiscriminatorSN(num_feat=4, skip_connection=False)
with torch.no_grad():
    for _ in range(20):
        u2.train()(torch.rand(1, 3, 16, 16))
compare_gan("realesrgan_unet_discriminator_sn_noskip", "unet_discriminator_sn", u2, {"params": u2.state_dict()}, "--no-skip")
