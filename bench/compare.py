"""kmc compare on hard and easy images: the numbers behind the README's compare section.

    python bench/compare.py [-k 4,16,64,256] [--metric psnr] [--quick] [--markdown F] [--json F]
    python bench/compare.py --rows F.json [--metric psnr] [--markdown F]   (the report again, from saved rows)

Runs :func:`kmcodec.compare.compare` (what ``kmc compare`` runs) on the
bundled samples, three photographs that are not bundled (scikit-learn's
china and flower, matplotlib's grace_hopper), a logo, a chart with text, a
smooth gradient and a tiny image, all made or copied here.  Prints the
machine, every codec library's version, the whole table, the
equal-quality summary, and conclusions computed from the rows; with
``--markdown`` it also writes the README's table.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import format_table, images, machine

from kmcodec.compare import Row, compare
from kmcodec.compare_report import format_summary, format_table as row_table, format_versions
from kmcodec.rivals import versions


def extra_images() -> dict[str, np.ndarray]:
    """A third photograph, a smooth gradient and a tiny crop: the hard cases for a palette."""
    out = {}
    try:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
            out["grace_hopper"] = np.asarray(Image.open(fh).convert("RGB"))
    except Exception as exc:
        print(f"note: matplotlib's grace_hopper.jpg skipped ({exc})")
    y, x = np.mgrid[0:256, 0:512].astype(np.float64)
    out["gradient"] = np.stack([x / 2, y, 255 - (x + y) / 3], axis=2).round().clip(0, 255).astype(np.uint8)
    chelsea = np.asarray(Image.open(Path(__file__).resolve().parent.parent / "samples" / "chelsea.png").convert("RGB"))
    out["tiny"] = np.ascontiguousarray(chelsea[120:152, 200:248])
    return out


def _cell(row, metric: str) -> str:
    if row is None:
        return "-"
    if row.note.startswith("never"):
        return f"({row.bytes:,}: never)"
    settings = row.settings or {}
    extra = " ".join(str(settings[k]) for k in ("subsampling",) if k in settings)
    return f"{row.bytes:,}" + (f" ({extra})" if extra else "")


def markdown(rows, metric: str) -> str:
    by = {(r.image, r.k, r.method): r for r in rows}
    header = ["image", "K", "kmc", "kmc-entropy", "PSNR dB", "SSIMU2", "png8", "webp-lossless", "jxl-lossless",
              f"jpeg@{metric}", "its SSIMU2", f"webp@{metric}", f"jxl@{metric}", f"avif@{metric}", "entropy / jpeg"]
    lines = []
    for image, k in dict.fromkeys((r.image, r.k) for r in rows if r.k is not None):
        kmc, ent = by[(image, k, "kmc")], by.get((image, k, "kmc-entropy"))
        jpeg = by.get((image, k, f"jpeg@{metric}"))
        ratio = "-" if jpeg is None or ent is None or jpeg.note.startswith("never") else f"{ent.bytes / jpeg.bytes:.2f}"
        lines.append([
            Path(image).name, str(k), f"{kmc.bytes:,}", f"{ent.bytes:,}" if ent else "-",
            "lossless" if kmc.psnr is None else f"{kmc.psnr:.2f}",
            "-" if kmc.ssimulacra2 is None else f"{kmc.ssimulacra2:.1f}",
            *[f"{by[(image, k, m)].bytes:,}" if (image, k, m) in by else "-"
              for m in ("png8", "webp-lossless", "jxl-lossless")],
            _cell(jpeg, metric),
            "-" if jpeg is None or jpeg.ssimulacra2 is None else f"{jpeg.ssimulacra2:.1f}",
            *[_cell(by.get((image, k, f"{c}@{metric}")), metric) for c in ("webp", "jxl", "avif")],
            ratio,
        ])
    return format_table(header, lines, markdown=True)


def conclusions(rows, metric: str) -> list[str]:
    """What the rows say, image by image: the entropy .kmc file against each codec."""
    out = []
    for image in dict.fromkeys(r.image for r in rows):
        mine = {(r.k, r.method): r for r in rows if r.image == image}
        parts = []
        for other in ("jxl-lossless", "webp-lossless", f"jpeg@{metric}", f"avif@{metric}"):
            ratios, never, lossless = [], 0, 0
            for (k, method), r in mine.items():
                if method != other:
                    continue
                ent = mine.get((k, "kmc-entropy"))
                if ent is None:
                    continue
                if r.note.startswith("never"):
                    never += 1
                else:
                    ratios.append(ent.bytes / r.bytes)
            lossless = sum(1 for (k, m), r in mine.items() if m == "kmc" and r.lossless)
            if ratios or never:
                text = f"{other}: {min(ratios):.2f}-{max(ratios):.2f}x" if ratios else f"{other}: -"
                if never:
                    text += f" ({never} K where it never reaches the .kmc quality)"
                parts.append(text)
        note = f"; lossless from {lossless} of the K" if lossless else ""
        out.append(f"{Path(image).name}: kmc-entropy / {', '.join(parts)}{note}")
    return out


def _row(d: dict) -> Row:
    """A Row again from its JSON object (the kmc rows' extra keys back in ``extra``)."""
    names = {f.name for f in fields(Row)} - {"extra"}
    row = Row(**{k: v for k, v in d.items() if k in names})
    row.extra = {k: v for k, v in d.items() if k not in names}
    return row


def run(ks: list[int], metric: str, quick: bool) -> list[Row]:
    pictures = images()
    if not quick:
        pictures.update(extra_images())
    else:
        pictures = {k: v for k, v in pictures.items() if k in ("chelsea", "shapes")}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, rgb in pictures.items():
            path = Path(tmp) / f"{name}.png"
            Image.fromarray(rgb).save(path)
            paths.append(str(path))
        print(f"command: kmc compare {' '.join(Path(p).name for p in paths)} -k {','.join(map(str, ks))}"
              f" --metric {metric}")
        start = time.perf_counter()
        rows = compare(paths, ks, seed=0, metric=metric, progress=sys.stderr.isatty())
        seconds = time.perf_counter() - start
    print(f"{len(rows)} rows in {seconds:.0f} s\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="4,16,64,256", help="K values (default 4,16,64,256)")
    parser.add_argument("--metric", default="psnr", choices=("psnr", "ssim", "ssimulacra2"))
    parser.add_argument("--quick", action="store_true", help="the bundled samples only, K = 16")
    parser.add_argument("--markdown", type=Path, help="write the README table here")
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--rows", type=Path, help="report on the rows a run saved with --json, not a new run")
    args = parser.parse_args()
    ks = [16] if args.quick else [int(k) for k in args.k.split(",")]
    logging.basicConfig(format="note: %(message)s")
    print(f"machine: {machine()}")
    print(format_versions(versions()))
    if args.rows:
        rows = [_row(d) for d in json.loads(args.rows.read_text())]
        print(f"{len(rows)} rows from {args.rows}\n")
    else:
        rows = run(ks, args.metric, args.quick)
    print(row_table(rows, args.metric))
    print()
    print(format_summary(rows, args.metric))
    print("\nconclusions:")
    for line in conclusions(rows, args.metric):
        print("  " + line)
    ent_jpeg = [mine.bytes / r.bytes for r in rows if r.method == f"jpeg@{args.metric}" and not r.note
                for mine in rows if mine.image == r.image and mine.k == r.k and mine.method == "kmc-entropy"]
    if ent_jpeg:
        smaller = sum(1 for x in ent_jpeg if x < 1)
        print(f"  kmc-entropy is smaller than JPEG at equal {args.metric} in {smaller} of {len(ent_jpeg)} cases"
              f" (median ratio {statistics.median(ent_jpeg):.2f})")
    if args.markdown:
        args.markdown.write_text(f"machine: {machine()}\n\n{format_versions(versions())}\n\n"
                                 + markdown(rows, args.metric) + "\n")
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1) + "\n")


if __name__ == "__main__":
    main()
