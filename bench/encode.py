"""Encode benchmark: kmcodec against pngquant, Pillow's quantisers and scikit-learn.

    python bench/encode.py [IMAGES ...] [-k 16,256] [--size 4000x3000] [--repeat 3] [--only NAMES]

Builds the test photographs of --size (12 megapixels by default) with
``common.photographs``: tiled from the bundled photographs (``samples``),
from those and three more (``mosaic``), that mosaic with seeded sensor
noise (``grain``, 1.6 million distinct colours), and a photograph enlarged
smoothly (``scaled``); or one photograph tiled from the IMAGES given.  Every method then runs as a whole process on
that PNG, as a user would run it (read, quantise, write its output), --repeat
times, interleaved so that all methods share the machine's noise; the table
gives the median wall time, the largest peak resident memory, and the error
of the output measured here against the original pixels.

scikit-learn's per-pixel recipe, ``KMeans(n_clusters=K).fit(pixels)``, takes
minutes at this size for large K; unless --sklearn-all is given it runs on
the full image only for K <= 16 and otherwise on a 1-megapixel crop (marked
"crop" in the table, with kmcodec run on the same crop beside it).
``sklearn-weighted`` runs the same k-means objective on the distinct colours
weighted by their counts, on the full image.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, features

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

RUNNER = Path(__file__).resolve().parent / "run_method.py"


def kmc_cmd(src: Path, k: int, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kmcodec", "encode", str(src), "-k", str(k), "-o", str(out), "-f", "-q", *extra]


def kmc_with(*extra: str):
    def cmd(src: Path, k: int, out: Path) -> list[str]:
        return kmc_cmd(src, k, out, *extra)

    return cmd


#: ``--dithered``: each dithered setting beside the undithered one it adds
#: to (``--perceptual``'s is the same palette search, smooth weighting
#: included, without dithering).
DITHERED = [
    ("kmcodec oklab", kmc_with("--space", "oklab"), None),
    ("kmcodec oklab fs", kmc_with("--space", "oklab", "--dither", "fs"), "kmcodec oklab"),
    ("kmcodec oklab weight 1", kmc_with("--space", "oklab", "--smooth-weight", "1"), None),
    ("kmcodec perceptual", kmc_with("--perceptual"), "kmcodec oklab weight 1"),
    ("kmcodec fs", kmc_with("--dither", "fs"), "kmcodec"),
]
#: Also printed, without a target: what ``--perceptual`` costs in all.
WHOLE = [("kmcodec perceptual", "kmcodec oklab")]


def pngquant_cmd(src: Path, k: int, out: Path) -> list[str]:
    return ["pngquant", "--nofs", str(k), "-f", "-o", str(out), str(src)]


def runner_cmd(method: str):
    def cmd(src: Path, k: int, out: Path) -> list[str]:
        return [sys.executable, str(RUNNER), method, str(src), str(k), str(out)]

    return cmd


def decoded(path: Path) -> np.ndarray:
    if path.suffix == ".kmc":
        import kmcodec

        return kmcodec.read(path)
    return np.asarray(Image.open(path).convert("RGB"))


def run_group(label, src, original, k, methods, workdir, repeat):
    """Run every method `repeat` times, interleaved; return rows."""
    results = {name: {"times": [], "peaks": []} for name, _ in methods}
    outs = {}
    for _ in range(repeat):
        for name, cmd in methods:
            out = workdir / f"{label}-{name}-{k}{'.kmc' if name.startswith('kmcodec') else '.png'}"
            seconds, peak, _ = common.run_measured(cmd(src, k, out))
            results[name]["times"].append(seconds)
            results[name]["peaks"].append(peak)
            outs[name] = out
    rows = []
    for name, _ in methods:
        m = common.mse(decoded(outs[name]), original)
        rows.append({
            "image": label, "method": name, "k": k,
            "seconds": statistics.median(results[name]["times"]),
            "peak_mb": max(results[name]["peaks"]), "mse": m,
        })
    return rows


def print_table(rows, markdown=False):
    header = ["image", "method", "K", "seconds", "x kmcodec", "MSE", "x kmcodec", "PSNR dB", "peak MB"]
    lines = []
    base = {(r["image"], r["k"]): r for r in rows if r["method"] == "kmcodec"}
    for r in rows:
        ref = base.get((r["image"], r["k"]))
        t_ratio = f"{r['seconds'] / ref['seconds']:.2f}" if ref else "-"
        m_ratio = f"{r['mse'] / ref['mse']:.3f}" if ref and ref["mse"] else "-"
        lines.append([r["image"], r["method"], str(r["k"]), f"{r['seconds']:.2f}", t_ratio,
                      f"{r['mse']:.2f}", m_ratio, f"{common.psnr(r['mse']):.2f}", f"{r['peak_mb']:.0f}"])
    return common.format_table(header, lines, markdown=markdown, left=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", type=Path, help="photographs to tile (default: samples/)")
    parser.add_argument("-k", default="16,256", help="comma-separated K values (default 16,256)")
    parser.add_argument("--size", default="4000x3000", help="test image size (default 4000x3000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (default 3)")
    parser.add_argument("--sklearn-all", action="store_true",
                        help="per-pixel scikit-learn on the full image for every K")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    parser.add_argument("--only", help="comma-separated names of the photographs to run (samples,mosaic,grain,scaled)")
    parser.add_argument("--fast", action="store_true", help="kmcodec and pngquant only")
    parser.add_argument("--dithered", action="store_true",
                        help="also kmcodec's dithered settings, each beside the undithered one (issue 16's"
                        " target: a 12 MP dithered encode adds at most 1 s)")
    args = parser.parse_args()
    ks = [int(v) for v in args.k.split(",")]
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.images:
            canvases = {"tiled": common.tiled(args.images, width, height)}
        else:
            canvases = common.photographs(width, height)
        if args.only:
            canvases = {n: a for n, a in canvases.items() if n in args.only.split(",")}
        print(f"machine: {common.machine()}")
        methods = [("kmcodec", kmc_cmd)]
        if shutil.which("pngquant"):
            version = subprocess.run(["pngquant", "--version"], capture_output=True, text=True).stdout.split()[0]
            methods.append((f"pngquant {version}", pngquant_cmd))
        else:
            print("note: pngquant is not installed (Debian package 'pngquant'): skipped")
        if not args.fast:
            for name in ("pillow-mediancut", "pillow-maxcoverage", "pillow-octree"):
                methods.append((name, runner_cmd(name)))
            if features.check("libimagequant"):
                methods.append(("pillow-libimagequant", runner_cmd("pillow-libimagequant")))
            else:
                print("note: this Pillow is built without libimagequant: pillow-libimagequant skipped")
        if args.dithered:
            methods += [(name, cmd) for name, cmd, _ in DITHERED]

        rows = []
        for name, canvas in canvases.items():
            src = work / f"{name}.png"
            Image.fromarray(canvas).save(src)
            label = f"{name} {width}x{height}"
            print(f"test image {label} ({width * height / 1e6:.1f} MP): "
                  f"{common.distinct_colors(canvas):,} distinct colours", flush=True)
            for k in ks:
                print(f"{label} K={k}: timing {len(methods)} methods x {args.repeat} runs ...", flush=True)
                rows += run_group(label, src, canvas, k, methods, work, args.repeat)
                if args.fast:
                    continue
                rows += run_group(label, src, canvas, k, [("sklearn-weighted", runner_cmd("sklearn-weighted"))],
                                  work, 1)
                if k <= 16 or args.sklearn_all:
                    rows += run_group(label, src, canvas, k, [("sklearn", runner_cmd("sklearn"))], work, 1)
                else:
                    print(f"K={k}: per-pixel scikit-learn on the full image would take minutes; "
                          "running it on a 1000x1000 crop instead", flush=True)
                    crop = np.ascontiguousarray(canvas[:1000, :1000])
                    crop_src = work / f"{name}-crop.png"
                    Image.fromarray(crop).save(crop_src)
                    rows += run_group(f"{name} crop 1000x1000", crop_src, crop, k,
                                      [("kmcodec", kmc_cmd), ("sklearn", runner_cmd("sklearn"))], work, 1)
        table = print_table(rows)
        print()
        print(table)
        print("\nseconds: median wall time of the whole process (read PNG, quantise, write output);")
        print("peak MB: largest maximum resident set; MSE over all pixels and channels (0-255 scale);")
        print("x kmcodec: ratio to kmcodec's value for the same image and K (below 1 = better than kmcodec).")
        for line in against_pngquant(rows):
            print(line)
        if args.dithered:
            for line in dithering_cost(rows):
                print(line)
        if args.markdown:
            args.markdown.write_text(f"machine: {common.machine()}\n\n" + print_table(rows, markdown=True) + "\n")


def dithering_cost(rows) -> list[str]:
    """Seconds each dithered setting adds to its undithered one, per image and K."""
    time = {(r["image"], r["k"], r["method"]): r["seconds"] for r in rows}
    out = []
    for name, _, base in DITHERED:
        if base is None:
            continue
        for (image, k, method), seconds in time.items():
            if method == name and (image, k, base) in time:
                out.append(f"{image} K={k}: {name} adds {seconds - time[image, k, base]:+.2f} s to {base}"
                           " (target: at most +1 s)")
    for name, base in WHOLE:
        for (image, k, method), seconds in time.items():
            if method == name and (image, k, base) in time:
                out.append(f"{image} K={k}: {name} adds {seconds - time[image, k, base]:+.2f} s to {base}"
                           " (dithering and smooth weighting together)")
    return out


def against_pngquant(rows) -> list[str]:
    """kmcodec's time as a fraction of pngquant's, per image and K."""
    out = []
    base = {(r["image"], r["k"]): r for r in rows if r["method"] == "kmcodec"}
    for r in rows:
        ref = base.get((r["image"], r["k"]))
        if r["method"].startswith("pngquant") and ref:
            out.append(f"{r['image']} K={r['k']}: kmcodec takes {ref['seconds'] / r['seconds']:.2f}x "
                       f"pngquant's time ({ref['seconds']:.2f} s against {r['seconds']:.2f} s)")
    return out


if __name__ == "__main__":
    main()
