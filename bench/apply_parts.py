"""The single layers of EDSR's and ESPCN's inference, timed alone: LibTorch (channels-last, oneDNN
through `torch.conv2d` and `torch.ops.mkldnn._convolution_pointwise`, what `tessera apply` ran
before its own stem and Winograd kernels, and still runs with TESSERA_WINOGRAD=0 or in bf16)
against one-node onnxruntime graphs, median of interleaved runs. It found the gap that those kernels
close (docs/benchmarks.md); the kernels themselves are timed through `tessera apply`
(bench/apply_speed.py), being C++ functions rather than ops Python can call.

  ~/.cache/tessera/venv/bin/python bench/apply_parts.py [--threads 2] [--runs 7]"""
import argparse
import time

import numpy as np
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--runs", type=int, default=7)
a = p.parse_args()
torch.set_num_threads(a.threads)
pointwise = torch.ops.mkldnn._convolution_pointwise


def bench(f):
    f()
    ts = []
    for _ in range(a.runs):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return np.median(ts) * 1000


def ort_graph(nodes, x_shape, inits):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def cl(t):
    return t.contiguous(memory_format=torch.channels_last)


def conv_row(name, cin, cout, k, h, w, act=None):
    x, wt, b = torch.rand(1, cin, h, w), torch.randn(cout, cin, k, k) * 0.05, torch.randn(cout) * 0.1
    xc, wc = cl(x), cl(wt)
    if act:
        ours = lambda: pointwise(xc, wc, b, [k // 2] * 2, [1, 1], [1, 1], 1, act, [], "")
    else:
        ours = lambda: torch.conv2d(xc, wc, b, 1, k // 2)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c" if act else "y"], pads=[k // 2] * 4)]
    if act:
        nodes.append(helper.make_node(act.capitalize(), ["c"], ["y"]))
    s = ort_graph(nodes, [1, cin, h, w], {"w": wt.numpy(), "b": b.numpy()})
    xn = x.numpy()
    t, r = bench(ours), bench(lambda: s.run(None, {"x": xn}))
    gflops = 2 * cin * cout * k * k * h * w / 1e9
    print(f"{name:44s} {t:9.1f} {r:9.1f} {t / r:6.2f} {gflops / t * 1000:8.0f}")


def residual_row(name, c, h, w):
    """oneDNN's fused conv + add: into a new tensor (it copies the residual first) and in place over
    the residual (nn::conv_add_, what EDSR's blocks use when the Winograd kernel is off)."""
    x, r = cl(torch.rand(1, c, h, w)), cl(torch.rand(1, c, h, w))
    wt, b = cl(torch.randn(c, c, 3, 3) * 0.05), torch.randn(c) * 0.1
    args = ([1, 1], [1, 1], [1, 1], 1, "add", None, None, [], None)
    into = r.clone()
    t = bench(lambda: torch.ops.mkldnn._convolution_pointwise.binary(x, r, wt, b, *args))
    ti = bench(lambda: torch.ops.mkldnn._convolution_pointwise_.binary(into, x, wt, b, *args))
    print(f"{name:44s} {t:9.1f} {ti:9.1f} {ti / t:6.2f}   (new tensor ms, in place ms, ratio)")


def shuffle_row(name, c, r, h, w):
    y = cl(torch.rand(1, c * r * r, h, w))
    s = ort_graph([helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=r, mode="CRD")], [1, c * r * r, h, w], {})
    yn = y.contiguous().numpy()
    t, o = bench(lambda: torch.pixel_shuffle(y, r)), bench(lambda: s.run(None, {"x": yn}))
    print(f"{name:44s} {t:9.1f} {o:9.1f} {t / o:6.2f} {'':>8s}")


print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {a.threads} threads, median of {a.runs}")
print(f"{'layer':44s} {'tessera ms':>9s} {'ORT ms':>9s} {'ratio':>6s} {'GFLOP/s':>8s}")
with torch.inference_mode():
    conv_row("EDSR body 3x3 64->64 + ReLU, 960x540", 64, 64, 3, 540, 960, "relu")
    conv_row("EDSR upsampling 3x3 64->256, 960x540", 64, 256, 3, 540, 960)
    shuffle_row("EDSR PixelShuffle x2 to 64 ch, 1920x1080", 64, 2, 540, 960)
    residual_row("EDSR body conv + residual, 960x540", 64, 540, 960)
    conv_row("EDSR HR 3x3 64->3, 1920x1080", 64, 3, 3, 1080, 1920)
    conv_row("ESPCN 5x5 3->64 + tanh, 640x360", 3, 64, 5, 360, 640, "tanh")
    conv_row("ESPCN 3x3 64->32 + tanh, 640x360", 64, 32, 3, 360, 640, "tanh")
    conv_row("ESPCN 3x3 32->27, 640x360", 32, 27, 3, 360, 640)
    shuffle_row("ESPCN PixelShuffle x3 to 3 ch, 1920x1080", 3, 3, 360, 640)
