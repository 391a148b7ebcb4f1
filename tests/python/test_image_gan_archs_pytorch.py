"""The image-to-image GAN archs against their original code written in PyTorch
(tests/python/reference_archs.py): CycleGAN's ResNet generator and PatchGAN (junyanz's
ResnetGenerator / NLayerDiscriminator: instance, batch and no norm, with and without dropout) and
Real-ESRGAN's U-Net discriminator with spectral norm (with and without skips). tessera's weights
(helper init, then every tensor redrawn so that biases, batch-norm affine parameters and statistics
all matter, spectral norm's u and v power-iterated like a trained network's) load with strict names
and shapes into the reference, and the outputs agree in eval mode (max error <= 1e-4 of the output's
scale), with tessera's [0, 1] images mapped to junyanz's [-1, 1] range: generator (ref(2x - 1) + 1) / 2,
PatchGAN ref(2x - 1). Sides that are not multiples of 4 (generator) or 8 (U-Net) are refused."""
import os
import subprocess

import numpy as np
import torch
import yaml
from safetensors import safe_open
from safetensors.numpy import load_file as load_np
from safetensors.numpy import save_file as save_np
from safetensors.torch import load_file, save_file

import reference_archs
from common import check, parse_args, run

torch.set_num_threads(2)
a = parse_args()
gen = torch.Generator().manual_seed(5)
rng = np.random.default_rng(5)
SPECS = [
    ("{type: resnet_generator, num_feat: 8, num_blocks: 2}", (2, 3, 32, 40)),
    ("{type: resnet_generator, num_feat: 4, num_blocks: 3, norm: batch}", (2, 3, 32, 40)),
    ("{type: resnet_generator, num_feat: 4, num_blocks: 1, norm: none}", (2, 3, 28, 36)),
    ("{type: resnet_generator, num_feat: 4, num_blocks: 1, dropout: true}", (2, 3, 32, 40)),
    ("{type: resnet_generator, num_feat: 4, num_blocks: 2, norm: batch, dropout: true, channels: 1}", (1, 1, 24, 32)),
    ("{type: patchgan, num_feat: 8}", (2, 3, 32, 40)),
    ("{type: patchgan, num_feat: 4, num_layers: 2, norm: batch}", (2, 3, 32, 40)),
    ("{type: patchgan, num_feat: 4, norm: none}", (2, 3, 36, 30)),
    ("{type: patchgan, num_feat: 4, num_layers: 4, channels: 1}", (1, 1, 48, 64)),
    ("{type: unet_discriminator_sn, num_feat: 8}", (2, 3, 32, 40)),
    ("{type: unet_discriminator_sn, num_feat: 4, skip_connection: false}", (2, 3, 32, 40)),
    ("{type: unet_discriminator_sn, num_feat: 4, channels: 1}", (1, 1, 16, 24)),
]


def redraw(sd):
    """Every tensor of a helper-initialised state dict redrawn (same names, shapes and dtypes): conv
    weights N(0, 1 / fan) (the generator's tanh far from saturation), biases and batch-norm
    parameters away from their initial 0 / 1, and each spectral-norm u, v made (nearly) the leading
    singular vectors of its weight_orig (as in a trained network: sigma well away from 0)."""
    out = {}
    for k, v in sd.items():
        if not v.is_floating_point():
            out[k] = v
        elif v.dim() == 4:  # conv (transposed: [in, out, k, k]) weight or weight_orig
            out[k] = torch.randn(v.shape, generator=gen) * v[0].numel() ** -0.5
        elif k.endswith(".bias"):
            out[k] = torch.randn(v.shape, generator=gen) * 0.1
        elif k.endswith(".weight"):  # batch norm's scale
            out[k] = torch.rand(v.shape, generator=gen) + 0.5
        elif k.endswith(".running_mean"):
            out[k] = torch.randn(v.shape, generator=gen) * 0.1
        elif k.endswith(".running_var"):
            out[k] = torch.rand(v.shape, generator=gen) + 0.5
        else:
            out[k] = v.clone()
    for k in [k for k in out if k.endswith(".weight_orig")]:
        p = k[: -len("weight_orig")]
        w = out[k].reshape(out[k].shape[0], -1)
        u = torch.nn.functional.normalize(torch.randn(w.shape[0], generator=gen), dim=0)
        for _ in range(30):
            v = torch.nn.functional.normalize(w.t() @ u, dim=0)
            u = torch.nn.functional.normalize(w @ v, dim=0)
        assert out[p + "weight_u"].shape == u.shape and out[p + "weight_v"].shape == v.shape, k
        out[p + "weight_u"], out[p + "weight_v"] = u, v
    return {k: v.contiguous() for k, v in out.items()}


