"""Helpers shared by the benchmarks: test images, timing, memory, metrics."""

from __future__ import annotations

import io
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = [ROOT / "samples" / n for n in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png")]


def tiled(paths, width: int, height: int) -> np.ndarray:
    """A width x height RGB canvas tiled row by row with the given photographs
    (paths or arrays).

    Tiles are copied at their own size, never scaled, cycling through
    ``paths``; the last tile of a row or column is cropped.
    """
    photos = [p if isinstance(p, np.ndarray) else np.asarray(Image.open(p).convert("RGB")) for p in paths]
    canvas = np.empty((height, width, 3), np.uint8)
    y, i = 0, 0
    while y < height:
        x, row_h = 0, 0
        while x < width:
            tile = photos[i % len(photos)]
            i += 1
            h, w = min(tile.shape[0], height - y), min(tile.shape[1], width - x)
            canvas[y : y + h, x : x + w] = tile[:h, :w]
            x += w
            row_h = max(row_h, h)
        y += row_h
    return canvas


def extra_photos() -> list:
    """Photographs that are not bundled but come with the test extras:
    scikit-learn's china and flower, matplotlib's grace_hopper (as arrays)."""
    out = []
    try:
        import sklearn.datasets

        out += [sklearn.datasets.load_sample_image(n) for n in ("china.jpg", "flower.jpg")]
    except Exception as exc:
        print(f"note: scikit-learn sample images skipped ({exc})")
    try:
        import matplotlib.cbook

        with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
            out.append(np.asarray(im.convert("RGB")))
    except Exception as exc:
        print(f"note: matplotlib's grace_hopper skipped ({exc})")
    return out


def photographs(width: int, height: int) -> dict[str, np.ndarray]:
    """The encode benchmark's photographs of width x height, made reproducibly.

    - ``samples``: tiled from the four bundled photographs (about 270,000
      distinct colours at 12 MP);
    - ``mosaic``: tiled from those and the three of :func:`extra_photos`
      (about 450,000);
    - ``grain``: ``mosaic`` with Gaussian noise of sigma 2 added (seeded):
      sensor noise or film grain, about 1.6 million;
    - ``scaled``: scikit-learn's china enlarged with Lanczos filtering:
      a smooth high-resolution photograph, about 1.4 million.
    """
    extras = extra_photos()
    out = {"samples": tiled(PHOTOS, width, height)}
    if extras:
        out["mosaic"] = tiled(list(PHOTOS) + extras, width, height)
        noise = np.random.default_rng(0).normal(0, 2, out["mosaic"].shape)
        out["grain"] = np.clip(out["mosaic"] + noise, 0, 255).round().astype(np.uint8)
        big = Image.fromarray(extras[0]).resize((width, height), Image.Resampling.LANCZOS)
        out["scaled"] = np.asarray(big)
    return out


def distinct_colors(rgb: np.ndarray) -> int:
    """Number of distinct colours of an (H, W, 3) uint8 image."""
    p = rgb.reshape(-1, 3).astype(np.uint32)
    seen = np.zeros(1 << 24, dtype=bool)
    seen[p[:, 0] | p[:, 1] << 8 | p[:, 2] << 16] = True
    return int(np.count_nonzero(seen))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of squared differences over all pixels and channels (0-255 scale)."""
    total = 0.0
    a2, b2 = a.reshape(-1, 3), b.reshape(-1, 3)
    for start in range(0, len(a2), 1 << 20):  # chunks: bounded memory
        d = a2[start : start + (1 << 20)].astype(np.int32) - b2[start : start + (1 << 20)]
        total += float(np.einsum("ij,ij->", d, d, dtype=np.int64))
    return total / a2.size


def psnr(m: float) -> float:
    return float("inf") if m == 0 else 10 * np.log10(255.0**2 / m)


def run_measured(argv: list[str]) -> tuple[float, float, str]:
    """Run a command; return its wall seconds, peak RSS in MB, and stderr.

    A small Python parent starts the command and reads the children's
    ``ru_maxrss``, so that the peak belongs to that command alone.
    """
    code = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "seconds = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps([seconds, peak, p.returncode, p.stderr.decode(errors='replace')[-2000:]]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    seconds, maxrss_kb, rc, err = json.loads(proc.stdout)
    if rc != 0:
        raise RuntimeError(f"{argv[0]} exited {rc}: {err}")
    return seconds, maxrss_kb / 1024, err


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}"
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def format_table(header: list[str], rows: list[list[str]], markdown: bool = False,
                 left: int = 0) -> str:
    """Aligned text (the first ``left`` columns flush left), or a Markdown table."""
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{'<' if i < left else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header)] + [fmt.format(*r) for r in rows])


def write_markdown(path, header, rows) -> None:
    path.write_text(f"machine: {machine()}\n\n" + format_table(header, rows, markdown=True) + "\n")


def images() -> dict[str, np.ndarray]:
    """The bundled samples, two photographs of scikit-learn's, and two graphics: a logo and a chart drawn here."""
    from kmcodec.images import to_rgb_array

    out = {p.stem: to_rgb_array(p) for p in sorted((ROOT / "samples").glob("*.*")) if p.suffix in (".png", ".jpg")}
    try:
        import sklearn.datasets

        for name in ("china.jpg", "flower.jpg"):
            out[name[:-4]] = np.asarray(sklearn.datasets.load_sample_image(name))
    except Exception as exc:
        print(f"note: scikit-learn sample images skipped ({exc})")
    try:
        import warnings

        import skimage.data

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["logo"] = to_rgb_array(Image.fromarray(skimage.data.logo()))
    except Exception as exc:
        print(f"note: scikit-image logo skipped ({exc})")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
        x = np.linspace(0, 10, 200)
        for i in range(4):
            ax.plot(x, np.sin(x + i) * (i + 1), label=f"series {i}")
        ax.legend()
        ax.set_title("a line chart")
        ax.grid(True)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        out["chart"] = to_rgb_array(Image.open(buf))
    except Exception as exc:
        print(f"note: matplotlib chart skipped ({exc})")
    return out
