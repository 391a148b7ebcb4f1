"""`tessera sequences` against independent readings of its files (numpy for the Middlebury .flo
layout, scikit-image for the PNGs, scipy's cubic spline sampling for the geometry):

- the jitter of each frame is FSR 2's Halton(2, 3) - 0.5 sequence with int(8 ratio^2) phases;
- a render-mode low-res pixel is the target sampled at its centre minus the jitter (FSR 2's sign),
  which fits far better than the opposite sign;
- the motion vectors move each pixel onto the same surface in the previous target (current ->
  previous, low-res pixels), far better than the reversed vectors, and pixels marked disoccluded
  do not match there;
- camera-mode pixels are the mean of their ratio x ratio target pixels;
- the same seed and index give the same bytes; bad arguments are refused with exit 2.
"""
import glob
import os
import subprocess

import numpy as np
import yaml
from scipy import ndimage
from skimage import io as skio

from common import check, parse_args, run

a = parse_args()
photos = os.path.join(a.data, "train")


def make(out, *args):
    run([a.tessera, "sequences", "--photos", photos, "--output", out, *args])
    return sorted(glob.glob(os.path.join(out, "seq_*")))


def read_flo(path):
    raw = open(path, "rb").read()
    tag = np.frombuffer(raw[:4], "<f4")[0]
    w, h = np.frombuffer(raw[4:12], "<i4")
    check(tag == np.float32(202021.25) and len(raw) == 12 + 8 * w * h, f"{path} is a Middlebury .flo file")
    return np.frombuffer(raw[12:], "<f4").reshape(h, w, 2)


def img(path):
    x = skio.imread(path).astype(np.float64) / 255.0
    return x if x.ndim == 3 else x[..., None].repeat(3, -1)


def halton(i, b):
    f, r = 1.0, 0.0
    while i > 0:
        f /= b
        r += f * (i % b)
        i //= b
    return r


def frames(seq, sub, ext):
    return sorted(glob.glob(os.path.join(seq, sub, "*" + ext)))


def sample(hr, x, y):
    """The target (H, W, 3) at continuous frame coordinates (pixel centres at +0.5), cubic spline."""
    return np.stack([ndimage.map_coordinates(hr[..., c], [y - 0.5, x - 0.5], order=3, mode="nearest") for c in range(3)], -1)


# --- render mode, 2x, Halton jitter -------------------------------------------------------------
render = make(os.path.join(a.work, "render"), "--count", "3", "--frames", "6", "--size", "96x96", "--ratio", "2", "--seed", "5")
check(len(render) == 3, "three sequence folders")
right_err, flipped_err = [], []
for seq in render:
    meta = yaml.safe_load(open(os.path.join(seq, "sequence.yaml")))
    check(meta["format"] == "tessera-sequence 1" and meta["frames"] == 6 and meta["ratio"] == 2 and meta["lr_size"] == [48, 48],
          f"{os.path.basename(seq)}/sequence.yaml describes the sequence")
    jit = np.array(meta["jitter"])
    fsr = np.array([[halton(k + 1, 2) - 0.5, halton(k + 1, 3) - 0.5] for k in range(32)])
    start = [p for p in range(32) if np.allclose(fsr[(p + np.arange(6)) % 32], jit)]
    check(len(start) == 1, f"the jitter is FSR 2's 32-phase Halton sequence from phase {start}")
    lrs, hrs = frames(seq, "lr", ".png"), frames(seq, "hr", ".png")
    check(len(lrs) == len(hrs) == 6 and len(frames(seq, "motion", ".flo")) == 6, "six frames of each kind")
    for t in range(6):
        lr, hr = img(lrs[t]), img(hrs[t])
        check(lr.shape == (48, 48, 3) and hr.shape == (96, 96, 3), "low-res frames are the target's size / 2")
        jx, jy = jit[t]
        j, i = np.meshgrid(np.arange(48), np.arange(48))
        for sign, errs in [(1, right_err), (-1, flipped_err)]:
            s = sample(hr, (j + 0.5 - sign * jx) * 2, (i + 0.5 - sign * jy) * 2)
            errs.append(np.abs(s - lr)[4:-4, 4:-4].mean())
r, f = float(np.mean(right_err)), float(np.mean(flipped_err))
check(r < 0.03 and r < 0.7 * f, f"low-res pixels sample the target at centre - jitter: error {r:.4f} vs {f:.4f} with the sign flipped")

# --- motion vectors and disocclusion, 3x without jitter (low-res centres are target pixels) ----
still = make(os.path.join(a.work, "still"), "--count", "4", "--frames", "5", "--size", "96x96", "--ratio", "3", "--jitter", "none",
             "--seed", "9", "--sprites", "3")
