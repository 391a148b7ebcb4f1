"""Inference speed of `tessera apply` against onnxruntime (on tessera's own ONNX export) and PyTorch
Python eager (NCHW and channels-last, inference mode) on the same weights, interleaved trials.

  ~/.cache/tessera/venv/bin/python bench/apply_speed.py [--trials 3] [--threads 2]

Cases: EDSR-baseline x2 on a 960x540 photograph (-> 1920x1080), ESPCN x3 on 640x360 (-> 1920x1080,
the real-time case, reported as frames per second), and two image-to-image networks at 960x540: the
Johnson style network (pytorch/examples' TransformerNet) and CycleGAN's 9-block ResNet generator. For tessera the network time is the one
`tessera apply` logs (image decode and encode run beside it); the CLI's whole wall time, start-up
and PNG encode included, is shown too; also with TESSERA_WINOGRAD=0 (oneDNN's direct convolutions
where the Winograd kernel would run), and how far the two outputs are apart. Also, on CPUs with AVX512_BF16: bf16 (`--precision bf16`) time and its PSNR against
the fp32 output. Weights are random (speed does not depend on them)."""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
import yaml
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import reference_archs  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--build", default=os.environ.get("TESSERA_BUILD", os.path.join(ROOT, "build")))
p.add_argument("--trials", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--only", choices=["edsr", "espcn", "style", "cyclegan"], default=None)
a = p.parse_args()
tessera, helper = os.path.join(a.build, "tessera"), os.path.join(a.build, "tests", "tessera_test_helper")
torch.set_num_threads(a.threads)
# bf16 inference is an option for CPUs with AVX512_BF16; elsewhere LibTorch emulates it (10x slower
# than fp32 on an AVX2 Zen 2), so the row is left out.
HAS_BF16 = "avx512_bf16" in open("/proc/cpuinfo").read().split()
work = tempfile.mkdtemp(prefix="tessera_apply_bench_")
env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))


def run(cmd, extra_env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(env, **(extra_env or {})))
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def photo(w, h):
    path = os.path.join(work, f"photo_{w}x{h}.png")
    Image.open(os.path.join(ROOT, "datasets/skimage/train/astronaut.png")).convert("RGB").resize((w, h), Image.BICUBIC).save(path)
    return path


def tessera_apply(ckpt, img, out, *extra, extra_env=None):
    t0 = time.perf_counter()
    log = run([tessera, "apply", "--checkpoint", ckpt, img, out, *extra], extra_env)
    wall = time.perf_counter() - t0
    m = re.search(r"network (\d+) ms", log)
    return float(m.group(1)) / 1000, wall


def psnr(x, y):
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def case(name, spec, w, h):
    arch_yaml = os.path.join(work, f"{name}.yaml")
    open(arch_yaml, "w").write(spec)
    ckpt = os.path.join(work, f"{name}.safetensors")
    run([helper, "init", arch_yaml, ckpt])
    onnx_path = os.path.join(work, f"{name}.onnx")
    run([tessera, "export", "--checkpoint", ckpt, "--output", onnx_path])
    img = photo(w, h)
    x = np.asarray(Image.open(img), dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    with safe_open(ckpt, "pt") as f:
        options = yaml.safe_load(f.metadata()["tessera.arch"])

    def reference():
        if options["type"] == "transformer_net":  # its own random weights (tessera's names differ; speed does not care)
            return reference_archs.TransformerNet(options["base"], options["num_res"]).eval()
        m = reference_archs.build(options).eval()
        m.load_state_dict(load_file(ckpt), strict=True)
        return m

    module = reference()
    module_cl = reference().to(memory_format=torch.channels_last)
    xt = torch.from_numpy(x)

    def torch_time(m, inp):
        with torch.inference_mode():
            t0 = time.perf_counter()
            m(inp)
            return time.perf_counter() - t0

    def ort_time():
        t0 = time.perf_counter()
        sess.run(None, {"input": x})
        return time.perf_counter() - t0

    modes = {
        "tessera apply (auto tile, channels-last)": lambda: tessera_apply(ckpt, img, os.path.join(work, "o.png")),
        "tessera apply, TESSERA_WINOGRAD=0": lambda: tessera_apply(ckpt, img, os.path.join(work, "o_direct.png"),
                                                                   extra_env={"TESSERA_WINOGRAD": "0"}),
        "tessera apply --tile 0 --nchw": lambda: tessera_apply(ckpt, img, os.path.join(work, "o_nchw.png"), "--tile", "0", "--nchw"),
        "onnxruntime (tessera's export)": lambda: (ort_time(), None),
        "PyTorch eager NCHW": lambda: (torch_time(module, xt), None),
        "PyTorch eager channels-last": lambda: (torch_time(module_cl, xt.contiguous(memory_format=torch.channels_last)), None),
    }
    if HAS_BF16:
        modes["tessera apply --precision bf16"] = lambda: tessera_apply(ckpt, img, os.path.join(work, "o_bf16.png"), "--precision", "bf16")
    ort_time()  # warm-up (ORT plans on the first run)
    times = {k: [] for k in modes}
    walls = {k: [] for k in modes}
    for _ in range(a.trials):
        for k, f in modes.items():
            t, wall = f()
            times[k].append(t)
            if wall is not None:
                walls[k].append(wall)
    ref = statistics.median(times["onnxruntime (tessera's export)"])
    print(f"\n{name}: {spec}, {w}x{h} -> x{options.get('scale', 1)}, {a.threads} threads, median of {a.trials} interleaved trials")
    print(f"{'path':44s} {'network s':>10s} {'vs ORT':>7s} {'CLI wall s':>11s}")
    for k in modes:
        t = statistics.median(times[k])
        wall = f"{statistics.median(walls[k]):11.3f}" if walls[k] else " " * 11
        print(f"{k:44s} {t:10.3f} {t / ref:7.2f} {wall}")
    fp32 = np.asarray(Image.open(os.path.join(work, "o.png")))
    nchw = np.asarray(Image.open(os.path.join(work, "o_nchw.png")))
    bf16 = (f"bf16 output vs fp32: PSNR {psnr(np.asarray(Image.open(os.path.join(work, 'o_bf16.png'))), fp32):.2f} dB"
            if HAS_BF16 else "bf16 not timed (no AVX512_BF16)")
    direct = np.asarray(Image.open(os.path.join(work, "o_direct.png")))
    diff = np.abs(fp32.astype(int) - direct)
    print(f"{bf16}; channels-last vs NCHW output: max |diff| {np.abs(fp32.astype(int) - nchw).max()} (8-bit levels); "
          f"Winograd vs direct convolutions: max |diff| {diff.max()} on {np.mean(diff > 0):.1e} of the values")
    return statistics.median(times["tessera apply (auto tile, channels-last)"]), ref


print(f"torch {torch.__version__}, onnxruntime {ort.__version__}")
if a.only in (None, "edsr"):
    case("edsr", "{type: edsr, scale: 2}", 960, 540)
if a.only in (None, "espcn"):
    t, ref = case("espcn", "{type: espcn, scale: 3}", 640, 360)
    print(f"ESPCN x3 360p -> 1080p: tessera {1 / t:.1f} frames/s, onnxruntime {1 / ref:.1f} frames/s (network only)")
if a.only in (None, "style"):
    case("style", "{type: transformer_net}", 960, 540)
if a.only in (None, "cyclegan"):
    case("cyclegan", "{type: resnet_generator, num_feat: 64, num_blocks: 9}", 960, 540)
