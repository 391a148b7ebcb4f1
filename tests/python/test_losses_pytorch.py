"""The adversarial losses, total variation and Gram matrices against PyTorch written from the papers'
and reference repositories' definitions (BasicSR's GANLoss and ESRGAN model for the relativistic
average loss, pytorch/examples fast_neural_style for the Gram matrix): values and gradients."""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from common import check, parse_args, run

a = parse_args()
torch.manual_seed(0)
real, fake = torch.randn(16, dtype=torch.float64) * 2, torch.randn(16, dtype=torch.float64) * 2 - 1


def bce(x, target):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


reference = {
    "nonsaturating": (lambda r, f: bce(r, 1) + bce(f, 0), lambda r, f: bce(f, 1)),
    "lsgan": (lambda r, f: 0.5 * (F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f))),
              lambda r, f: 0.5 * F.mse_loss(f, torch.ones_like(f))),
    "hinge": (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda r, f: -f.mean()),
    "wasserstein": (lambda r, f: -(r.mean() - f.mean()), lambda r, f: -f.mean()),
    "relativistic": (lambda r, f: 0.5 * bce(r - f.mean(), 1) + 0.5 * bce(f - r.mean(), 0),
                     lambda r, f: 0.5 * (bce(r.detach() - f.mean(), 0) + bce(f - r.detach().mean(), 1))),
}
inp = os.path.join(a.work, "scores.safetensors")
save_file({"real": real, "fake": fake}, inp)
for name, (d_fn, g_fn) in reference.items():
    out = os.path.join(a.work, f"{name}.safetensors")
    run([a.helper, "adversarial", name, inp, out])
    got = load_file(out)
    for side, fn in (("critic", d_fn), ("generator", g_fn)):
        r, f = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
        v = fn(r, f)
        v.backward()
        dr = r.grad if r.grad is not None else torch.zeros_like(r)
        err = max(abs(v.item() - got[side].item()), (dr - got[side + "_d_real"]).abs().max().item(),
                  (f.grad - got[side + "_d_fake"]).abs().max().item())
        check(err < 1e-12, f"{name} {side} loss and gradients = PyTorch (max diff {err:.1e})")

x = torch.rand(2, 3, 7, 9, dtype=torch.float64, requires_grad=True)
save_file({"x": x.detach()}, os.path.join(a.work, "x.safetensors"))
run([a.helper, "tv", os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "tv.safetensors")])
got = load_file(os.path.join(a.work, "tv.safetensors"))
dh, dw = x[:, :, 1:, :] - x[:, :, :-1, :], x[:, :, :, 1:] - x[:, :, :, :-1]
tv = dh.abs().mean() + dw.abs().mean()
tv.backward()
check(abs(tv.item() - got["tv"].item()) < 1e-12 and (x.grad - got["tv_d_x"]).abs().max().item() < 1e-12, "total variation and its gradient = PyTorch")
check(abs((dh.square().mean() + dw.square().mean()).item() - got["tv_squared"].item()) < 1e-12, "squared total variation = PyTorch")

feat = torch.randn(2, 5, 6, 4, dtype=torch.float64)
save_file({"f": feat}, os.path.join(a.work, "f.safetensors"))
run([a.helper, "gram", os.path.join(a.work, "f.safetensors"), os.path.join(a.work, "gram.safetensors")])
b, ch, h, w = feat.shape
v = feat.view(b, ch, w * h)
expected = v.bmm(v.transpose(1, 2)) / (ch * h * w)  # pytorch/examples fast_neural_style utils.gram_matrix
err = (expected - load_file(os.path.join(a.work, "gram.safetensors"))["gram"]).abs().max().item()
check(err < 1e-12, f"Gram matrix = pytorch/examples' (max diff {err:.1e})")
