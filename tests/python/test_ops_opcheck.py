"""tessera's custom ops (gram, scale_add, instance_norm_act, imresize_bicubic, warp_catmull_rom, history_clamp) loaded into Python from libtessera_ops.so: torch.library.opcheck (schema,
autograd registration, fake-tensor/Meta kernel, AOT dispatch), gradcheck and gradgradcheck in
float64, and values against composites written here from the definitions (Gram matrix as
pytorch/examples' fast_neural_style; x + beta * f(y))."""
import os

import torch
import torch.nn.functional as F

from common import check, parse_args

a = parse_args()
lib = os.path.join(os.path.dirname(a.tessera), "libtessera_ops.so")
check(os.path.exists(lib), f"{lib} exists")
torch.ops.load_library(lib)
gram, scale_add = torch.ops.tessera.gram, torch.ops.tessera.scale_add
torch.manual_seed(0)


def gram_ref(f):  # pytorch/examples fast_neural_style utils.gram_matrix
    b, ch, h, w = f.size()
    x = f.view(b, ch, w * h)
    return x.bmm(x.transpose(1, 2)) / (ch * h * w)


def scale_add_ref(x, y, beta, act, slope):
    f = {"none": y, "relu": F.relu(y), "leaky_relu": F.leaky_relu(y, slope)}[act]
    return x + beta * f


# Values against the composites, fp32, several channel counts (the op's recursive blocks).
for c in (3, 32, 64, 96, 257):
    f = torch.randn(2, c, 11, 9)
    err = (gram(f) - gram_ref(f)).abs().max().item()
    check(err < 1e-5, f"gram C={c} equals the bmm composite (max error {err:.2e})")
f = torch.randn(2, 48, 8, 8).to(memory_format=torch.channels_last)
check((gram(f) - gram_ref(f.contiguous())).abs().max().item() < 1e-5, "gram of channels_last features")
for act in ("none", "relu", "leaky_relu"):
    x, y = torch.randn(2, 4, 9, 9), torch.randn(2, 4, 9, 9)
    err = (scale_add(x, y, 0.2, act, 0.1) - scale_add_ref(x, y, 0.2, act, 0.1)).abs().max().item()
    check(err < 1e-6, f"scale_add {act} equals x + beta f(y) (max error {err:.2e})")
    out = scale_add(x.to(memory_format=torch.channels_last), y, 0.2, act, 0.1)
    check(out.is_contiguous(memory_format=torch.channels_last), f"scale_add {act} keeps x's channels_last layout")

# instance_norm_act against torch.nn.functional.instance_norm + activation, both layouts.
inorm = torch.ops.tessera.instance_norm_act
for act, f in (("none", lambda y: y), ("relu", F.relu), ("leaky_relu", lambda y: F.leaky_relu(y, 0.2))):
    for cl in (False, True):
        x = torch.randn(2, 19, 9, 11) * 3 + 1
        if cl:
            x = x.to(memory_format=torch.channels_last)
        w, b = torch.rand(19) + 0.5, torch.randn(19)
        xr, wr, br = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
        xo, wo, bo = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
        ref = f(F.instance_norm(xr, weight=wr, bias=br, eps=1e-5))
        out = inorm(xo, wo, bo, 1e-5, act, 0.2)
        g = torch.randn_like(ref)
        ref.backward(g)
        out.backward(g)
        err = max((out - ref).abs().max().item(), (xo.grad - xr.grad).abs().max().item(), (wo.grad - wr.grad).abs().max().item(),
                  (bo.grad - br.grad).abs().max().item())
        check(err < 2e-4 and out.is_contiguous(memory_format=torch.channels_last) == cl,
              f"instance_norm_act {act} {'channels_last' if cl else 'NCHW'} equals F.instance_norm + {act}, values and gradients (max error {err:.2e})")

# torch.library.opcheck: schema, autograd registration, fake tensors, AOT dispatch (static and dynamic).
for args in [(torch.randn(2, 35, 4, 3, requires_grad=True),), (torch.randn(1, 8, 20),),
             (torch.randn(2, 16, 5, 5).to(memory_format=torch.channels_last).requires_grad_(),)]:
    torch.library.opcheck(gram, args)
check(True, "opcheck gram")
for act in ("none", "relu", "leaky_relu"):
    x, y = torch.randn(2, 3, 6, 5, requires_grad=True), torch.randn(2, 3, 6, 5, requires_grad=True)
    torch.library.opcheck(scale_add, (x, y, 0.3, act, 0.2))
    torch.library.opcheck(scale_add, (x.detach().to(memory_format=torch.channels_last), y.detach(), 0.3, act, 0.2))
