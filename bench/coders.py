"""The .kmc coders against the best lossless codecs, on the same pixels.

    python bench/coders.py [--quick] [--only NAMES] [--markdown F]

Part 1, size: for each image of ``common.coder_images`` (16 photographs of
different kinds and 9 graphics) at K = 16, 64, 256, and each graphic also
at its own colour count (lossless), the same quantised pixels (same palette
and indices) stored as .kmc packed, .kmc entropy (coder 1), .kmc mix
(coder 2), PNG (a palette
PNG up to 256 colours, else RGB; ``optipng -o7``), lossless WebP (``cwebp -lossless -z 9``), GIF
(``gifsicle -O3``) and lossless JPEG XL at effort 10 (libjxl through
imagecodecs, ``pip install imagecodecs``), all produced in this run.
Summary lines give each coded file against each rival: the sum over all
rows, the worst row, and the rows where it is larger.

Part 2, speed: 12 MP photographs at each K, a canvas of photographs
(bench/common.tiled) and, at K = 256, the same with sensor noise ("grain",
the hardest for the entropy coders); ``kmcodec.decode`` of each coded file
against the packed file, and each coder's whole encode time (quantize +
write) against the packed encode's.  Beside them, for scale, the rivals'
decoders on the same pixels: libjxl (imagecodecs, effort 7, its default:
effort 10 takes minutes at 12 MP; on as many threads as this machine has
cores, as coder 2), and lossless WebP and PNG through Pillow (one thread).
External tools that are missing are reported and skipped.
"""

from __future__ import annotations

import argparse
import io
import os
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

from common import PHOTOS, coder_images, distinct_colors, format_table, machine, photographs, tiled, version

import kmcodec

KS = (16, 64, 256)
CODED = ("entropy", "mix")  # the coded .kmc columns, coder 1 and coder 2


def _tool(argv, src: Path, dst: Path) -> int | None:
    if shutil.which(argv[0]) is None:
        return None
    subprocess.run([*argv, str(src), "-o", str(dst)], check=True, capture_output=True)
    return dst.stat().st_size


def _jxl_encoder():
    """imagecodecs' lossless JPEG XL encoder at effort 10 and its libjxl version, or None."""
    try:
        import imagecodecs

        version = imagecodecs.jpegxl_version()
    except Exception as exc:
        print(f"note: no JPEG XL column ({exc}; pip install imagecodecs)")
        return None, None
    return (lambda px: len(imagecodecs.jpegxl_encode(px, lossless=True, effort=10))), version


def sizes(rgb: np.ndarray, k: int, tmp: Path, jxl) -> dict:
    q = kmcodec.quantize(rgb, k, 0)
    packed = q.to_bytes("packed")
    coded = {c: q.to_bytes(c) for c in CODED}
    for data in coded.values():
        assert np.array_equal(kmcodec.decode(data), kmcodec.decode(packed))
    pixels = np.ascontiguousarray(q.to_rgb())
    Image.fromarray(pixels).save(tmp / "q.png")
    palette_fits = len(q.palette) <= 256
    if palette_fits:
        pim = Image.fromarray(q.indices.astype(np.uint8), "P")
        pim.putpalette(q.palette.tobytes())
        pim.save(tmp / "p.png", optimize=True)
        pim.save(tmp / "p.gif")
    else:  # more colours than a palette PNG or a GIF holds: an RGB PNG
        Image.fromarray(pixels).save(tmp / "p.png", optimize=True)
    row = {"K": len(q.palette), "packed": len(packed), **{c: len(data) for c, data in coded.items()}}
    if shutil.which("optipng"):
        subprocess.run(["optipng", "-quiet", "-o7", str(tmp / "p.png")], check=True)
    row["png"] = (tmp / "p.png").stat().st_size
    row["webp"] = _tool(["cwebp", "-quiet", "-lossless", "-z", "9"], tmp / "q.png", tmp / "q.webp")
    row["gif"] = _tool(["gifsicle", "-O3"], tmp / "p.gif", tmp / "o.gif") if palette_fits else None
    row["jxl"] = jxl(pixels) if jxl else None
    return row


def _rival_codecs() -> dict:
    """Name -> (encode, decode) of the rivals timed in part 2: libjxl if
    imagecodecs has it, lossless WebP and PNG through Pillow."""
    def pillow(fmt, **params):
        def enc(px):
            buf = io.BytesIO()
            Image.fromarray(px).save(buf, fmt, **params)
            return buf.getvalue()
        return enc, lambda data: np.asarray(Image.open(io.BytesIO(data)))

    rivals = {"webp": pillow("WEBP", lossless=True, quality=100, method=4), "png": pillow("PNG")}
    try:
        import imagecodecs

        threads = os.cpu_count() or 1
        rivals["jxl-e7"] = (lambda px: imagecodecs.jpegxl_encode(px, lossless=True, effort=7, numthreads=threads),
                            lambda data: imagecodecs.jpegxl_decode(data, numthreads=threads))
    except ImportError:
        pass
    return rivals


