"""Images with transparency: kmcodec against pngquant, in one run.

    python bench/alpha.py [-k 16,64,256] [--markdown F]

For each image of ``common.rgba_images`` (icons, a sprite sheet, a UI with
drop shadows, photo cut-outs under soft masks, a chart on a transparent
background) and each K:

- the alpha-aware error of kmcodec's palette and of ``pngquant --nofs K``
  (pngquant's default speed), both against the original: the MSE over the
  premultiplied values (R*A/255, G*A/255, B*A/255, A), as ``kmc compare``
  measures alpha; the target is kmcodec at or below pngquant on every one;
- the bytes of kmcodec's coded files, coder 1 ("entropy") and coder 2
  ("mix", the best the project has), against an ``optipng -o7`` palette
  PNG (tRNS) of the very same pixels; the target is the best coder smaller
  on every one;
- whether fully transparent and fully opaque pixels keep their alpha
  exactly, for both.

Tools that are missing are reported and their columns left empty.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import format_table, machine, rgba_images, version

import kmcodec
from kmcodec.alpha import premultiplied


def alpha_mse(a: np.ndarray, b: np.ndarray) -> float:
    d = premultiplied(a) - premultiplied(b)
    return float((d * d).mean())


def exact(original: np.ndarray, decoded: np.ndarray) -> bool:
    """Fully transparent pixels decode with alpha 0, opaque ones with alpha 255."""
    a = original[..., 3]
    return bool((decoded[a == 0][:, 3] == 0).all() and (decoded[a == 255][:, 3] == 255).all())


def pngquant(path: Path, k: int, out: Path) -> np.ndarray | None:
    if shutil.which("pngquant") is None:
        return None
    subprocess.run(["pngquant", "--nofs", "--force", "--output", str(out), str(k), str(path)], check=True)
    with Image.open(out) as im:
        return np.asarray(im.convert("RGBA"))


def optipng_bytes(q: kmcodec.Quantized, path: Path) -> int | None:
    """An optipng -o7 palette PNG (tRNS for the alphas) of q's pixels."""
    if shutil.which("optipng") is None or len(q.palette) > 256:
        return None
    im = Image.fromarray(q.indices.astype(np.uint8), "P")
    im.putpalette(q.palette[:, :3].tobytes())
    im.info["transparency"] = q.palette[:, 3].tobytes()
    im.save(path, transparency=q.palette[:, 3].tobytes())
    subprocess.run(["optipng", "-quiet", "-o7", str(path)], check=True)
    with Image.open(path) as back:  # the same pixels, or the comparison means nothing
        assert np.array_equal(np.asarray(back.convert("RGBA")), q.to_rgb())
    return path.stat().st_size


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="16,64,256", help="comma-separated K values")
    ap.add_argument("--markdown", metavar="F", help="also write the table as Markdown to F")
    args = ap.parse_args(argv)
    ks = [int(v) for v in args.k.split(",")]
    print(f"machine: {machine()}")
    print(f"kmcodec {kmcodec.__version__}; {version(['pngquant', '--version'])} (pngquant);"
          f" {version(['optipng', '-v'])}")
    header = ["image", "colours", "K", "kmc MSE", "pngquant MSE", "kmc/pq", "entropy B", "mix B",
              "optipng B", "entropy/optipng", "mix/optipng", "kmc exact", "pq exact"]
    rows, worst_mse, worst_size, worst_entropy = [], 0.0, 0.0, 0.0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, rgba in rgba_images().items():
            src = tmp / f"{name}.png"
            Image.fromarray(rgba, "RGBA").save(src)
            colours = len(np.unique(rgba.reshape(-1, 4), axis=0))
            for k in ks:
                q = kmcodec.quantize(rgba, k=k)
                decoded = q.to_rgb()
                ours = alpha_mse(rgba, decoded)
                theirs = pngquant(src, k, tmp / "pq.png")
                pq_mse = None if theirs is None else alpha_mse(rgba, theirs)
                entropy_size = len(q.to_bytes("entropy"))
                size = len(q.to_bytes("mix"))
                png = optipng_bytes(q, tmp / "q.png")
                if pq_mse is not None:
                    worst_mse = max(worst_mse, ours / pq_mse if pq_mse else (0.0 if ours == 0 else np.inf))
                if png:
                    worst_size = max(worst_size, size / png)
                    worst_entropy = max(worst_entropy, entropy_size / png)
                rows.append([name, f"{colours:,}", str(k), f"{ours:.2f}",
                             "-" if pq_mse is None else f"{pq_mse:.2f}",
                             "-" if not pq_mse else f"{ours / pq_mse:.3f}",
                             f"{entropy_size:,}", f"{size:,}", "-" if png is None else f"{png:,}",
                             "-" if not png else f"{entropy_size / png:.3f}",
                             "-" if not png else f"{size / png:.3f}",
                             "yes" if exact(rgba, decoded) else "NO",
                             "-" if theirs is None else ("yes" if exact(rgba, theirs) else "no")])
                print("  ".join(rows[-1]), flush=True)
    print()
    print(format_table(header, rows, left=1))
    print(f"\nworst kmc/pngquant alpha-aware MSE: {worst_mse:.3f} (target <= 1 on every row)")
    print(f"worst kmc mix (coder 2) / optipng -o7 bytes: {worst_size:.3f} (target < 1 on every row);"
          f" entropy (coder 1): {worst_entropy:.3f}")
    if args.markdown:
        Path(args.markdown).write_text(f"machine: {machine()}\n\n" + format_table(header, rows, markdown=True) + "\n")


if __name__ == "__main__":
    main()
