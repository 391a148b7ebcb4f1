"""Generators and decoders export to ONNX (latent z, and label for conditional generators, as
inputs) and onnxruntime reproduces LibTorch's output (max abs error <= 1e-4) at batch sizes never
used at export."""
import os

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file, save_file

from common import check, parse_args, run

a = parse_args()
rng = np.random.default_rng(0)
ARCHS = [
    ("{type: dcgan_generator, image_size: 8, channels: 1, latent_dim: 12, base: 16}", 12, 0),
    ("{type: dcgan_generator, image_size: 16, channels: 3, latent_dim: 10, base: 8, num_classes: 5}", 10, 5),
    ("{type: dcgan_generator, image_size: 8, latent_dim: 4, base: 8, norm: none}", 4, 0),
    ("{type: mlp_generator, latent_dim: 3, hidden: 32, layers: 3}", 3, 0),
    ("{type: conv_vae, image_size: 8, channels: 1, base: 8, latent_dim: 6}", 6, 0),
    ("{type: conv_autoencoder, image_size: 12, channels: 3, base: 8, latent_dim: 5}", 5, 0),
]
for i, (spec, latent, classes) in enumerate(ARCHS):
    arch_yaml = os.path.join(a.work, f"g{i}.yaml")
    open(arch_yaml, "w").write(spec)
    ckpt = os.path.join(a.work, f"g{i}.safetensors")
    run([a.helper, "init", arch_yaml, ckpt])
    onnx_path = os.path.join(a.work, f"g{i}.onnx")
    run([a.tessera, "export", "--checkpoint", ckpt, "--output", onnx_path])
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        z = rng.normal(size=(batch, latent)).astype(np.float32)
        feeds = {"z": z}
        tensors = {"z": z}
        if classes:
            feeds["label"] = tensors["label"] = rng.integers(0, classes, size=batch).astype(np.int64)
        save_file(tensors, os.path.join(a.work, "in.safetensors"))
        run([a.helper, "generate", ckpt, os.path.join(a.work, "in.safetensors"), os.path.join(a.work, "out.safetensors")])
        ref = load_file(os.path.join(a.work, "out.safetensors"))["y"]
        got = sess.run(None, feeds)[0]
        err = np.abs(got - ref).max()
        check(got.shape == ref.shape and err <= 1e-4, f"{spec} batch {batch}: shape {got.shape}, max abs error {err:.2e}")
