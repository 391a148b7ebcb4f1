"""tessera's bicubic degradation equals an independent NumPy implementation of MATLAB's imresize
(bicubic, a = -0.5, antialiased when shrinking, symmetric padding), within 1/255 after rounding
to 8 bits (and far closer before), for shrinking and enlarging, on odd sizes."""
import os

import numpy as np
from safetensors.numpy import load_file
from skimage import io as skio

from common import check, parse_args, run


def cubic(x):
    ax = np.abs(x)
    return np.where(ax <= 1, 1.5 * ax**3 - 2.5 * ax**2 + 1,
                    np.where(ax <= 2, -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2, 0.0))


def matlab_resize_axis(img, axis, scale):
    """MATLAB's contributions(): weights and indices for one dimension, applied along `axis`."""
    n_in = img.shape[axis]
    n_out = int(np.ceil(n_in * scale))
    kernel = (lambda x: scale * cubic(scale * x)) if scale < 1 else cubic
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :] - 1           # 0-based
    w = kernel(u[:, None] - idx - 1)
    w /= w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(n_in), np.arange(n_in - 1, -1, -1)])  # symmetric padding
    idx = aux[np.mod(idx, 2 * n_in).astype(int)]
    moved = np.moveaxis(img, axis, 0)
    out = np.einsum("op,op...->o...", w, moved[idx])
    return np.moveaxis(out, 0, axis)


def matlab_imresize(img, scale):
    return matlab_resize_axis(matlab_resize_axis(img, 0, scale), 1, scale)


a = parse_args()
for name, scale in [("chelsea.png", 1 / 2), ("coffee.png", 1 / 3), ("rocket.jpg", 1 / 4), ("chelsea.png", 2.0)]:
    img = skio.imread(os.path.join(a.data, "val", name))[:, :, :3].astype(np.float64) / 255.0
    if scale > 1:
        img = img[:101, :77]  # odd sizes, and keeps the enlarged image small
    else:
        img = img[:301, :299]
    src = os.path.join(a.work, "in.png")
    skio.imsave(src, (img * 255).round().astype(np.uint8), check_contrast=False)
    out = os.path.join(a.work, "out.safetensors")
    run([a.helper, "resize", src, repr(scale), out])
    got = load_file(out)["y"].transpose(1, 2, 0).astype(np.float64)
    ref = matlab_imresize(img, scale)
    check(got.shape == ref.shape, f"{name} x{scale:.3f}: shape {got.shape} == {ref.shape}")
    raw = np.abs(got - ref).max()
    q = np.abs(np.round(np.clip(got, 0, 1) * 255) - np.round(np.clip(ref, 0, 1) * 255)).max()
    check(raw < 1e-5, f"{name} x{scale:.3f}: max float difference {raw:.2e} < 1e-5")
    check(q <= 1, f"{name} x{scale:.3f}: max 8-bit difference {q} <= 1")
