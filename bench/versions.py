"""Whole-process speed and bytes of two versions of kmcodec, side by side.

    python bench/versions.py REF [--size 4000x3000] [--repeat 3]

Checks out REF (a commit) into a temporary worktree and runs ``kmc encode``
(K = 16 and 256, packed; K = 256 entropy) and ``kmc decode`` of the entropy
file with that version and with this working tree, interleaved so that both
share the machine's noise, on one photograph tiled from the bundled samples.
Prints median wall times and whether the files are byte for byte the same:
a refactoring must keep both (issue 11).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    ("encode -k 16", ["encode", "{src}", "-k", "16", "-o", "{out}p16.kmc", "-f", "-q"]),
    ("encode -k 256", ["encode", "{src}", "-k", "256", "-o", "{out}p256.kmc", "-f", "-q"]),
    ("encode -k 256 --coder entropy", ["encode", "{src}", "-k", "256", "--coder", "entropy",
                                       "-o", "{out}e256.kmc", "-f", "-q"]),
    ("decode the entropy file", ["decode", "{out}e256.kmc", "-o", "{out}.png", "-f", "-q"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the commit to compare with")
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="kmc-versions-"))
    old = work / "old"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old), args.ref], check=True)
    try:
        src = work / "photo.png"
        samples = [*sorted((ROOT / "samples").glob("*.png")), ROOT / "samples" / "rocket.jpg"]
        Image.fromarray(common.tiled(samples, width, height)).save(src)
        trees = {args.ref: old, "this tree": ROOT}
        times: dict = {(t, c): [] for t in trees for c, _ in CASES}

        def run(tree: str, argv: list[str]) -> float:
            out = str(work / ("old" if tree == args.ref else "new"))
            start = time.perf_counter()
            # Run in the temporary folder: ``python -m`` puts the current
            # folder first on the path, ahead of PYTHONPATH, so run from a
            # checkout both sides would import that checkout's kmcodec.
            subprocess.run([sys.executable, "-m", "kmcodec", *[a.format(src=src, out=out) for a in argv]],
                           env={**os.environ, "PYTHONPATH": str(trees[tree])}, cwd=work, check=True)
            return time.perf_counter() - start

        for tree in trees:  # warm-up: compiled code cached, files made
            for _, argv in CASES:
                run(tree, argv)
        for _ in range(args.repeat):
            for case, argv in CASES:
                for tree in trees:
                    times[(tree, case)].append(run(tree, argv))
        rows = [[case, *(f"{statistics.median(times[(t, case)]):.2f}" for t in trees)] for case, _ in CASES]
        for name in ("p16.kmc", "p256.kmc", "e256.kmc", ".png"):
            a, b = (work / f"{side}{name}" for side in ("old", "new"))
            same = hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
            rows.append([f"bytes of {name.lstrip('.')}", "identical" if same else "DIFFER", ""])
        print(common.format_table(["median seconds (whole process)", args.ref, "this tree"], rows, left=1))
        print(f"{width}x{height}, {args.repeat} runs each; {common.machine()}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)


if __name__ == "__main__":
    main()
