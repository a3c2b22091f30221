"""The settings kmc compare gives the other codecs, against their neighbours.

    python bench/rival_settings.py

For each bundled photograph: AVIF at speeds 2, 4, 6 and 8 (quality 60,
4:4:4), JPEG XL lossy at efforts 7 and 9 (quality 80), lossy WebP at
methods 4 and 6 (quality 80), and on the K = 64 quantised pixels lossless
WebP at methods 4 and 6 and lossless JPEG XL at efforts 7 and 9: bytes,
PSNR and encode seconds, all measured in this run.  kmc compare uses AVIF
speed 6, JPEG XL effort 7 (lossy) and 9 (lossless), WebP method 6.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import PHOTOS, format_table, machine, mse, psnr

import kmcodec
from kmcodec.rivals import LOSSY, versions

TRIALS = [
    ("AVIF q60 4:4:4", "AVIF", "speed", (2, 4, 6, 8), {"quality": 60, "subsampling": "4:4:4"}, False),
    ("JPEG XL q80", "JXL", "effort", (7, 9), {"quality": 80, "num_threads": 1}, False),
    ("WebP q80", "WEBP", "method", (4, 6), {"quality": 80}, False),
    ("WebP lossless, K=64 pixels", "WEBP", "method", (4, 6), {"lossless": True, "quality": 100}, True),
    ("JPEG XL lossless, K=64 pixels", "JXL", "effort", (7, 9), {"lossless": True, "num_threads": 1}, True),
]


def main() -> None:
    print(f"machine: {machine()}")
    print("codecs: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    jxl_note = LOSSY["jxl"].missing()
    if jxl_note:
        print(f"note: {jxl_note}")
    header = ["codec", "setting", "image", "bytes", "PSNR dB", "encode s"]
    rows = []
    for label, fmt, knob, values, params, quantized in TRIALS:
        if fmt == "JXL" and jxl_note:
            continue
        for path in PHOTOS:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            source = kmcodec.quantize(rgb, 64, 0).to_rgb() if quantized else rgb
            im = Image.fromarray(np.ascontiguousarray(source))
            for value in values:
                buf = io.BytesIO()
                start = time.perf_counter()
                im.save(buf, format=fmt, **params, **{knob: value})
                seconds = time.perf_counter() - start
                decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
                quality = psnr(mse(decoded, rgb))
                rows.append([label, f"{knob} {value}", path.name, f"{len(buf.getvalue()):,}",
                             f"{quality:.2f}", f"{seconds:.2f}"])
    print(format_table(header, rows, left=3))


if __name__ == "__main__":
    main()
