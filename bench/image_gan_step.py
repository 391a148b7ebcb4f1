#!/usr/bin/env python3
"""CycleGAN and ESRGAN training steps, tessera vs PyTorch Python, side by side in one run.

tessera: the cyclegan / esrgan recipe built from its config (build/bench/tessera_bench_image_gan).
PyTorch: the same step written as junyanz's cycle_gan_model.optimize_parameters and BasicSR's
ESRGANModel.optimize_parameters, with the modules of tests/python/reference_archs.py and
torchvision's VGG19 (random weights) for the perceptual loss. Same sizes, batch, thread count.
Trials alternate between the two. Reports seconds per step and the ratio (PyTorch / tessera).

  ~/.cache/tessera/venv/bin/python bench/image_gan_step.py [--trials 3] [--iters 5] [--which cyclegan,esrgan]
cyclegan: configs/cyclegan/cyclegan_128.yaml (6-block ResNet generators, 70x70 PatchGANs, 128 px, batch 1)
esrgan:   configs/sr/esrgan_x4.yaml with --esrgan-blocks RRDB blocks and --esrgan-batch patches of
          32x32 LR (128 px discriminator)
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(root, "tests", "python"))
import reference_archs  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(root, "build", "bench", "tessera_bench_image_gan"))
p.add_argument("--trials", type=int, default=3)
p.add_argument("--iters", type=int, default=5)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--which", default="cyclegan,esrgan")
p.add_argument("--esrgan-blocks", type=int, default=6)
p.add_argument("--esrgan-batch", type=int, default=4)
a = p.parse_args()
torch.set_num_threads(a.threads)


def timed(step, n_warm, n):
    for _ in range(n_warm):
        step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def cyclegan_step():
    torch.manual_seed(0)
    g_ab, g_ba = reference_archs.ResnetGenerator(num_blocks=6), reference_archs.ResnetGenerator(num_blocks=6)
    d_a, d_b = reference_archs.NLayerDiscriminator(), reference_archs.NLayerDiscriminator()
    opt_g = torch.optim.Adam(list(g_ab.parameters()) + list(g_ba.parameters()), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), 2e-4, betas=(0.5, 0.999))
    real_a, real_b = torch.rand(1, 3, 128, 128) * 2 - 1, torch.rand(1, 3, 128, 128) * 2 - 1
    pools = {"a": [], "b": []}
    mse = lambda x, t: F.mse_loss(x, torch.full_like(x, t))

    def pool(name, img):  # junyanz ImagePool(50)
        p = pools[name]
        if len(p) < 50:
            p.append(img.clone())
            return img
        if random.uniform(0, 1) > 0.5:
            k = random.randint(0, 49)
            old = p[k].clone()
            p[k] = img.clone()
            return old
        return img

    def step():
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        for d in (d_a, d_b):
            d.requires_grad_(False)
        opt_g.zero_grad()
        idt_a, idt_b = g_ab(real_b), g_ba(real_a)
        loss = (F.l1_loss(idt_a, real_b) * 5 + F.l1_loss(idt_b, real_a) * 5 + mse(d_b(fake_b), 1) + mse(d_a(fake_a), 1)
                + F.l1_loss(rec_a, real_a) * 10 + F.l1_loss(rec_b, real_b) * 10)
        loss.backward()
        opt_g.step()
        for d in (d_a, d_b):
            d.requires_grad_(True)
        opt_d.zero_grad()
        fb, fa = pool("b", fake_b.detach()), pool("a", fake_a.detach())
        ((mse(d_b(real_b), 1) + mse(d_b(fb), 0)) * 0.5).backward()
        ((mse(d_a(real_a), 1) + mse(d_a(fa), 0)) * 0.5).backward()
        opt_d.step()

    return step


def esrgan_step():
    torch.manual_seed(0)
    g = reference_archs.RRDBNet(scale=4, num_block=a.esrgan_blocks)
    d = reference_archs.VGGStyleDiscriminator(input_size=128)
    vgg = torchvision.models.vgg19().features[:35].eval()  # up to conv5_4, before its ReLU
    for q in vgg.parameters():
        q.requires_grad_(False)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    feat = lambda x: vgg((x - mean) / std)
    opt_g = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), 1e-4, betas=(0.9, 0.99))
    ema = [q.detach().clone() for q in g.parameters()]
    lq, gt = torch.rand(a.esrgan_batch, 3, 32, 32), torch.rand(a.esrgan_batch, 3, 128, 128)
    bce = lambda x, t: F.binary_cross_entropy_with_logits(x, torch.full_like(x, t))

    def step():
        d.requires_grad_(False)
        opt_g.zero_grad()
        out = g(lq)
        with torch.no_grad():
            target = feat(gt)
        real = d(gt).detach()
        fake = d(out)
        l_gan = (bce(real - fake.mean(), 0) + bce(fake - real.mean(), 1)) / 2
        loss = 1e-2 * F.l1_loss(out, gt) + F.l1_loss(feat(out), target) + 5e-3 * l_gan
        loss.backward()
        opt_g.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [q.detach() for q in g.parameters()], 1 - 0.999)
        d.requires_grad_(True)
        opt_d.zero_grad()
        real, fake = d(gt), d(out.detach())
        (0.5 * (bce(real - fake.mean(), 1) + bce(fake - real.mean(), 0))).backward()
        opt_d.step()

    return step


cases = {
    "cyclegan": (os.path.join(root, "configs/cyclegan/cyclegan_128.yaml"), ["device=cpu", "data.train.load_size=128"], cyclegan_step),
    "esrgan": (os.path.join(root, "configs/sr/esrgan_x4.yaml"),
               ["device=cpu", f"networks.generator.num_block={a.esrgan_blocks}", f"data.batch_size={a.esrgan_batch}",
                "recipe.perceptual.features.weights=random", 'recipe.pretrained_generator=""'], esrgan_step),
}
for name in a.which.split(","):
    cfg, overrides, make = cases[name]
    step = make()
    ours, theirs = [], []
    for _ in range(a.trials):
        r = subprocess.run([a.binary, cfg, "--iters", str(a.iters), "--warmup", str(a.warmup), "--threads", str(a.threads), *overrides],
                           capture_output=True, text=True, cwd=root)
        if r.returncode != 0:
            sys.exit(f"{name}: {a.binary} failed: {r.stderr.strip()[-2000:]}")
        ours.append(json.loads(r.stdout.strip().splitlines()[-1])["seconds_per_step"])
        theirs.append(timed(step, a.warmup, a.iters))
    t, p_ = statistics.median(ours), statistics.median(theirs)
    print(json.dumps({"bench": name, "threads": a.threads, "tessera_s_per_step": round(t, 4), "pytorch_s_per_step": round(p_, 4),
                      "ratio_pytorch_over_tessera": round(p_ / t, 3)}))
