"""Every registered arch exports to ONNX and onnxruntime reproduces LibTorch: each name with its
defaults (the list comes from the registry, so a new arch is covered without touching this file),
plus the variants whose graphs differ (conditional critics, norms, VGG16 with average pooling and
[-1, 1] inputs). Each model passes onnx's full checker and runs at two batch sizes, and networks that
take any image size at two sizes never used at export; generators (and autoencoders, whose decoder
is exported) take `z`, conditional ones and conditional critics a `label`. Tolerance: 1e-4 of the output's scale."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import yaml
from safetensors.numpy import load_file, save_file

from common import check, parse_args, run

a = parse_args()
rng = np.random.default_rng(0)
names = run([a.helper, "archs"]).split()
check(len(names) >= 14, f"{len(names)} registered archs: {' '.join(names)}")
specs = [f"{{type: {n}}}" for n in names] + [
    "{type: dcgan_critic, num_classes: 4, conditioning: concat, image_size: 16, base: 8}",
    "{type: dcgan_critic, num_classes: 5, conditioning: projection, image_size: 16, base: 8, norm: layer}",
    "{type: dcgan_critic, image_size: 16, base: 8, norm: none, channels: 3}",
    "{type: mlp_critic, norm: layer, hidden: 16}",
    "{type: vgg, depth: 16, pooling: avg, range_norm: true}",
    "{type: vgg, depth: 19, use_input_norm: false}",
    "{type: dcgan_generator, image_size: 16, channels: 3, latent_dim: 10, base: 8, num_classes: 5}",
    "{type: dcgan_generator, image_size: 8, latent_dim: 4, base: 8, norm: none}",
    "{type: conv_autoencoder, image_size: 12, channels: 3, base: 8, latent_dim: 5}",
    "{type: temporal_sr, scale: 3, num_feat: 8, num_conv: 3, clamp_radius: 2}",
    "{type: temporal_sr, scale: 2, history: false}",
]
for i, spec in enumerate(specs):
    arch_yaml = os.path.join(a.work, f"a{i}.yaml")
    open(arch_yaml, "w").write(spec)
    ckpt = os.path.join(a.work, f"a{i}.safetensors")
    run([a.helper, "init", arch_yaml, ckpt])
    onnx_path = os.path.join(a.work, f"a{i}.onnx")
    run([a.tessera, "export", "--checkpoint", ckpt, "--output", onnx_path])
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)
    inputs = {x.name: [d.dim_value if d.dim_value > 0 else None for d in x.type.tensor_type.shape.dim] for x in model.graph.input}
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    if "frame" in inputs:
        # A temporal upscaler's frame step (frame, motion, jitter, history, has_history), with and
        # without history, at two batch sizes and image sizes never used at export.
        for batch, (h, w), has in [(1, (37, 45), 0.0), (3, (64, 70), 1.0)]:
            sc = int(yaml.safe_load(spec).get("scale", 2))
            feeds = {"frame": rng.uniform(size=(batch, 3, h, w)), "motion": rng.normal(scale=2, size=(batch, 2, h, w)),
                     "jitter": rng.uniform(-0.5, 0.5, size=(batch, 2)), "history": rng.uniform(size=(batch, 3, sc * h, sc * w)),
                     "has_history": np.full(batch, has)}
            feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
            save_file(feeds, os.path.join(a.work, "in.safetensors"))
            run([a.helper, "step", ckpt, os.path.join(a.work, "in.safetensors"), os.path.join(a.work, "out.safetensors")])
            ref = load_file(os.path.join(a.work, "out.safetensors"))["y"]
            got = sess.run(None, feeds)[0]
            err = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
            check(err <= 1e-4 * max(1.0, float(np.abs(ref).max())), f"{spec} frame {[batch, 3, h, w]} history {has:.0f}: max abs error {err:.2e}")
        continue
    generator = "z" in inputs
    classes = 0
    if "label" in inputs:
        classes = int(yaml.safe_load(spec).get("num_classes", 0))
        check(classes > 0, f"{spec}: a label input only for conditional networks")
    dynamic = not generator and any(d is None for d in inputs["input" if not generator else "z"][1:])
    # Networks whose sides must be multiples of m (stride-2 stages that come back up) say so.
    meta = {p.key: p.value for p in model.metadata_props}
    m = int(meta.get("tessera.size_multiple", "1"))
    sizes = [(-(-h // m) * m, -(-w // m) * m) for h, w in [(37, 45), (64, 70)]] if dynamic else [None]
    for batch, size in [(1, sizes[0]), (3, sizes[-1])]:
        name = "z" if generator else "input"
        shape = [batch] + [d for d in inputs[name][1:]]
        if size is not None:
            if "vgg" in spec:
                size = (size[0] + 32, size[1] + 32)  # five poolings
            shape[2], shape[3] = size
        x = (rng.normal(size=shape) if generator else rng.uniform(size=shape)).astype(np.float32)
        feeds = {name: x}
        tensors = {"z" if generator else "x": x}
        if "label" in inputs:
            feeds["label"] = tensors["label"] = rng.integers(0, classes, size=batch).astype(np.int64)
        save_file(tensors, os.path.join(a.work, "in.safetensors"))
        run([a.helper, "generate" if generator else "forward", ckpt, os.path.join(a.work, "in.safetensors"), os.path.join(a.work, "out.safetensors")])
        ref = load_file(os.path.join(a.work, "out.safetensors"))["y"]
        got = sess.run(None, feeds)[0]
        scale = max(1.0, float(np.abs(ref).max()))
        err = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
        check(got.shape == ref.shape and err <= 1e-4 * scale,
              f"{spec} input {list(x.shape)}: output {list(got.shape)}, max abs error {err:.2e} (scale {scale:.3g})")