def speed(image: str, rgb: np.ndarray, k: int, repeats: int, rivals: dict) -> dict:
    t = time.perf_counter()
    q = kmcodec.quantize(rgb, k, 0)
    t_quant = time.perf_counter() - t
    coders = ("packed", *CODED)
    times: dict[str, list[float]] = {key: [] for c in coders for key in (c, "enc_" + c)}
    files = {}
    for _ in range(repeats):  # interleaved, medians: this VM is noisy
        for coder in coders:
            t = time.perf_counter()
            files[coder] = q.to_bytes(coder)
            times["enc_" + coder].append(time.perf_counter() - t)
            t = time.perf_counter()
            kmcodec.decode(files[coder])
            times[coder].append(time.perf_counter() - t)
    med = {key: float(np.median(v)) for key, v in times.items()}
    n = rgb.shape[0] * rgb.shape[1]
    row: dict = {"image": image, "K": k, "pixels": n, "packed bytes": len(files["packed"]),
                 "decode packed s": med["packed"], "encode total packed s": t_quant + med["enc_packed"]}
    for c in CODED:
        row[f"{c} bytes"] = len(files[c])
        row[f"decode {c} MP/s"] = n / med[c] / 1e6
        row[f"encode total {c} s"] = t_quant + med["enc_" + c]
        row[f"{c} encode / packed"] = (t_quant + med["enc_" + c]) / (t_quant + med["enc_packed"])
    pixels = np.ascontiguousarray(q.to_rgb())
    for name, (encode, decode) in rivals.items():
        data = encode(pixels)
        taken = []
        for _ in range(repeats):
            t = time.perf_counter()
            out = decode(data)
            taken.append(time.perf_counter() - t)
        assert np.array_equal(out, pixels), name
        row[f"{name} bytes"] = len(data)
        row[f"decode {name} MP/s"] = n / float(np.median(taken)) / 1e6
    return row


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _table(dicts, keys, markdown=False) -> str:
    return format_table(keys, [[_cell(d[k]) for k in keys] for d in dicts], markdown=markdown, left=1)


def _summary(rows: list[dict], coder: str, rival: str, label: str) -> list[str]:
    if not all(r[rival] for r in rows):
        return [f"note: no {label} column (its tool is missing)"]
    ratio = [(r[coder] / r[rival], r) for r in rows]
    worst, w = max(ratio, key=lambda t: t[0])
    larger = [f"{r['image']} K={r['K']}" for v, r in ratio if v > 1]
    total = sum(r[coder] for r in rows) / sum(r[rival] for r in rows)
    return [f"{coder} / {label}: sum over {len(rows)} rows {total:.3f}; worst {worst:.3f} ({w['image']} K={w['K']});"
            f" larger on {len(larger)}" + (f": {', '.join(larger)}" if larger else "")]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes only, no 12 MP speed runs")
    ap.add_argument("--only", metavar="NAMES", help="comma-separated image names (default: all)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--markdown", metavar="F", help="append the tables to F")
    args = ap.parse_args(argv)
    for c in CODED:  # compile once
        kmcodec.decode(kmcodec.encode(np.zeros((8, 8, 3), np.uint8), 2, coder=c))
    jxl, jxl_version = _jxl_encoder()
    rows = []
    chosen = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory() as d:
        for name, (kind, rgb) in coder_images().items():
            if chosen and name not in chosen:
                continue
            ks = list(KS) + ([distinct_colors(rgb)] if kind == "graphic" else [])
            for k in dict.fromkeys(ks):
                r = sizes(rgb, k, Path(d), jxl)
                if any(row["image"] == name and row["K"] == r["K"] for row in rows):
                    continue  # a graphic with fewer colours than K: the same row again
                rows.append({"image": name, "kind": kind, "K asked": k, **r})
                print(rows[-1], flush=True)
    for r in rows:
        r["entropy/packed"] = r["entropy"] / r["packed"]
        r["mix/entropy"] = r["mix"] / r["entropy"]
        for c in CODED:
            for rival in ("png", "webp", "jxl"):
                r[f"{c}/{rival}"] = r[c] / r[rival] if r[rival] else None
    keys = ["image", "kind", "K asked", "K", "packed", "entropy", "mix", "png", "webp", "gif", "jxl",
            "entropy/packed", "mix/entropy", "entropy/webp", "entropy/jxl", "mix/png", "mix/webp", "mix/jxl"]
    head = [f"machine: {machine()}",
            (f"codecs: kmcodec {kmcodec.__version__}; {version(['optipng', '-v'])} -o7; cwebp"
             f" {version(['cwebp', '-version'])} -lossless -z 9; {version(['gifsicle', '--version'])} -O3;"
             f" {jxl_version or 'no libjxl'} effort 10 lossless (imagecodecs)"), ""]
    summary = []
    for c in CODED:
        summary += (_summary(rows, c, "jxl", "jxl-e10") + _summary(rows, c, "webp", "webp-lossless")
                    + _summary(rows, c, "png", "png"))
        for kind in ("photo", "graphic"):
            part = [r for r in rows if r["kind"] == kind]
            if part and all(r["jxl"] for r in part):
                total = sum(r[c] for r in part) / sum(r["jxl"] for r in part)
                summary.append(f"  {kind}s: {c} / jxl-e10 summed {total:.3f} over {len(part)} rows")
    summary += _summary(rows, "mix", "entropy", "entropy")
    lines = [*head, _table(rows, keys), "", *summary]
    md = [*head, _table(rows, keys, True), "", *summary]
    if not args.quick:
        canvas = tiled(PHOTOS, 4000, 3000)
        rivals = _rival_codecs()
        sp = [speed("canvas", canvas, k, args.repeats, rivals) for k in KS]
        grain = photographs(4000, 3000).get("grain")  # needs the extra photographs
        if grain is not None:
            sp.append(speed("grain", grain, 256, args.repeats, rivals))
        lines += ["", "12 MP canvas of photographs, medians of interleaved runs:", "", _table(sp, list(sp[0]))]
        md += ["", "12 MP canvas of photographs, medians of interleaved runs:", "", _table(sp, list(sp[0]), True)]
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
