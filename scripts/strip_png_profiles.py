#!/usr/bin/env python3
"""Drops the iCCP (embedded colour profile) chunk from every PNG in the given folders, in place.

The pixel data (IDAT) and every other chunk are copied byte for byte, so decoded images are
unchanged; only libpng's "iCCP: known incorrect sRGB profile" warning goes away."""
import pathlib
import struct
import sys

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def strip(path: pathlib.Path) -> bool:
    data = path.read_bytes()
    if not data.startswith(SIGNATURE):
        return False
    out, pos, dropped = [SIGNATURE], len(SIGNATURE), False
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise SystemExit(f"{path}: truncated PNG chunk {kind!r}")
        if kind == b"iCCP":
            dropped = True
        else:
            out.append(data[pos:end])
        pos = end
    if dropped:
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(b"".join(out))
        tmp.replace(path)
    return dropped


def main() -> None:
    n = 0
    for folder in sys.argv[1:]:
        for p in sorted(pathlib.Path(folder).glob("*.png")):
            n += strip(p)
    print(f"[tessera] stripped colour profiles from {n} PNG file(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
