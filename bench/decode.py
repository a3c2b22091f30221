"""Decode benchmark: kmcodec.decode against Pillow decoding a palette PNG.

    python bench/decode.py [IMAGES ...] [--size 4000x3000] [--repeat 5] [--bits 1-8]

For each index width b, the test photograph (tiled as in bench/encode.py)
is quantised by kmcodec to K = 2**b colours; the same palette and indices
are stored as a .kmc file and as a palette PNG (bit depth b for 1, 2 and 4,
else 8, which PNG requires; Pillow's default zlib level).  Both are decoded
from bytes in memory into an (H, W, 3) uint8 array, --repeat times; the
table gives the median seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

import kmcodec


def png_bytes(palette: np.ndarray, indices: np.ndarray, bits: int) -> bytes:
    im = Image.fromarray(indices.astype(np.uint8), "P")
    im.putpalette(palette.tobytes())
    buf = io.BytesIO()
    im.save(buf, format="PNG", bits=bits if bits in (1, 2, 4) else 8)
    return buf.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def timed(fn, data, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def parse_bits(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(v) for v in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", type=Path)
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bits", default="1-8", help="index widths, e.g. 1-8 or 1,4,8 (max 8: PNG palettes)")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    canvas = common.tiled(args.images or common.PHOTOS, width, height)
    print(f"machine: {common.machine()}")
    print(f"test image: {width}x{height} ({width * height / 1e6:.1f} MP)")
    header = ["b", "K", ".kmc bytes", "PNG bytes", "kmcodec s", "Pillow PNG s", "kmcodec / Pillow", "kmcodec MP/s"]
    rows = []
    for bits in parse_bits(args.bits):
        q = kmcodec.quantize(canvas, k=1 << bits, seed=0)
        data = q.to_bytes()
        png = png_bytes(q.palette, q.indices, bits)
        t_kmc, ours = timed(kmcodec.decode, data, args.repeat)
        t_png, theirs = timed(pillow_decode, png, args.repeat)
        if not np.array_equal(ours, theirs):
            raise SystemExit(f"b={bits}: the two decoders disagree")
        rows.append([str(bits), str(len(q.palette)), f"{len(data):,}", f"{len(png):,}", f"{t_kmc:.4f}",
                     f"{t_png:.4f}", f"{t_kmc / t_png:.2f}", f"{width * height / t_kmc / 1e6:.0f}"])
        print("  ".join(rows[-1]), flush=True)
    print()
    print(common.format_table(header, rows))
    print("\nseconds: median of the runs, bytes in memory to an (H, W, 3) uint8 array;"
          " both decoders' pixels compared equal.")
    if args.markdown:
        common.write_markdown(args.markdown, header, rows)


if __name__ == "__main__":
    main()