valid_err, reversed_err, occluded_err = [], [], []
for seq in still:
    hrs, mvs, occ = frames(seq, "hr", ".png"), frames(seq, "motion", ".flo"), frames(seq, "disocclusion", ".png")
    check(np.abs(read_flo(mvs[0])).max() == 0 and img(occ[0]).min() == 1.0, "frame 0: no motion, no history")
    for t in range(1, 5):
        mv, mask = read_flo(mvs[t]), img(occ[t])[..., 0] > 0.5
        check(mv.shape == (32, 32, 2) and mask.shape == (32, 32), "motion and mask at the low-res size")
        now, before = img(hrs[t]), img(hrs[t - 1])
        cur = now[1::3, 1::3]
        j, i = np.meshgrid(np.arange(32), np.arange(32))
        cx, cy = (j + 0.5) * 3, (i + 0.5) * 3
        for sign, errs in [(1, valid_err), (-1, reversed_err)]:
            back = sample(before, cx + sign * 3 * mv[..., 0], cy + sign * 3 * mv[..., 1])
            e = np.abs(back - cur).mean(-1)
            errs.append(e[~mask])
            if sign == 1:
                px, py = cx + 3 * mv[..., 0], cy + 3 * mv[..., 1]
                inside = (px > 2) & (px < 94) & (py > 2) & (py < 94)
                occluded_err.append(e[mask & inside])
v, rv = float(np.concatenate(valid_err).mean()), float(np.concatenate(reversed_err).mean())
check(v < 0.03 and v < 0.5 * rv, f"motion vectors point at the same surface in the previous frame: error {v:.4f} vs {rv:.4f} reversed")
occ_all = np.concatenate(occluded_err)
check(len(occ_all) > 20 and occ_all.mean() > 3 * v,
      f"pixels marked disoccluded (behind a sprite before) do not match there: error {occ_all.mean():.4f} over {len(occ_all)} pixels")

# --- camera mode: area samples -------------------------------------------------------------------
cam = make(os.path.join(a.work, "camera"), "--count", "1", "--frames", "3", "--size", "64x48", "--mode", "camera", "--jitter", "none")
for lr_p, hr_p in zip(frames(cam[0], "lr", ".png"), frames(cam[0], "hr", ".png")):
    lr, hr = img(lr_p), img(hr_p)
    mean = hr.reshape(24, 2, 32, 2, 3).mean((1, 3))
    check(lr.shape == (24, 32, 3) and np.abs(lr - mean).max() <= 1.01 / 255, "camera mode: each pixel is its 2x2 area's mean (8-bit rounding)")

# --- determinism and refusals ---------------------------------------------------------------------
again = make(os.path.join(a.work, "again"), "--count", "3", "--frames", "6", "--size", "96x96", "--ratio", "2", "--seed", "5")
same = all(open(p, "rb").read() == open(p.replace(os.path.join(a.work, "render"), os.path.join(a.work, "again")), "rb").read()
           for p in glob.glob(os.path.join(a.work, "render", "*", "*", "*")))
check(same, "the same seed and indices give the same bytes")
other = make(os.path.join(a.work, "other"), "--count", "1", "--frames", "6", "--size", "96x96", "--ratio", "2", "--seed", "6")
check(open(frames(other[0], "hr", ".png")[0], "rb").read() != open(frames(render[0], "hr", ".png")[0], "rb").read(),
      "another seed gives another sequence")


def refused(args, words):
    r = subprocess.run([a.tessera, "sequences", "--photos", photos, *args], capture_output=True, text=True)
    msg = r.stdout + r.stderr
    check(r.returncode == 2 and all(w in msg for w in words), f"{' '.join(args)}: exit {r.returncode}, {msg.strip().splitlines()[-1:]}")


before = sorted(glob.glob(os.path.join(a.work, "render", "**"), recursive=True))
refused(["--output", os.path.join(a.work, "render"), "--count", "3", "--size", "96x96", "--seed", "5"], ["seq_00000", "already exists"])
check(before == sorted(glob.glob(os.path.join(a.work, "render", "**"), recursive=True)), "existing sequences are left as they were")
refused(["--output", os.path.join(a.work, "bad"), "--size", "97x96"], ["97x96", "multiple of the ratio 2"])
refused(["--output", os.path.join(a.work, "bad"), "--size", "big"], ["--size", "'big'", "WIDTHxHEIGHT"])
refused(["--output", os.path.join(a.work, "bad"), "--size", "2048x2048"], ["no photo is large enough", "2048x2048"])
empty = os.path.join(a.work, "empty")
os.makedirs(empty)
r = subprocess.run([a.tessera, "sequences", "--photos", empty, "--output", os.path.join(a.work, "bad")], capture_output=True, text=True)
check(r.returncode == 2 and "holds no images" in r.stderr + r.stdout, "a photo folder without images is refused")