check(True, "opcheck scale_add")
for act in ("none", "relu", "leaky_relu"):
    x = torch.randn(2, 3, 5, 4, requires_grad=True)
    torch.library.opcheck(inorm, (x, torch.rand(3, requires_grad=True) + 0.5, torch.randn(3, requires_grad=True), 1e-5, act, 0.2))
    torch.library.opcheck(inorm, (x.detach().to(memory_format=torch.channels_last).requires_grad_(), None, None, 1e-5, act, 0.2))
check(True, "opcheck instance_norm_act")
resize = torch.ops.tessera.imresize_bicubic
# Not the AOT-dispatch tests: the backward builds its weight matrices from concrete sizes (docs/ops.md).
resize_checks = ("test_schema", "test_autograd_registration", "test_faketensor")
torch.library.opcheck(resize, (torch.rand(3, 21, 17, dtype=torch.float64, requires_grad=True), [7, 6], [1 / 3, 6 / 17], True),
                      test_utils=resize_checks)
torch.library.opcheck(resize, (torch.rand(2, 3, 8, 9), [16, 18], [2.0, 2.0], True), test_utils=resize_checks)
check(True, "opcheck imresize_bicubic")
# The values against MATLAB's are test_resize_matlab.py. The output is float32 whatever the input,
# so gradcheck uses a large step (exact for a linear map) and float32 tolerances.
x = torch.rand(1, 9, 11, dtype=torch.float64, requires_grad=True)
check(torch.autograd.gradcheck(lambda x: resize(x, [5, 6], [0.5, 0.5], True).double(), (x,), eps=1e-2, atol=1e-4, rtol=1e-3),
      "imresize_bicubic gradcheck")

# gradcheck and gradgradcheck in float64 (relu's kink avoided: |y| >= 0.1).
f = torch.randn(2, 35, 3, 2, dtype=torch.float64, requires_grad=True)
check(torch.autograd.gradcheck(gram, (f,)) and torch.autograd.gradgradcheck(gram, (f,)), "gram gradcheck and gradgradcheck")
for act in ("none", "relu", "leaky_relu"):
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    y = (y0 + 0.1 * y0.sign()).requires_grad_()
    fn = lambda x, y: scale_add(x, y, 0.7, act, 0.2)
    check(torch.autograd.gradcheck(fn, (x, y)) and torch.autograd.gradgradcheck(fn, (x, y)), f"scale_add {act} gradcheck and gradgradcheck")

x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
w = (torch.rand(3, dtype=torch.float64) + 0.5).requires_grad_()
b = torch.randn(3, dtype=torch.float64, requires_grad=True)
fn = lambda x, w, b: inorm(x, w, b, 1e-5, "leaky_relu", 0.2)
check(torch.autograd.gradcheck(fn, (x, w, b)) and torch.autograd.gradgradcheck(fn, (x, w, b)), "instance_norm_act gradcheck and gradgradcheck")

# warp_catmull_rom against a loop written here from the definition (Catmull-Rom = Keys' cubic with
# a = -0.5, taps clamped to the border), then opcheck, gradcheck and gradgradcheck.
warp = torch.ops.tessera.warp_catmull_rom


def keys(d, a=-0.5):
    d = abs(d)
    return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1 if d <= 1 else (a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a if d < 2 else 0.0)


def warp_ref(img, flow):
    n, c, h, w = img.shape
    out = torch.zeros_like(img, dtype=torch.float64)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                u, v = j + flow[b, 0, i, j].item(), i + flow[b, 1, i, j].item()
                iu, iv = int(torch.floor(torch.tensor(u))), int(torch.floor(torch.tensor(v)))
                for y in range(iv - 1, iv + 3):
                    for x in range(iu - 1, iu + 3):
                        wt = keys(v - y) * keys(u - x)
                        out[b, :, i, j] += wt * img[b, :, min(max(y, 0), h - 1), min(max(x, 0), w - 1)].double()
    return out


img, flow = torch.rand(2, 3, 7, 9), torch.randn(2, 2, 7, 9) * 2.5
err = (warp(img, flow).double() - warp_ref(img, flow)).abs().max().item()
check(err < 1e-5, f"warp_catmull_rom equals Keys' a = -0.5 cubic from its definition (max error {err:.2e})")
torch.library.opcheck(warp, (torch.rand(1, 2, 5, 6, requires_grad=True), torch.randn(1, 2, 5, 6, requires_grad=True)))
torch.library.opcheck(warp, (torch.rand(2, 3, 4, 7), torch.randn(2, 2, 4, 7)))
check(True, "opcheck warp_catmull_rom")
x = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
fl = (torch.randn(1, 2, 4, 5, dtype=torch.float64) * 1.5).requires_grad_()
check(torch.autograd.gradcheck(warp, (x, fl)) and torch.autograd.gradgradcheck(warp, (x, fl)), "warp_catmull_rom gradcheck and gradgradcheck")

