"""Huge images: time and peak memory of `kmc encode` and `kmc decode` at 12, 50, 100 MP.

    python bench/huge.py [--sizes 4000x3000,8660x5774,10000x10000] [-k 256]

Each test photograph is tiled (never scaled) from the bundled samples and
saved as PNG; then `kmc encode IN.png -k K --max-pixels 0` and
`kmc decode OUT.kmc -o OUT.png --max-pixels 0` run as whole processes.
The table gives seconds and peak resident memory, and the peak as a
multiple of the raw RGB size (3 bytes per pixel): the targets are at most
4x for encoding and 2x for decoding.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4000x3000,8660x5774,10000x10000")
    parser.add_argument("-k", type=int, default=256)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    print(f"machine: {common.machine()}")
    header = ["image", "MP", "raw MB", "step", "seconds", "peak MB", "peak / raw", "target"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            src = work / f"{size}.png"
            Image.fromarray(common.tiled(common.PHOTOS, width, height)).save(src, compress_level=1)
            raw = 3 * width * height / 2**20
            kmc, png = work / f"{size}.kmc", work / f"{size}.out.png"
            steps = [
                ("encode", [sys.executable, "-m", "kmcodec", "encode", str(src), "-k", str(args.k),
                            "-o", str(kmc), "-f", "-q", "--max-pixels", "0"], 4),
                ("decode", [sys.executable, "-m", "kmcodec", "decode", str(kmc), "-o", str(png),
                            "-f", "-q", "--max-pixels", "0"], 2),
            ]
            for step, argv, target in steps:
                seconds, peak, _ = common.run_measured(argv)
                rows.append([size, f"{width * height / 1e6:.0f}", f"{raw:.0f}", step, f"{seconds:.1f}",
                             f"{peak:.0f}", f"{peak / raw:.2f}", f"<= {target}x"])
                print("  ".join(rows[-1]), flush=True)
            src.unlink()
            kmc.unlink()
            png.unlink()
    print()
    print(common.format_table(header, rows))
    if args.markdown:
        common.write_markdown(args.markdown, header, rows)


if __name__ == "__main__":
    main()
