"""Every SR arch (ESPCN, EDSR, WDSR, SRResNet, RRDBNet), checked against independent references:
- its weights file loads with safetensors.torch into the equivalent PyTorch module (strict names
  and shapes), and that module's output equals LibTorch's (max abs error <= 1e-4);
- its ONNX export (tessera export) runs in onnxruntime at sizes and batch sizes never used when it
  was built, equal to LibTorch's output (max abs error <= 1e-4), and passes onnx's full checker."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import yaml
from safetensors import safe_open
from safetensors.numpy import load_file as load_np
from safetensors.numpy import save_file as save_np
from safetensors.torch import load_file

import reference_archs
from common import check, parse_args, run

a = parse_args()
ARCHS = [
    "{type: espcn, scale: 3, feat1: 16, feat2: 8}",
    "{type: espcn, scale: 2, feat1: 16, feat2: 8, activation: relu}",
    "{type: edsr, scale: 2, num_feat: 16, num_block: 2}",
    "{type: edsr, scale: 3, num_feat: 16, num_block: 2, res_scale: 0.1}",
    "{type: edsr, scale: 4, num_feat: 16, num_block: 1}",
    "{type: wdsr, variant: a, scale: 2, num_feat: 8, num_block: 2}",
    "{type: wdsr, variant: b, scale: 4, num_feat: 10, num_block: 2}",
    "{type: srresnet, scale: 4, num_feat: 16, num_block: 2}",
    "{type: srresnet, scale: 2, num_feat: 8, num_block: 1}",
    "{type: rrdbnet, scale: 4, num_feat: 16, num_block: 2, num_grow_ch: 8}",
    "{type: rrdbnet, scale: 2, num_feat: 8, num_block: 1, num_grow_ch: 4}",
    "{type: rrdbnet, scale: 1, num_feat: 8, num_block: 1, num_grow_ch: 4}",
]
rng = np.random.default_rng(0)
for i, spec in enumerate(ARCHS):
    arch_yaml = os.path.join(a.work, f"arch{i}.yaml")
    with open(arch_yaml, "w") as f:
        f.write(spec)
    ckpt = os.path.join(a.work, f"arch{i}.safetensors")
    run([a.helper, "init", arch_yaml, ckpt])
    with safe_open(ckpt, "pt") as f:
        meta = f.metadata()
    options = yaml.safe_load(meta["tessera.arch"])
    module = reference_archs.build(options).eval()
    module.load_state_dict(load_file(ckpt), strict=True)  # raises on any name or shape mismatch
    check(True, f"{spec}: state_dict names and shapes match PyTorch")

    onnx_path = os.path.join(a.work, f"arch{i}.onnx")
    run([a.tessera, "export", "--checkpoint", ckpt, "--output", onnx_path])
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    conv_path = os.path.join(a.work, f"arch{i}_conv.onnx")
    run([a.tessera, "export", "--checkpoint", ckpt, "--output", conv_path, "--pixel-shuffle-as-conv"])
    conv_session = ort.InferenceSession(conv_path, providers=["CPUExecutionProvider"])
    # RRDBNet x2 and x1 pixel-unshuffle their input: sides divisible by 4.
    for shape in [(1, 3, 11, 13), (2, 3, 24, 17)] if "rrdbnet" not in spec else [(1, 3, 12, 16), (2, 3, 24, 20)]:
        x = rng.random(shape, dtype=np.float32)
        save_np({"x": x}, os.path.join(a.work, "x.safetensors"))
        run([a.helper, "forward", ckpt, os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "y.safetensors")])
        libtorch = load_np(os.path.join(a.work, "y.safetensors"))["y"]
        with torch.no_grad():
            pytorch = module(torch.from_numpy(x)).numpy()
        onnxrt = session.run(None, {"input": x})[0]
        check(libtorch.shape == pytorch.shape == onnxrt.shape, f"{spec} {shape}: output shape {libtorch.shape}")
        e1, e2 = np.abs(libtorch - pytorch).max(), np.abs(libtorch - onnxrt).max()
        e3 = np.abs(libtorch - conv_session.run(None, {"input": x})[0]).max()
        check(e1 <= 1e-4, f"{spec} {shape}: LibTorch vs PyTorch max abs error {e1:.2e}")
        check(e2 <= 1e-4, f"{spec} {shape}: LibTorch vs onnxruntime max abs error {e2:.2e}")
        check(e3 <= 1e-4, f"{spec} {shape}: LibTorch vs onnxruntime (PixelShuffle as ConvTranspose) max abs error {e3:.2e}")