# history_clamp against a loop written here from the definition (YCoCg of Malvar and Sullivan,
# the box of the current frame's neighbourhood with replicated borders), opcheck, gradcheck.
hclamp = torch.ops.tessera.history_clamp
M = torch.tensor([[0.25, 0.5, 0.25], [0.5, 0.0, -0.5], [-0.25, 0.5, -0.25]], dtype=torch.float64)


def hclamp_ref(hist, cur, r):
    n, _, h, w = hist.shape
    hy, cy = torch.einsum("kc,nchw->nkhw", M, hist.double()), torch.einsum("kc,nchw->nkhw", M, cur.double())
    out = torch.empty_like(hy)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                box = cy[b, :, max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1].reshape(3, -1)  # replication adds no new values
                out[b, :, i, j] = torch.minimum(torch.maximum(hy[b, :, i, j], box.min(1).values), box.max(1).values)
    return torch.einsum("kc,nchw->nkhw", torch.linalg.inv(M), out)


hist, cur = torch.rand(2, 3, 6, 7) * 1.5 - 0.25, torch.rand(2, 3, 6, 7)
for r in (0, 1, 2):
    err = (hclamp(hist, cur, r).double() - hclamp_ref(hist, cur, r)).abs().max().item()
    check(err < 1e-5, f"history_clamp radius {r} equals the YCoCg box clamp from its definition (max error {err:.2e})")
torch.library.opcheck(hclamp, (torch.rand(1, 3, 5, 6, requires_grad=True), torch.rand(1, 3, 5, 6, requires_grad=True), 1))
check(True, "opcheck history_clamp")
x = (torch.rand(1, 3, 4, 4, dtype=torch.float64) * 1.5 - 0.25).requires_grad_()
c = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
check(torch.autograd.gradcheck(hclamp, (x, c, 1)) and torch.autograd.gradgradcheck(hclamp, (x, c, 1)), "history_clamp gradcheck and gradgradcheck")

# Autocast: gram in the autocast dtype (as bmm), scale_add in the wider input dtype.
with torch.autocast("cpu", dtype=torch.bfloat16):
    g = gram(torch.randn(2, 8, 4, 4))
    s = scale_add(torch.randn(2, 3).bfloat16(), torch.randn(2, 3), 1.0)
check(g.dtype == torch.bfloat16 and s.dtype == torch.float32, "autocast: gram bf16, scale_add float32")

if torch.cuda.is_available():
    f = torch.randn(2, 70, 16, 16, device="cuda")
    check((gram(f) - gram_ref(f)).abs().max().item() < 1e-4, "gram on CUDA")
    torch.library.opcheck(gram, (f.requires_grad_(),))
    x, y = torch.randn(2, 3, 8, 8, device="cuda"), torch.randn(2, 3, 8, 8, device="cuda")
    check((scale_add(x, y, 0.2, "leaky_relu", 0.1) - scale_add_ref(x, y, 0.2, "leaky_relu", 0.1)).abs().max().item() < 1e-6, "scale_add on CUDA")
    for cl in (False, True):
        x = torch.randn(2, 64, 32, 32, device="cuda")
        if cl:
            x = x.to(memory_format=torch.channels_last)
        err = (inorm(x, None, None, 1e-5, "relu", 0.0) - F.relu(F.instance_norm(x))).abs().max().item()
        check(err < 1e-4, f"instance_norm_act on CUDA, channels_last {cl} (max error {err:.2e})")
    x, fl = torch.rand(2, 3, 16, 20, device="cuda"), torch.randn(2, 2, 16, 20, device="cuda") * 3
    err = (warp(x, fl).cpu() - warp(x.cpu(), fl.cpu())).abs().max().item()
    check(err < 1e-5, f"warp_catmull_rom on CUDA equals the CPU kernel (max error {err:.2e})")
    torch.library.opcheck(warp, (x.requires_grad_(), fl.requires_grad_()))
    h, c = torch.rand(2, 3, 16, 20, device="cuda") * 1.5 - 0.25, torch.rand(2, 3, 16, 20, device="cuda")
    err = (hclamp(h, c, 1).cpu() - hclamp(h.cpu(), c.cpu(), 1)).abs().max().item()
    check(err < 1e-6, f"history_clamp on CUDA equals the CPU kernel (max error {err:.2e})")
else:
    print("skip: no CUDA device for the CUDA kernels")
