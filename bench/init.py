"""The tutorials' k-means beside k-means++ and kmcodec's pipeline.

For a few photographs at K = 4, 16, 64: the final MSE (per channel, of the
8-bit palette every method's centres are rounded to, each pixel mapped to
its nearest entry) and the Lloyd iterations of

- ``random + Lloyd``: the textbook algorithm (``--init random --refine none``);
- ``k-means++ + Lloyd``: k-means++ seeding, then plain Lloyd (``--refine none``);
- ``kmcodec``: the default pipeline (k-means++, grid, swap refinement, polish);
- ``random + kmcodec``: random seeds, then the pipeline (``--init random``);
- ``sklearn random`` and ``sklearn k-means++``: scikit-learn's
  ``KMeans(init="random")`` and ``KMeans()`` (Lloyd, as ``--engine sklearn``
  runs them: on the distinct colours weighted by their pixel counts, the same
  objective as on the pixels),

each as a single run (ten seeds: the median and the worst MSE, the median
iterations) and as the best of ``n_init=10`` (seed 0: MSE, and iterations:
kmcodec's are summed over the ten runs and its stages, scikit-learn's are
its best run's).  Run: ``python bench/init.py [--k LIST] [--markdown]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, extra_photos, format_table, machine

import kmcodec
from kmcodec.images import to_rgb_array

METHODS = {
    "random + Lloyd": {"init": "random", "refine": "none"},
    "k-means++ + Lloyd": {"init": "kmeans++", "refine": "none"},
    "kmcodec": {},
    "random + kmcodec": {"init": "random"},
    "sklearn random": {"engine": "sklearn", "init": "random"},
    "sklearn k-means++": {"engine": "sklearn"},
}
SEEDS = range(10)


def images() -> dict[str, np.ndarray]:
    """scikit-learn's china (the tutorials' photograph) and flower, and the bundled photographs."""
    out = {name: image for name, image in extra_photos().items() if name in ("china", "flower")}
    for name in ("chelsea.png", "coffee.png", "astronaut.png"):
        out[name.split(".")[0]] = to_rgb_array(ROOT / "samples" / name)
    return out


def run(rgb: np.ndarray, k: int, seed: int, n_init: int, settings: dict) -> tuple[float, int, float]:
    """MSE per channel, Lloyd iterations, seconds."""
    start = time.perf_counter()
    q = kmcodec.quantize(rgb, k, seed, n_init=n_init, **settings)
    seconds = time.perf_counter() - start
    return q.error / (3 * rgb.shape[0] * rgb.shape[1]), q.iterations, seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="4,16,64", help="comma-separated K (default 4,16,64)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    ks = [int(v) for v in args.k.split(",")]
    try:
        import sklearn

        sk = sklearn.__version__
    except ImportError:
        sk = None
        print("note: scikit-learn is not installed (pip install \".[bench]\"): its rows are left out")
    print(f"machine: {machine()}")
    print(f"kmcodec {kmcodec.__version__}, scikit-learn {sk or 'missing'}")
    header = ["image", "K", "method", "1 run: median MSE", "worst", "iters", "10 runs: MSE", "iters", "s"]
    rows = []
    kmcodec.quantize(np.zeros((2, 2, 3), np.uint8), 2)  # compile and load outside the timings
    for name, rgb in images().items():
        for k in ks:
            for method, settings in METHODS.items():
                if settings.get("engine") == "sklearn" and sk is None:
                    continue
                single = [run(rgb, k, seed, 1, settings) for seed in SEEDS]
                best, iters, seconds = run(rgb, k, 0, 10, settings)
                mses = [r[0] for r in single]
                rows.append([name, str(k), method, f"{statistics.median(mses):.2f}", f"{max(mses):.2f}",
                             f"{statistics.median(r[1] for r in single):.0f}", f"{best:.2f}", str(iters),
                             f"{seconds:.2f}"])
            print(format_table(header, rows[-len(METHODS):], args.markdown, left=3), flush=True)
    print()
    print(format_table(header, rows, args.markdown, left=3))


if __name__ == "__main__":
    main()
