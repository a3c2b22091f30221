"""Encode time against image size and K: kmcodec beside pngquant.

    python bench/scaling.py [--photo mosaic] [--mp 1,4,12,50] [-k 2,16,64,256,1024,4096]
                            [--repeat 1] [--markdown F] [--plot F]

For each size (megapixels, 4:3) the photograph ``--photo`` of
``common.photographs`` is made at that size and saved as PNG; then
whole-process ``kmc encode -k K`` and, for K <= 256, ``pngquant --nofs K``
run on it, interleaved, ``--repeat`` times (median).  Prints the table and
the machine; ``--plot`` draws seconds against megapixels and against K on
log-log axes (matplotlib).
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from encode import kmc_cmd, pngquant_cmd


def size_of(mp: float) -> tuple[int, int]:
    width = round(math.sqrt(mp * 1e6 * 4 / 3))
    return width, round(width * 3 / 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", default="mosaic", help="which of common.photographs (default mosaic)")
    parser.add_argument("--mp", default="1,4,12,50", help="sizes in megapixels (default 1,4,12,50)")
    parser.add_argument("-k", default="2,16,64,256,1024,4096", help="palette sizes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per point (median; default 1)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    parser.add_argument("--plot", type=Path, help="draw the log-log plot into this PNG")
    args = parser.parse_args()
    sizes = [float(v) for v in args.mp.split(",")]
    ks = [int(v) for v in args.k.split(",")]
    pngquant = shutil.which("pngquant")
    version = ""
    if pngquant:
        version = subprocess.run(["pngquant", "--version"], capture_output=True, text=True).stdout.split()[0]
    else:
        print("note: pngquant is not installed (Debian package 'pngquant'): skipped")
    print(f"machine: {common.machine()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for mp in sizes:
            width, height = size_of(mp)
            canvas = common.photographs(width, height)[args.photo]
            src = work / f"{args.photo}-{mp:g}.png"
            Image.fromarray(canvas).save(src)
            colours = common.distinct_colors(canvas)
            del canvas
            print(f"{args.photo} {width}x{height} ({mp:g} MP): {colours:,} distinct colours", flush=True)
            for k in ks:
                methods = [("kmcodec", kmc_cmd)]
                if pngquant and k <= 256:
                    methods.append((f"pngquant {version}", pngquant_cmd))
                times: dict[str, list[float]] = {name: [] for name, _ in methods}
                peaks: dict[str, float] = {name: 0.0 for name, _ in methods}
                for _ in range(args.repeat):
                    for name, cmd in methods:
                        out = work / f"out{'.kmc' if name == 'kmcodec' else '.png'}"
                        seconds, peak, _ = common.run_measured(cmd(src, k, out))
                        times[name].append(seconds)
                        peaks[name] = max(peaks[name], peak)
                row = {"mp": mp, "size": f"{width}x{height}", "colours": colours, "k": k,
                       "kmc": statistics.median(times["kmcodec"]), "kmc_peak": peaks["kmcodec"]}
                if len(methods) > 1:
                    row["pngquant"] = statistics.median(times[methods[1][0]])
                rows.append(row)
                print(format_row(row), flush=True)
    header, lines = table(rows)
    print()
    print(common.format_table(header, lines, left=1))
    if args.markdown:
        common.write_markdown(args.markdown, header, lines)
    if args.plot:
        plot(rows, args.plot, args.photo, version)


def format_row(r) -> str:
    pq = f", pngquant {r['pngquant']:.2f} s ({r['kmc'] / r['pngquant']:.2f}x)" if "pngquant" in r else ""
    return f"  {r['mp']:g} MP K={r['k']}: kmcodec {r['kmc']:.2f} s, {r['kmc_peak']:.0f} MB{pq}"


def table(rows):
    header = ["MP", "size", "colours", "K", "kmcodec s", "peak MB", "pngquant s", "kmcodec / pngquant"]
    lines = []
    for r in rows:
        pq = "pngquant" in r
        lines.append([f"{r['mp']:g}", r["size"], f"{r['colours']:,}", str(r["k"]), f"{r['kmc']:.2f}",
                      f"{r['kmc_peak']:.0f}", f"{r['pngquant']:.2f}" if pq else "-",
                      f"{r['kmc'] / r['pngquant']:.2f}" if pq else "-"])
    return header, lines


def plot(rows, path: Path, photo: str, version: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_size, by_k) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    ks = sorted({r["k"] for r in rows})
    sizes = sorted({r["mp"] for r in rows})
    colours = plt.get_cmap("viridis")
    for i, k in enumerate(ks):
        mine = [r for r in rows if r["k"] == k]
        c = colours(i / max(1, len(ks) - 1))
        by_size.plot([r["mp"] for r in mine], [r["kmc"] for r in mine], "o-", color=c, label=f"kmcodec K={k}")
        quant = [r for r in mine if "pngquant" in r]
        if quant:
            by_size.plot([r["mp"] for r in quant], [r["pngquant"] for r in quant], "s--", color=c, alpha=0.6,
                         label=f"pngquant K={k}")
    for i, mp in enumerate(sizes):
        mine = [r for r in rows if r["mp"] == mp]
        c = plt.get_cmap("plasma")(i / max(1, len(sizes) - 1))
        by_k.plot([r["k"] for r in mine], [r["kmc"] for r in mine], "o-", color=c, label=f"kmcodec {mp:g} MP")
        quant = [r for r in mine if "pngquant" in r]
        if quant:
            by_k.plot([r["k"] for r in quant], [r["pngquant"] for r in quant], "s--", color=c, alpha=0.6,
                      label=f"pngquant {mp:g} MP")
    for ax, xlabel in ((by_size, "megapixels"), (by_k, "K (palette size)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("whole-process encode, seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    by_k.set_xscale("log", base=2)
    fig.suptitle(f"kmc encode (solid) and {version and 'pngquant ' + version} --nofs (dashed) "
                 f"on the '{photo}' photograph")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
