"""Coder 1 (entropy) against packed, palette PNG, lossless WebP and GIF.

    python bench/coders.py [--quick] [--markdown F]

Part 1, size: for each image and K in 16, 64, 256 the same quantised pixels
(same palette and indices) stored as .kmc packed, .kmc entropy, palette PNG
(optipng -o7), lossless WebP (cwebp -lossless -z 9) and GIF (gifsicle -O3),
all produced in this run.  The issue's targets: summed entropy/webp <= 0.85,
every image <= 1.0, and never above the optimised palette PNG.

Part 2, speed: a 12 MP canvas of photographs (bench/common.tiled) at each K;
``kmcodec.decode`` of the entropy file against the packed file, and the
entropy coding time against the whole encode time (quantize + write).
External tools that are missing are reported and skipped.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import PHOTOS, format_table, images, machine, tiled

import kmcodec

KS = (16, 64, 256)


def _tool(argv, src: Path, dst: Path) -> int | None:
    if shutil.which(argv[0]) is None:
        return None
    subprocess.run([*argv, str(src), "-o", str(dst)], check=True, capture_output=True)
    return dst.stat().st_size


def sizes(rgb: np.ndarray, k: int, tmp: Path) -> dict:
    q = kmcodec.quantize(rgb, k, 0)
    packed = q.to_bytes("packed")
    coded = q.to_bytes("entropy")
    assert np.array_equal(kmcodec.decode(coded), kmcodec.decode(packed))
    pixels = np.ascontiguousarray(q.to_rgb())
    pim = Image.fromarray(q.indices.astype(np.uint8), "P")
    pim.putpalette(q.palette.tobytes())
    pim.save(tmp / "p.png", optimize=True)
    Image.fromarray(pixels).save(tmp / "q.png")
    pim.save(tmp / "p.gif")
    row = {"K": len(q.palette), "packed": len(packed), "entropy": len(coded)}
    if shutil.which("optipng"):
        subprocess.run(["optipng", "-quiet", "-o7", str(tmp / "p.png")], check=True)
    row["png8"] = (tmp / "p.png").stat().st_size
    row["webp"] = _tool(["cwebp", "-quiet", "-lossless", "-z", "9"], tmp / "q.png", tmp / "q.webp")
    row["gif"] = _tool(["gifsicle", "-O3"], tmp / "p.gif", tmp / "o.gif")
    return row


def speed(k: int, repeats: int) -> dict:
    rgb = tiled(PHOTOS, 4000, 3000)
    t = time.perf_counter()
    q = kmcodec.quantize(rgb, k, 0)
    t_quant = time.perf_counter() - t
    times = {"packed": [], "entropy": [], "enc_packed": [], "enc_entropy": []}
    files = {}
    for _ in range(repeats):  # interleaved, medians: this VM is noisy
        for coder in ("packed", "entropy"):
            t = time.perf_counter()
            files[coder] = q.to_bytes(coder)
            times["enc_" + coder].append(time.perf_counter() - t)
            t = time.perf_counter()
            kmcodec.decode(files[coder])
            times[coder].append(time.perf_counter() - t)
    med = {key: float(np.median(v)) for key, v in times.items()}
    n = rgb.shape[0] * rgb.shape[1]
    return {
        "K": k, "pixels": n, "entropy bytes": len(files["entropy"]), "packed bytes": len(files["packed"]),
        "decode entropy s": med["entropy"], "decode entropy MP/s": n / med["entropy"] / 1e6,
        "decode packed s": med["packed"],
        "encode total packed s": t_quant + med["enc_packed"],
        "encode total entropy s": t_quant + med["enc_entropy"],
        "entropy adds": (med["enc_entropy"] - med["enc_packed"]) / (t_quant + med["enc_packed"]),
    }


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _table(dicts, keys, markdown=False) -> str:
    return format_table(keys, [[_cell(d[k]) for k in keys] for d in dicts], markdown=markdown, left=1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes only, no 12 MP speed runs")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--markdown", metavar="F", help="append the tables to F")
    args = ap.parse_args(argv)
    kmcodec.decode(kmcodec.encode(np.zeros((8, 8, 3), np.uint8), 2, coder="entropy"))  # compile once
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, rgb in images().items():
            for k in KS:
                r = sizes(rgb, k, Path(d))
                rows.append({"image": name, "K asked": k, **r})
                print(rows[-1], flush=True)
    for r in rows:
        r["entropy/packed"] = r["entropy"] / r["packed"]
        r["entropy/webp"] = r["entropy"] / r["webp"] if r["webp"] else None
        r["entropy/png8"] = r["entropy"] / r["png8"]
    keys = ["image", "K asked", "K", "packed", "entropy", "png8", "webp", "gif",
            "entropy/packed", "entropy/webp", "entropy/png8"]
    md = [f"machine: {machine()}", "", _table(rows, keys, True), ""]
    lines = [f"machine: {machine()}", "", _table(rows, keys), ""]
    have_webp = all(r["webp"] for r in rows)
    if have_webp:
        total = sum(r["entropy"] for r in rows) / sum(r["webp"] for r in rows)
        worst = max(rows, key=lambda r: r["entropy/webp"])
        lines.append(f"sum over {len(rows)} rows: entropy / webp-lossless = {total:.3f} (target <= 0.85); worst image "
                     f"{worst['image']} K={worst['K asked']}: {worst['entropy/webp']:.3f} (target <= 1.0)")
    else:
        lines.append("note: cwebp is missing (apt-get install webp): no WebP comparison")
    worst_png = max(rows, key=lambda r: r["entropy/png8"])
    lines.append(f"largest entropy / png8 = {worst_png['entropy/png8']:.3f} "
                 f"({worst_png['image']} K={worst_png['K asked']}; target <= 1.0)")
    md += lines[4:]
    if not args.quick:
        sp = [speed(k, args.repeats) for k in KS]
        lines += ["", "12 MP canvas of photographs, medians of interleaved runs:", "", _table(sp, list(sp[0]))]
        md += ["", "12 MP canvas of photographs, medians of interleaved runs:", "", _table(sp, list(sp[0]), True)]
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
