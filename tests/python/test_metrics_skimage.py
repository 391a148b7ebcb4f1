"""PSNR/SSIM of tessera equal scikit-image's on the same 8-bit images (within 1e-4), on RGB and on
the BT.601 Y channel, with and without crop_border."""
import json
import os

import numpy as np
from skimage import io as skio
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from common import check, parse_args, run

a = parse_args()
rng = np.random.default_rng(0)
ref = skio.imread(os.path.join(a.data, "val", "chelsea.png"))[:, :, :3]
cases = {
    "noisy": np.clip(ref.astype(np.float64) + rng.normal(0, 8, ref.shape), 0, 255).round().astype(np.uint8),
    "shifted": np.roll(ref, 1, axis=1),
    "dark": (ref * 0.8).round().astype(np.uint8),
}
skio.imsave(os.path.join(a.work, "ref.png"), ref, check_contrast=False)


def to_y(img):
    x = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


for name, img in cases.items():
    path = os.path.join(a.work, name + ".png")
    skio.imsave(path, img, check_contrast=False)
    for channel in ("rgb", "y"):
        for crop in (0, 2, 4):
            got = json.loads(run([a.helper, "metrics", path, os.path.join(a.work, "ref.png"), crop, channel]))
            x, y = (to_y(img), to_y(ref)) if channel == "y" else (img.astype(np.float64), ref.astype(np.float64))
            if crop:
                x, y = x[crop:-crop, crop:-crop], y[crop:-crop, crop:-crop]
            kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
            if channel == "rgb":
                kw["channel_axis"] = -1
            psnr = peak_signal_noise_ratio(y, x, data_range=255)
            ssim = structural_similarity(y, x, **kw)
            dp, ds = abs(got["psnr"] - psnr), abs(got["ssim"] - ssim)
            check(dp < 1e-4, f"{name} {channel} crop {crop}: PSNR {got['psnr']:.6f} vs skimage {psnr:.6f} (diff {dp:.1e})")
            check(ds < 1e-4, f"{name} {channel} crop {crop}: SSIM {got['ssim']:.6f} vs skimage {ssim:.6f} (diff {ds:.1e})")
