#!/usr/bin/env python3
"""Makes the unpaired CycleGAN demo data (datasets/cyclegan) from the photographs Debian's
python3-skimage and python3-sklearn packages ship:
  trainA/  128x128 tiles of some photographs
  trainB/  128x128 tiles of *other* photographs passed through the colour matrix T below
  testA/   tiles of held-out photographs (in neither training folder)
  testB/   the same held-out tiles through T, under the same names (aligned pairs for evaluation:
           PSNR(G_ab(testA), testB) says whether the translation was learnt)
T mixes the channels (each output channel 0.8 of one input channel and 0.1 of the others), so a
network has to learn a colour mapping it is never shown in pairs.
Usage: make_cyclegan_data.py SKIMAGE_DATA_DIR SKLEARN_IMAGES_DIR OUT_DIR"""
import os
import sys

import numpy as np
from PIL import Image

T = np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]], dtype=np.float64)
TRAIN_A = ["astronaut.png", "motorcycle_left.png", "china.jpg", "retina.jpg", "ihc.png"]
TRAIN_B = ["motorcycle_right.png", "flower.jpg", "chelsea.png", "hubble_deep_field.jpg"]
TEST = ["rocket.jpg", "coffee.png"]
TILE = 128


def apply_t(rgb):
    out = rgb.astype(np.float64) @ T.T
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def tiles(path):
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    for y in range(0, h - TILE + 1, TILE):
        for x in range(0, w - TILE + 1, TILE):
            yield f"{os.path.splitext(os.path.basename(path))[0]}_{y:04d}_{x:04d}.png", img[y:y + TILE, x:x + TILE]


def main():
    skimage_dir, sklearn_dir, out = sys.argv[1:4]
    find = lambda f: os.path.join(sklearn_dir if f in ("china.jpg", "flower.jpg") else skimage_dir, f)
    for d in ("trainA", "trainB", "testA", "testB"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    for f in TRAIN_A:
        for name, t in tiles(find(f)):
            Image.fromarray(t).save(os.path.join(out, "trainA", name))
    for f in TRAIN_B:
        for name, t in tiles(find(f)):
            Image.fromarray(apply_t(t)).save(os.path.join(out, "trainB", name))
    for f in TEST:
        for name, t in tiles(find(f)):
            Image.fromarray(t).save(os.path.join(out, "testA", name))
            Image.fromarray(apply_t(t)).save(os.path.join(out, "testB", name))
    np.savetxt(os.path.join(out, "T.txt"), T, fmt="%.3f", header="B = T @ A per pixel (RGB)")


if __name__ == "__main__":
    main()
