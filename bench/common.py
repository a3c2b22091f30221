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


def extra_photos() -> dict[str, np.ndarray]:
    """Photographs that are not bundled but come with the test extras, by
    name: scikit-learn's china and flower, matplotlib's grace_hopper."""
    out = {}
    try:
        import sklearn.datasets

        out.update({n: sklearn.datasets.load_sample_image(f"{n}.jpg") for n in ("china", "flower")})
    except Exception as exc:
        print(f"note: scikit-learn sample images skipped ({exc})")
    try:
        import matplotlib.cbook

        with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
            out["grace_hopper"] = np.asarray(im.convert("RGB"))
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
    named = extra_photos()
    extras = list(named.values())
    out = {"samples": tiled(PHOTOS, width, height)}
    if extras:
        out["mosaic"] = tiled(list(PHOTOS) + extras, width, height)
        noise = np.random.default_rng(0).normal(0, 2, out["mosaic"].shape)
        out["grain"] = np.clip(out["mosaic"] + noise, 0, 255).round().astype(np.uint8)
        big = Image.fromarray(named.get("china", extras[0])).resize((width, height), Image.Resampling.LANCZOS)
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


def version(argv: list[str]) -> str:
    """The first line a tool prints for its version argument, or "missing"."""
    import shutil

    if shutil.which(argv[0]) is None:
        return "missing"
    proc = subprocess.run(argv, capture_output=True, text=True)
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0] if text else "?"


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
    chart = _line_chart(transparent=False)
    if chart is not None:
        out["chart"] = to_rgb_array(chart)
    return out