def forward(ckpt, x, name="x.safetensors"):
    save_np({"x": x}, os.path.join(a.work, name))
    return subprocess.run([a.helper, "forward", ckpt, os.path.join(a.work, name), os.path.join(a.work, "y.safetensors")],
                          capture_output=True, text=True)


for i, (spec, shape) in enumerate(SPECS):
    arch = os.path.join(a.work, f"arch{i}.yaml")
    with open(arch, "w") as f:
        f.write(spec)
    init = os.path.join(a.work, f"init{i}.safetensors")
    run([a.helper, "init", arch, init])
    with safe_open(init, "pt") as f:
        meta = f.metadata()
    options = yaml.safe_load(meta["tessera.arch"])
    kind = options["type"]
    check(meta["tessera.task"] == ("image_to_image" if kind == "resnet_generator" else "critic"),
          f"{spec}: task {meta['tessera.task']}")
    module = reference_archs.build(options).eval()
    module.load_state_dict(load_file(init), strict=True)  # tessera's names and shapes, as they are
    ckpt = os.path.join(a.work, f"net{i}.safetensors")
    sd = redraw(load_file(init))
    save_file(sd, ckpt, metadata=meta)
    module.load_state_dict(sd, strict=True)

    x = rng.random(shape, dtype=np.float32)
    r = forward(ckpt, x)
    check(r.returncode == 0, f"{spec}: helper forward " + (f"fails: {r.stderr.strip()[-400:]}" if r.returncode else "runs"))
    got = load_np(os.path.join(a.work, "y.safetensors"))["y"]
    with torch.no_grad():
        ref = reference_archs.unit_range_forward(kind, module, torch.from_numpy(x)).numpy()
    n, _, h, w = shape
    if kind == "resnet_generator":
        want = (n, shape[1], h, w)
    elif kind == "unet_discriminator_sn":
        want = (n, 1, h, w)
    else:  # PatchGAN: k4 s2 p1 halves (even sides), then two k4 s1 p1 convs take one off each
        ph, pw = h, w
        for _ in range(options["num_layers"]):
            ph, pw = (ph - 2) // 2 + 1, (pw - 2) // 2 + 1
        want = (n, 1, ph - 2, pw - 2)
    check(got.shape == want == ref.shape, f"{spec}: output shape {got.shape} (reference {ref.shape}, expected {want})")
    scale = float(np.abs(ref).max())
    err = float(np.abs(got - ref).max())
    check(scale > 1e-3 and err <= 1e-4 * max(scale, 1.0),
          f"{spec}: names load strictly, output equals PyTorch's (max error {err:.1e}, output scale {scale:.2g})")
    if kind == "resnet_generator":
        check(got.min() >= 0 and got.max() <= 1, f"{spec}: images come out in [0, 1]")

# Sides the networks cannot take are refused, naming the rule.
for i, (multiple, bad) in [(0, (4, (1, 3, 30, 32))), (9, (8, (1, 3, 36, 40)))]:
    r = forward(os.path.join(a.work, f"net{i}.safetensors"), rng.random(bad, dtype=np.float32), "bad.safetensors")
    check(r.returncode != 0 and f"multiples of {multiple}" in r.stdout + r.stderr,
          f"{SPECS[i][0]}: a {bad[2]}x{bad[3]} input is refused naming 'multiples of {multiple}'")
