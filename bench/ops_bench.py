#!/usr/bin/env python3
"""tessera's custom ops against the ATen composites they replace, side by side in one process
(libtessera_ops.so loaded with torch.ops.load_library; trials interleaved; medians):

  gram       torch.ops.tessera.gram vs bmm(F, F^T) / (C*L), at the VGG16 style layers of a 256x256
             batch of 4 (relu1_2 .. relu4_3), forward and forward + backward
  instance_norm_act  torch.ops.tessera.instance_norm_act(x, w, b, act=relu) vs relu(instance_norm(x, w, b)),
             CycleGAN's and the Johnson net's layer (64 channels, 128x128 and 256x256, batch 1 and 4),
             NCHW and channels_last, forward + backward
  imresize   torch.ops.tessera.imresize_bicubic vs the dense weight-matrix products it replaced
             (a 1020x678 RGB image -> x1/2, x1/4; 480x270 -> x4), float64 inside
  scale_add  torch.ops.tessera.scale_add(x, y, 0.1) vs x + 0.1 * y (EDSR's residual scaling) and
             the leaky_relu variant vs x + 0.2 * leaky_relu(y), channels_last, forward + backward

  ~/.cache/tessera/venv/bin/python bench/ops_bench.py [--trials 5] [--threads N] [--dtype float32|bfloat16]
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--lib", default=os.path.join(os.path.dirname(__file__), "..", "build", "libtessera_ops.so"))
p.add_argument("--trials", type=int, default=5)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.ops.load_library(a.lib)
dtype = getattr(torch, a.dtype)
dev = a.device


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def timeit(fn, reps):
    fn()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t) / reps


def compare(name, ours, theirs, reps):
    to, tt = [], []
    for _ in range(a.trials):
        to.append(timeit(ours, reps))
        tt.append(timeit(theirs, reps))
    mo, mt = statistics.median(to), statistics.median(tt)
    print(f"{name:34s} tessera {mo * 1e3:8.2f} ms   ATen {mt * 1e3:8.2f} ms   speed-up {mt / mo:5.2f}x")
    return mt / mo


def gram_ref(f):
    n, c = f.shape[:2]
    x = f.reshape(n, c, -1)
    return torch.bmm(x, x.transpose(1, 2)) / (c * x.shape[2])


print(f"torch {torch.__version__}, {dev}, {a.threads} threads, {a.dtype}, median of {a.trials} interleaved trials")
gram = torch.ops.tessera.gram
layers = [("relu1_2", 64, 256), ("relu2_2", 128, 128), ("relu3_3", 256, 64), ("relu4_3", 512, 32)]
tot = {"fwd": [0, 0], "fwdbwd": [0, 0]}
for name, c, s in layers:
    f = torch.randn(4, c, s, s, device=dev, dtype=dtype)
    fg = f.clone().requires_grad_()
    w = torch.randn(4, c, c, device=dev, dtype=dtype)
    compare(f"gram {name} [4,{c},{s},{s}] fwd", lambda: gram(f), lambda: gram_ref(f), 3)
    def fb(op):
        fg.grad = None
        (op(fg) * w).sum().backward()
    compare(f"gram {name} fwd+bwd", lambda: fb(gram), lambda: fb(gram_ref), 3)
# The whole style loss's Gram work (all four layers), forward + backward.
fs = [torch.randn(4, c, s, s, device=dev, dtype=dtype, requires_grad=True) for _, c, s in layers]
ws = [torch.randn(4, c, c, device=dev, dtype=dtype) for _, c, _ in layers]
def all_layers(op):
    loss = sum((op(f) * w).sum() for f, w in zip(fs, ws))
    loss.backward()
compare("gram, 4 VGG16 layers, fwd+bwd", lambda: all_layers(gram), lambda: all_layers(gram_ref), 2)
compare("gram, 4 VGG16 layers, fwd", lambda: [gram(f.detach()) for f in fs], lambda: [gram_ref(f.detach()) for f in fs], 2)

sa = torch.ops.tessera.scale_add
x = torch.randn(16, 64, 96, 96, device=dev, dtype=dtype).to(memory_format=torch.channels_last).requires_grad_()
y = torch.randn(16, 64, 96, 96, device=dev, dtype=dtype).to(memory_format=torch.channels_last).requires_grad_()
g = torch.randn_like(x)
def step(fn):
    x.grad = y.grad = None
    fn().backward(g)
compare("scale_add x+0.1y fwd", lambda: sa(x.detach(), y.detach(), 0.1), lambda: x.detach() + 0.1 * y.detach(), 5)
compare("scale_add x+0.1y fwd+bwd", lambda: step(lambda: sa(x, y, 0.1)), lambda: step(lambda: x + 0.1 * y), 5)
compare("scale_add x+0.2lrelu(y) fwd", lambda: sa(x.detach(), y.detach(), 0.2, "leaky_relu", 0.2),
        lambda: x.detach() + 0.2 * F.leaky_relu(y.detach(), 0.2), 5)
compare("scale_add x+0.2lrelu(y) fwd+bwd", lambda: step(lambda: sa(x, y, 0.2, "leaky_relu", 0.2)),
        lambda: step(lambda: x + 0.2 * F.leaky_relu(y, 0.2)), 5)

inorm = torch.ops.tessera.instance_norm_act
for n, c, hw in [(1, 64, 256), (4, 64, 128), (1, 256, 64)]:
    for cl in (False, True):
        mf = torch.channels_last if cl else torch.contiguous_format
        x = torch.randn(n, c, hw, hw, device=dev, dtype=dtype).to(memory_format=mf).requires_grad_()
        w = (torch.rand(c, device=dev) + 0.5).requires_grad_()
        b = torch.randn(c, device=dev).requires_grad_()
        g = torch.randn_like(x)
        def ib(fn):
            x.grad = w.grad = b.grad = None
            fn().backward(g)
        tag = f"[{n},{c},{hw},{hw}] {'CL' if cl else 'NCHW'}"
        compare(f"inorm+relu {tag} fwd", lambda: inorm(x.detach(), w.detach(), b.detach(), 1e-5, "relu", 0.0),
                lambda: F.relu(F.instance_norm(x.detach(), weight=w.detach(), bias=b.detach())), 5)
        compare(f"inorm+relu {tag} fwd+bwd", lambda: ib(lambda: inorm(x, w, b, 1e-5, "relu", 0.0)),
                lambda: ib(lambda: F.relu(F.instance_norm(x, weight=w, bias=b))), 3)

resize = torch.ops.tessera.imresize_bicubic
for (h, w, s) in [(678, 1020, 0.5), (678, 1020, 0.25), (270, 480, 4.0)]:
    x = torch.rand(3, h, w)
    oh, ow = int(-(-h * s // 1)), int(-(-w * s // 1))
    # The dense weight matrices (as tessera built them before): the resize of identity images
    # (a scale of 1 is the identity along the other dimension).
    wh = resize(torch.eye(h).unsqueeze(0), [oh, h], [s, 1.0], True)[0].double()   # [oh, h]
    ww = resize(torch.eye(w).unsqueeze(0), [w, ow], [1.0, s], True)[0].double()   # [w, ow]
    compare(f"imresize {w}x{h} x{s:g}", lambda: resize(x, [oh, ow], [s, s], True), lambda: (wh @ x.double() @ ww).float(), 3)