def rgba_images() -> dict[str, np.ndarray]:
    """Images with transparency, of the kinds palette tools are used for,
    made here reproducibly (no randomness without a seed) as (H, W, 4) uint8:

    - ``icon``: shapes with gradients drawn at 4x and reduced (anti-aliased
      edges), on a transparent background;
    - ``sprites``: a sheet of 32 such icons in different colours;
    - ``ui``: panels with rounded corners, soft drop shadows and text;
    - ``cutout``: scikit-learn's china photograph under a feathered oval mask;
    - ``cutout-flower``: the flower photograph under a soft irregular mask;
    - ``chart``: a matplotlib chart saved with a transparent background.
    """
    from PIL import ImageDraw, ImageFilter, ImageFont

    def icon(size: int, hue: int) -> Image.Image:
        big = Image.new("RGBA", (4 * size, 4 * size), (0, 0, 0, 0))
        d = ImageDraw.Draw(big)
        s = 4 * size
        for i in range(s // 2):  # a vertical gradient, clipped to a rounded square below
            c = (hue, 80 + 150 * i // s, 255 - hue // 2, 255)
            d.line([(s // 8, s // 8 + i * 3 // 2), (s * 7 // 8, s // 8 + i * 3 // 2)], fill=c)
        mask = Image.new("L", big.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle([s // 8, s // 8, s * 7 // 8, s * 7 // 8], radius=s // 6, fill=255)
        big.putalpha(mask)
        d = ImageDraw.Draw(big)
        d.ellipse([s * 3 // 8, s * 3 // 8, s * 5 // 8, s * 5 // 8], fill=(255, 255, 255, 230))
        d.polygon([(s // 2, s // 4), (s * 5 // 8, s // 2), (s * 3 // 8, s // 2)], fill=(250, 200, 40, 255))
        return big.resize((size, size), Image.Resampling.LANCZOS)

    out: dict[str, np.ndarray] = {"icon": np.asarray(icon(256, 40))}
    sheet = Image.new("RGBA", (512, 256), (0, 0, 0, 0))
    for i in range(32):
        sheet.alpha_composite(icon(64, (i * 53) % 256), ((i % 8) * 64, (i // 8) * 64))
    out["sprites"] = np.asarray(sheet)

    ui = Image.new("RGBA", (640, 400), (0, 0, 0, 0))
    font = ImageFont.load_default(size=15)
    for n, (x, y, w, h) in enumerate([(30, 30, 260, 150), (330, 40, 280, 320), (40, 220, 250, 140)]):
        shadow = Image.new("RGBA", ui.size, (0, 0, 0, 0))
        ImageDraw.Draw(shadow).rounded_rectangle([x + 6, y + 8, x + w + 6, y + h + 8], 14, fill=(0, 0, 0, 110))
        ui.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(7)))
        d = ImageDraw.Draw(ui)
        d.rounded_rectangle([x, y, x + w, y + h], 14, fill=(248, 249, 251, 255), outline=(200, 204, 210, 255))
        d.rectangle([x + 1, y + 14, x + w - 1, y + 36], fill=(60 + 40 * n, 110, 200 - 30 * n, 255))
        d.text((x + 12, y + 16), f"Panel {n + 1}: settings", fill=(255, 255, 255, 255), font=font)
        for line in range(3):
            d.text((x + 14, y + 50 + 22 * line), f"Option {line + 1} - value {17 * (line + n)}",
                   fill=(40, 44, 52, 255), font=font)
        d.rounded_rectangle([x + w - 90, y + h - 40, x + w - 14, y + h - 12], 8, fill=(30, 120, 220, 255))
        d.text((x + w - 78, y + h - 36), "Apply", fill=(255, 255, 255, 255), font=font)
    out["ui"] = np.asarray(ui)

    try:
        import sklearn.datasets

        for name, soft in (("china.jpg", "oval"), ("flower.jpg", "blobs")):
            photo = Image.fromarray(sklearn.datasets.load_sample_image(name))
            w, h = photo.size
            mask = Image.new("L", photo.size, 0)
            if soft == "oval":
                ImageDraw.Draw(mask).ellipse([w // 8, h // 10, w * 7 // 8, h * 9 // 10], fill=255)
                mask = mask.filter(ImageFilter.GaussianBlur(18))
            else:
                noise = np.random.default_rng(7).random((h // 80 + 2, w // 80 + 2))
                blobs = Image.fromarray((noise * 255).astype(np.uint8)).resize(photo.size, Image.Resampling.BICUBIC)
                mask = blobs.point(lambda v: 255 if v > 110 else 0).filter(ImageFilter.GaussianBlur(4))
            photo.putalpha(mask)
            out["cutout" if soft == "oval" else "cutout-flower"] = np.asarray(photo)
    except Exception as exc:
        print(f"note: scikit-learn photographs skipped ({exc})")
    chart = _line_chart(transparent=True)
    if chart is not None:
        out["chart"] = np.asarray(chart.convert("RGBA"))
    return out


def _line_chart(transparent: bool) -> Image.Image | None:
    """A matplotlib line chart with a legend and text (None without
    matplotlib); on a transparent background, with a shaded band, or on
    white with a grid."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        print(f"note: matplotlib chart skipped ({exc})")
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    x = np.linspace(0, 10, 200)
    for i in range(4):
        ax.plot(x, np.sin(x + i) * (i + 1), label=f"series {i}")
    if transparent:
        ax.fill_between(x, -1, 1, alpha=0.2)
    ax.legend()
    ax.set_title("a line chart, transparent background" if transparent else "a line chart")
    if not transparent:
        ax.grid(True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", transparent=transparent)
    plt.close(fig)
    return Image.open(buf)


def coder_images() -> dict[str, tuple[str, np.ndarray]]:
    """The lossless coders' benchmark set: name -> (kind, (H, W, 3) uint8).

    ``kind`` is ``"photo"`` or ``"graphic"``.  Photographs of different
    kinds, from the bundled samples, scikit-image's shipped data (no
    download), scikit-learn's two and matplotlib's grace_hopper: a portrait,
    an animal, food, a street scene, architecture, a macro flower, an old
    greyscale portrait, a greyscale camera shot, the Hubble deep field (dark,
    star points), a microscope slide, a retina scan, a photograph with
    seeded sensor noise (sigma 3), a 64 x 64 thumbnail, and three more
    greyscale ones, the kind where coder 2 is weakest (scikit-image's
    moon, brick wall and clock: smooth, a texture, an object).  Graphics drawn
    here reproducibly: a bar chart with anti-aliased text labels, an opaque
    UI screenshot, a street map with labels, a flow diagram, pixel art
    scaled 6x, scikit-image's logo on white, the bundled ``shapes.png``,
    a scanned page of text, and a line chart.
    """
    import warnings

    import skimage.data

    from kmcodec.images import to_rgb_array

    def rgb(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = {n: getattr(skimage.data, n)() for n in ("astronaut", "immunohistochemistry", "hubble_deep_field",
                                                      "retina", "camera", "page", "moon", "brick", "clock")}
    photos = {
        "astronaut": sk["astronaut"], "chelsea": to_rgb_array(ROOT / "samples" / "chelsea.png"),
        "coffee": to_rgb_array(ROOT / "samples" / "coffee.png"),
        "rocket": to_rgb_array(ROOT / "samples" / "rocket.jpg"),
        "hubble": sk["hubble_deep_field"][:600, :800], "ihc": sk["immunohistochemistry"],
        "retina": np.asarray(Image.fromarray(sk["retina"]).resize((800, 800), Image.Resampling.LANCZOS)),
        "camera": rgb(sk["camera"]),
    }
    photos.update(extra_photos())
    noise = np.random.default_rng(3).normal(0, 3, photos["chelsea"].shape)
    photos["grain"] = np.clip(photos["chelsea"] + noise, 0, 255).round().astype(np.uint8)
    photos["thumb"] = np.asarray(Image.fromarray(sk["astronaut"]).resize((64, 64), Image.Resampling.LANCZOS))
    photos.update({name: rgb(sk[name]) for name in ("moon", "brick", "clock")})
    out = {k: ("photo", rgb(v)) for k, v in photos.items()}
    graphics = {"bars": _bar_chart(), "ui": _ui_screenshot(), "map": _street_map(), "diagram": _flow_diagram(),
                "pixelart": _pixel_art(), "shapes": to_rgb_array(ROOT / "samples" / "shapes.png"),
                "page": rgb(sk["page"])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logo = Image.fromarray(skimage.data.logo())
    graphics["logo"] = _on_white(logo)
    chart = _line_chart(transparent=False)
    if chart is not None:
        graphics["chart"] = np.asarray(chart.convert("RGB"))
    out.update({k: ("graphic", v) for k, v in graphics.items() if v is not None})
    return out


def _on_white(im: Image.Image) -> np.ndarray:
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, im.convert("RGBA")).convert("RGB"))


def _bar_chart() -> np.ndarray | None:
    """Bars with value labels, category names and a title (matplotlib, anti-aliased text)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        print(f"note: matplotlib bar chart skipped ({exc})")
        return None
    rng = np.random.default_rng(11)
    names = [f"region {c}" for c in "ABCDEFGHIJ"]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for i in range(3):
        v = rng.integers(20, 100, len(names))
        bars = ax.bar(np.arange(len(names)) + 0.27 * (i - 1), v, 0.27, label=f"{2021 + i}")
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(np.arange(len(names)), names, rotation=30)
    ax.set_ylabel("sales (thousands)")
    ax.set_title("Quarterly sales by region")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return np.asarray(Image.open(buf).convert("RGB"))


def _ui_screenshot() -> np.ndarray:
    """A settings window: title bar, sidebar list, panels with drop shadows, text and buttons."""
    from PIL import ImageDraw, ImageFont

    window = Image.new("RGBA", (800, 520), (236, 238, 241, 255))
    d = ImageDraw.Draw(window)
    font = ImageFont.load_default(size=14)
    d.rectangle([0, 0, 799, 30], fill=(50, 54, 62, 255))
    d.text((12, 7), "kmcodec settings - Preferences", fill=(230, 230, 230, 255), font=font)
    for i, c in enumerate([(255, 95, 86), (255, 189, 46), (39, 201, 63)]):
        d.ellipse([740 + 18 * i, 9, 752 + 18 * i, 21], fill=(*c, 255))
    d.rectangle([0, 31, 150, 519], fill=(246, 247, 249, 255))
    for i, label in enumerate(["General", "Appearance", "Files", "Network", "Updates", "Advanced", "About"]):
        if i == 1:
            d.rectangle([6, 44 + 28 * i, 144, 68 + 28 * i], fill=(210, 226, 250, 255))
        d.text((16, 48 + 28 * i), label, fill=(40, 44, 52, 255), font=font)
    ui = rgba_images()["ui"]
    window.alpha_composite(Image.fromarray(ui).crop((0, 0, 640, 400)), (155, 80))
    return np.asarray(window.convert("RGB"))


def _street_map() -> np.ndarray:
    """A street map drawn at 3x and reduced: land, a river, parks, a road grid, labels."""
    from PIL import ImageDraw, ImageFont

    s = 3
    big = Image.new("RGB", (640 * s, 480 * s), (242, 239, 233))
    d = ImageDraw.Draw(big)
    river = [(0, 300), (120, 280), (260, 330), (400, 300), (520, 350), (640, 330)]
    d.line([(x * s, y * s) for x, y in river], fill=(170, 211, 223), width=34 * s, joint="curve")
    for x0, y0, x1, y1 in [(60, 60, 180, 150), (420, 80, 560, 190), (300, 390, 420, 460)]:
        d.rounded_rectangle([x0 * s, y0 * s, x1 * s, y1 * s], 12 * s, fill=(200, 230, 190))
    for x in range(40, 640, 90):
        d.line([(x * s, 0), ((x + 25) * s, 480 * s)], fill=(255, 255, 255), width=7 * s)
    for y in range(30, 480, 70):
        d.line([(0, y * s), (640 * s, (y + 12) * s)], fill=(255, 255, 255), width=7 * s)
    d.line([(0, 200 * s), (640 * s, 120 * s)], fill=(247, 200, 120), width=12 * s)
    im = big.resize((640, 480), Image.Resampling.LANCZOS)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=12)
    for i, (x, y) in enumerate([(70, 95), (430, 120), (310, 410), (200, 40), (500, 250), (90, 380)]):
        d.text((x, y), ["Central Park", "Riverside", "Old Town", "Main Street", "Harbour Rd", "Mill Lane"][i],
               fill=(60, 60, 70), font=font)
    return np.asarray(im)


def _flow_diagram() -> np.ndarray:
    """Boxes with labels joined by arrows, anti-aliased (PIL, drawn at 2x and reduced)."""
    from PIL import ImageDraw, ImageFont

    s = 2
    big = Image.new("RGB", (720 * s, 420 * s), (255, 255, 255))
    d = ImageDraw.Draw(big)
    font = ImageFont.load_default(size=15 * s)
    boxes = {"read image": (30, 40), "histogram": (270, 40), "k-means++": (510, 40),
             "Lloyd": (510, 190), "remap": (270, 190), "entropy coder": (30, 190), "write .kmc": (270, 330)}
    for i, (label, (x, y)) in enumerate(boxes.items()):
        fill = [(219, 234, 254), (254, 243, 199), (220, 252, 231)][i % 3]
        d.rounded_rectangle([x * s, y * s, (x + 180) * s, (y + 60) * s], 10 * s, fill=fill,
                            outline=(55, 65, 81), width=2 * s)
        d.text(((x + 20) * s, (y + 20) * s), label, fill=(17, 24, 39), font=font)
    for (ax, ay), (bx, by) in [((210, 70), (270, 70)), ((450, 70), (510, 70)), ((600, 100), (600, 190)),
                               ((510, 220), (450, 220)), ((270, 220), (210, 220)), ((120, 250), (270, 355))]:
        d.line([(ax * s, ay * s), (bx * s, by * s)], fill=(55, 65, 81), width=2 * s)
        d.ellipse([(bx - 4) * s, (by - 4) * s, (bx + 4) * s, (by + 4) * s], fill=(55, 65, 81))
    return np.asarray(big.resize((720, 420), Image.Resampling.LANCZOS))


def _pixel_art() -> np.ndarray:
    """A 64 x 48 scene of 14 colours (seeded), scaled 6x with nearest neighbour."""
    rng = np.random.default_rng(5)
    pal = rng.integers(0, 256, (14, 3), dtype=np.uint8)
    art = np.zeros((48, 64), np.uint8)
    art[:30] = 1
    art[30:] = 2
    for _ in range(12):  # blocks: houses, trees
        x, y, w, h = rng.integers(0, 60), rng.integers(10, 44), rng.integers(3, 10), rng.integers(3, 8)
        art[y : y + h, x : x + w] = rng.integers(3, 14)
    sprite = rng.integers(3, 14, (8, 8)) * (rng.random((8, 8)) < 0.6)
    for x in range(4, 60, 14):  # one sprite repeated, as tiles are
        art[36:44, x : x + 8] = np.where(sprite > 0, sprite, art[36:44, x : x + 8])
    return np.ascontiguousarray(np.repeat(np.repeat(pal[art], 6, 0), 6, 1))
