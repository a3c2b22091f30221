"""Start-up cost of the entropy coder: whole-process ``kmc`` on a small image.

    python bench/startup.py [--repeat 10] [--against REF] [--cold] [--markdown F]

Encodes one small photograph (default samples/chelsea.png, 451 x 300) at
K = 16 with each coder, then times whole processes, interleaved so that
every case shares the machine's noise: ``kmc decode`` of each file to PNG in
a temporary folder, ``kmc info`` of each, and bare Python importing NumPy
and Pillow with and without Numba (the floor any Numba-compiled decoder
pays).  Prints the median wall and CPU (user + system) seconds, and the
entropy decode's wall time over the packed one against the target of
issue 12: at most 0.6 s more.  CPU time varies less than wall time on a
shared machine.

Compiled code is cached in the temporary folder, warmed by a first run of
each case.  ``--against REF`` runs a commit too, checked out into a
temporary worktree, for before and after.  ``--cold`` adds, with an empty
cache, one decode and then one encode with the entropy coder: the first
uses' compile times, and the lines they printed on stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET = 0.6  # seconds over the packed decode (issue 12)
CASES = [
    ("kmc decode packed", ["-m", "kmcodec", "decode", "{dir}/p.kmc", "-o", "{dir}/p.png", "-f", "-q"]),
    ("kmc decode entropy", ["-m", "kmcodec", "decode", "{dir}/e.kmc", "-o", "{dir}/e.png", "-f", "-q"]),
    ("kmc info packed", ["-m", "kmcodec", "info", "{dir}/p.kmc"]),
    ("kmc info entropy", ["-m", "kmcodec", "info", "{dir}/e.kmc"]),
    ("import numpy, PIL.Image", ["-c", "import numpy, PIL.Image"]),
    ("import numpy, PIL.Image, numba", ["-c", "import numpy, PIL.Image, numba"]),
]
COLD = [
    ("first kmc decode entropy (empty cache)", CASES[1][1]),
    ("then first kmc encode --coder entropy", ["-m", "kmcodec", "encode", "{image}", "-k", "16", "--coder",
                                               "entropy", "-o", "{dir}/cold.kmc", "-f", "-q"]),
]


def versions() -> str:
    names = ("numba", "llvmlite", "numpy", "pillow")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    commit = subprocess.run(["git", "-C", str(common.ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return f"kmcodec at {commit}, Python {platform.python_version()}, " + ", ".join(found)


def run(tree: Path, argv: list[str], folder: Path, env: dict | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds of one whole process running ``argv`` with ``tree``'s kmcodec; its stderr.

    It runs in ``folder``: ``python -m`` and ``-c`` put the current folder
    first on the path, so run from a checkout they would import that
    checkout's kmcodec, not ``tree``'s.  Compiled code is cached in
    ``folder/cache`` unless ``env`` says otherwise.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *(a.format(dir=folder) for a in argv)], capture_output=True,
                          text=True, cwd=folder,
                          env={**os.environ, "XDG_CACHE_HOME": str(folder / "cache"), **(env or {}),
                               "PYTHONPATH": str(tree)})
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, cpu, proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, default=common.ROOT / "samples" / "chelsea.png")
    parser.add_argument("-k", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--against", metavar="REF", help="a commit to time beside this tree")
    parser.add_argument("--cold", action="store_true", help="also time a first decode and encode, empty cache")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    print(f"machine: {common.machine()}")
    print(versions())
    work = Path(tempfile.mkdtemp(prefix="kmc-startup-"))
    trees = {"this tree": common.ROOT}
    if args.against:
        old = work / "old"
        subprocess.run(["git", "-C", str(common.ROOT), "worktree", "add", "-q", "--detach", str(old),
                        args.against], check=True)
        trees = {args.against: old, **trees}
    try:
        for coder, name in (("packed", "p"), ("entropy", "e")):
            run(common.ROOT, ["-m", "kmcodec", "encode", str(args.image), "-k", str(args.k), "--coder", coder,
                              "-o", f"{{dir}}/{name}.kmc", "-f", "-q"], work)
        for tree in trees.values():  # warm-up: each tree's compiled code compiled and cached
            for _, argv in CASES:
                run(tree, argv, work)
        walls: dict = {(t, c): [] for t in trees for c, _ in CASES}
        cpus: dict = {(t, c): [] for t in trees for c, _ in CASES}
        for _ in range(args.repeat):
            for case, argv in CASES:
                for name, tree in trees.items():
                    wall, cpu, _ = run(tree, argv, work)
                    walls[(name, case)].append(wall)
                    cpus[(name, case)].append(cpu)
        wall = {key: statistics.median(values) for key, values in walls.items()}
        cpu = {key: statistics.median(values) for key, values in cpus.items()}
        header = ["median seconds (whole process)", *(f"{t} {kind}" for t in trees for kind in ("wall", "CPU"))]
        rows = [[case, *(f"{m[(t, case)]:.2f}" for t in trees for m in (wall, cpu))] for case, _ in CASES]

        def difference(label: str, plus: str, minus: str) -> dict:
            rows.append([label, *(f"{m[(t, plus)] - m[(t, minus)]:+.2f}" for t in trees for m in (wall, cpu))])
            return {t: wall[(t, plus)] - wall[(t, minus)] for t in trees}

        over = difference("entropy decode minus packed", CASES[1][0], CASES[0][0])
        difference("  importing Numba (floor)", CASES[5][0], CASES[4][0])
        if args.cold:
            cold = [[case, *("" for _ in header[1:])] for case, _ in COLD]
            for i, (name, tree) in enumerate(trees.items()):
                with tempfile.TemporaryDirectory() as cache:
                    for row, (case, argv) in zip(cold, COLD):
                        argv = [a.replace("{image}", str(args.image)) for a in argv]
                        seconds, used, err = run(tree, argv, work, {"XDG_CACHE_HOME": cache})
                        row[1 + 2 * i : 3 + 2 * i] = [f"{seconds:.2f}", f"{used:.2f}"]
                        print(f"{name}, {case}: stderr" + "".join(f"\n    {line}" for line in err.splitlines()))
            rows += cold
        print()
        print(common.format_table(header, rows, left=1))
        print(f"{args.image.name} at K={args.k}, {args.repeat} interleaved runs of each")
        for name in trees:
            verdict = "met" if over[name] <= TARGET else "NOT met"
            print(f"{name}: entropy decode costs {over[name]:.2f} s more than packed;"
                  f" target <= {TARGET} s: {verdict}")
        if args.markdown:
            common.write_markdown(args.markdown, header, rows)
    finally:
        if args.against:
            subprocess.run(["git", "-C", str(common.ROOT), "worktree", "remove", "--force", str(work / "old")],
                           check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
