#!/usr/bin/env python3
"""Writes the procedural style images of datasets/style/styles (no downloads, Python stdlib only):
  waves.png    coloured interference of three sine gratings (bold, flowing strokes)
  mosaic.png   jittered hue tiles with dark grout (a stained-glass texture)
  stripes.png  diagonal two-tone stripes of varying width
Deterministic: the same bytes on every machine. Usage: make_style_patterns.py OUT_DIR [SIZE]"""
import colorsys
import math
import os
import random
import struct
import sys
import zlib


def write_png(path, width, height, rows):
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def to8(v):
    return max(0, min(255, int(round(v * 255))))


def waves(n):
    rows = []
    for y in range(n):
        row = []
        for x in range(n):
            u, v = x / n, y / n
            a = math.sin(2 * math.pi * (3 * u + 1.5 * math.sin(2 * math.pi * v)))
            b = math.sin(2 * math.pi * (4 * v + 1.2 * math.sin(2 * math.pi * u * 1.5)))
            c = math.sin(2 * math.pi * 5 * (u + v))
            h = (0.55 + 0.25 * a + 0.1 * c) % 1.0
            r, g, bb = colorsys.hsv_to_rgb(h, 0.75 + 0.2 * b, 0.55 + 0.4 * (0.5 + 0.5 * b))
            row += [to8(r), to8(g), to8(bb)]
        rows.append(row)
    return rows


def mosaic(n):
    rng = random.Random(7)
    cells = 12
    pts = [((i + 0.5 + rng.uniform(-0.35, 0.35)) * n / cells, (j + 0.5 + rng.uniform(-0.35, 0.35)) * n / cells,
            colorsys.hsv_to_rgb(rng.random(), 0.6 + 0.4 * rng.random(), 0.6 + 0.4 * rng.random()))
           for i in range(cells) for j in range(cells)]
    rows = []
    for y in range(n):
        row = []
        for x in range(n):
            d = sorted(((px - x) ** 2 + (py - y) ** 2, c) for px, py, c in pts if abs(px - x) < 2 * n / cells and abs(py - y) < 2 * n / cells)
            (d1, c1), (d2, _) = d[0], d[1]
            edge = math.sqrt(d2) - math.sqrt(d1)
            k = 0.15 if edge < 2.0 else 1.0
            row += [to8(c1[0] * k), to8(c1[1] * k), to8(c1[2] * k)]
        rows.append(row)
    return rows


def stripes(n):
    rows = []
    for y in range(n):
        row = []
        for x in range(n):
            t = (x + y) / n
            s = math.sin(2 * math.pi * (6 * t + 0.8 * math.sin(2 * math.pi * 2 * t)))
            c = (0.92, 0.78, 0.25) if s > 0 else (0.12, 0.2, 0.45)
            row += [to8(v) for v in c]
        rows.append(row)
    return rows


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    os.makedirs(out, exist_ok=True)
    for name, fn in (("waves", waves), ("mosaic", mosaic), ("stripes", stripes)):
        write_png(os.path.join(out, name + ".png"), n, n, fn(n))
    print(f"[tessera] wrote 3 procedural style images ({n}x{n}) to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
