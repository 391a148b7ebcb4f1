#!/usr/bin/env python3
"""Makes the unpaired CycleGAN demo data (datasets/cyclegan) from the colour photographs Debian's
python3-skimage and python3-sklearn packages ship. Each photograph is cut into 64x64 tiles on a
grid; every fifth tile (staggered) is held out, and the rest go alternately (a checkerboard) to
  trainA/  tiles as they are
  trainB/  the *other* tiles, passed through the colour matrix T below
  testA/   the held-out tiles (in neither training folder)
  testB/   the same held-out tiles through T, under the same names (aligned pairs for evaluation:
           PSNR(G_ab(testA), testB) says whether the translation was learnt)
No tile is in two folders, so a network is never shown a pair; it has to learn T from the two
domains' distributions. Both domains are drawn from the same photographs because the adversarial
loss matches distributions: with A and B cut from different photographs (v1 of this data: retina
tiles in A, Hubble tiles in B) the colour statistics of the two sets differ, and the mapping that
matches them is not T (docs/cyclegan.md).
T mixes the channels (each output channel 0.8 of one input channel and 0.1 of the others).
Usage: make_cyclegan_data.py SKIMAGE_DATA_DIR SKLEARN_IMAGES_DIR OUT_DIR"""
import os
import sys

import numpy as np
from PIL import Image

T = np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]], dtype=np.float64)
# Natural colour photographs; motorcycle_right (the stereo twin of motorcycle_left) and the
# microscopy / astronomy images are left out.
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg", "china.jpg", "flower.jpg"]
TILE = 64


def apply_t(rgb):
    out = rgb.astype(np.float64) @ T.T
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def tiles(path):
    """(name, split, tile) for each grid tile; split is 'test', 'A' or 'B'."""
    img = np.asarray(Image.open(path).convert("RGB"))
    stem = os.path.splitext(os.path.basename(path))[0]
    for i, y in enumerate(range(0, img.shape[0] - TILE + 1, TILE)):
        for j, x in enumerate(range(0, img.shape[1] - TILE + 1, TILE)):
            split = "test" if (i + 2 * j) % 5 == 0 else ("A" if (i + j) % 2 == 0 else "B")
            yield f"{stem}_{y:04d}_{x:04d}.png", split, img[y:y + TILE, x:x + TILE]


def main():
    skimage_dir, sklearn_dir, out = sys.argv[1:4]
    find = lambda f: os.path.join(sklearn_dir if f in ("china.jpg", "flower.jpg") else skimage_dir, f)
    for d in ("trainA", "trainB", "testA", "testB"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    save = lambda d, name, t: Image.fromarray(t).save(os.path.join(out, d, name))
    for f in PHOTOS:
        for name, split, t in tiles(find(f)):
            if split == "A":
                save("trainA", name, t)
            elif split == "B":
                save("trainB", name, apply_t(t))
            else:
                save("testA", name, t)
                save("testB", name, apply_t(t))
    np.savetxt(os.path.join(out, "T.txt"), T, fmt="%.3f", header="B = T @ A per pixel (RGB)")


if __name__ == "__main__":
    main()
