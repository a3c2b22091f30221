"""What people see: kmcodec's spaces and dithering against pngquant's default.

    python bench/perceptual.py [-k LIST] [--variants LIST] [--markdown F]

On seven photographs that are not bundled samples (scikit-learn's china
and flower, matplotlib's grace_hopper, and scikit-image's shipped
immunohistochemistry slide, Hubble deep field, retina scan (reduced to
800 x 800) and greyscale camera shot), and beside them, counted apart, the
bundled photographs, a noisy variant and a 64 x 64 thumbnail
(:data:`BUNDLED`), and images added after ``--perceptual`` was chosen
(:data:`LATER`: tiny, greyscale, texture, smooth), and seven photographs
made small (:data:`SMALL`: 64 x 64, 128 x 96 and 256 x 192, added with the
chroma weight; and, counted apart as "steps", :data:`STEP_SIZES` from
150 x 112 to 600 x 220, around the sizes where SSIMULACRA2 gains a scale),
at K = 16 and 64:
pngquant's default (dithered; then
``optipng -o2``, as people ship it) beside kmcodec's variants, each stored
with ``--coder entropy``: the palette searched in RGB or Oklab, with or
without dithering, rate-aware choice and smooth-area weighting,
``--perceptual`` and the settings it had before.
For each: bytes, SSIMULACRA2 (higher is better, about 90 is visually
lossless), butteraugli (Debian's ``butteraugli_main``, lower is better) and
PSNR, all measured here on the decoded pixels.  Issue 16's target is a
kmcodec setting at or above pngquant's SSIMULACRA2 on every image with at
most 0.8 times its bytes; the summary says where each variant stands.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import extra_photos, format_table, machine, version

import kmcodec
from kmcodec.metrics import psnr, ssimulacra2

VARIANTS = {
    "kmc rgb": {},
    "kmc oklab": {"space": "oklab"},
    "kmc oklab fs": {"space": "oklab", "dither": "fs"},
    "kmc oklab selective": {"space": "oklab", "dither": "selective"},
    "kmc oklab selective rate 0.5 weight 1": {"space": "oklab", "dither": "selective", "dither_rate": 0.5,
                                             "smooth_weight": 1.0},
    "kmc perceptual": {"perceptual": True},
    "kmc perceptual chroma 1": {"space": "oklab", "dither": "fs", "dither_level": 0.75, "dither_rate": 1.0,
                                "dither_map": "auto", "smooth_weight": 1.0},
    "kmc perceptual no map": {"space": "oklab", "dither": "fs", "dither_level": 0.75, "dither_rate": 1.0,
                              "smooth_weight": 1.0, "chroma_weight": "auto"},
}
#: Photographs checked beside the target's: the bundled samples, a noisy
#: variant and a 64 x 64 thumbnail (where dithering shows most).
BUNDLED = ("astronaut", "chelsea", "coffee", "rocket", "grain", "thumb")
#: Images added after ``--perceptual`` was chosen on the two sets above, to
#: see whether it carries (:func:`later_images`).
LATER = ("motorcycle", "moon", "gravel", "coffee96", "chelsea48", "china2x", "sky")
#: Photographs made small (Lanczos), where a lost hue shows most: :func:`small_images`.
SMALL = ("astronaut", "rocket", "china", "flower", "grace_hopper", "ihc", "motorcycle")
SMALL_SIZES = ((64, 64), (128, 96), (256, 192))
#: The same photographs at sizes either side of the steps where SSIMULACRA2
#: gains a scale (a smaller side of 113 and of 225 pixels), and in other
#: shapes: :func:`small_images` names them too, counted apart as "steps".
STEP_SIZES = ((150, 112), (150, 113), (192, 144), (288, 216), (230, 230), (320, 240), (352, 264), (400, 200),
              (600, 220))


def photographs() -> dict[str, np.ndarray]:
    import skimage.data

    out = extra_photos()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["ihc"] = skimage.data.immunohistochemistry()
        out["hubble"] = skimage.data.hubble_deep_field()[:600, :800]
        retina = Image.fromarray(skimage.data.retina()).resize((800, 800), Image.Resampling.LANCZOS)
        out["retina"] = np.asarray(retina)
        out["camera"] = np.stack([skimage.data.camera()] * 3, -1)
    from common import coder_images

    for name, (_, image) in coder_images().items():
        if name in BUNDLED:
            out[name] = image
    out.update(later_images())
    out.update(small_images(out))
    return {name: np.ascontiguousarray(a[..., :3]) for name, a in out.items()}


def small_images(photos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:data:`SMALL` at each of :data:`SMALL_SIZES` and :data:`STEP_SIZES`
    (Lanczos, the aspect ratio not kept), named ``NAME-WxH``."""
    out = {}
    for name in SMALL:
        if name in photos:
            big = Image.fromarray(np.ascontiguousarray(photos[name][..., :3]))
            for w, h in SMALL_SIZES + STEP_SIZES:
                out[f"{name}-{w}x{h}"] = np.asarray(big.resize((w, h), Image.Resampling.LANCZOS))
    return out


def later_images() -> dict[str, np.ndarray]:
    """:data:`LATER`: kinds the first two sets lack, made reproducibly.

    Two tiny images (coffee at 96 x 64, chelsea at 48 x 32), scikit-image's
    gravel (greyscale texture) and moon (greyscale, smooth, few grey
    levels), its motorcycle stereo view (a colour street scene), china
    enlarged twice (smooth, high resolution) and a sky gradient with slight
    seeded noise.
    """
    import skimage.data

    grey = lambda a: np.stack([a] * 3, -1)  # noqa: E731
    lanczos = Image.Resampling.LANCZOS
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["motorcycle"] = skimage.data.stereo_motorcycle()[0]
        out["moon"] = grey(skimage.data.moon())
        out["gravel"] = grey(skimage.data.gravel())[:512, :512]
        out["coffee96"] = np.asarray(Image.fromarray(skimage.data.coffee()).resize((96, 64), lanczos))
        out["chelsea48"] = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((48, 32), lanczos))
    china = extra_photos().get("china")
    if china is not None:
        out["china2x"] = np.asarray(Image.fromarray(china).resize((china.shape[1] * 2, china.shape[0] * 2), lanczos))
    y, x = np.mgrid[0:480, 0:640]
    sky = np.stack([40 + 80 * y / 480 + 30 * x / 640, 90 + 100 * y / 480, 200 - 60 * y / 480 + 20 * x / 640], -1)
    noisy = sky + np.random.default_rng(7).normal(0, 1.2, sky.shape)
    out["sky"] = np.clip(noisy, 0, 255).round().astype(np.uint8)
    return out


def butteraugli(ref: Path, dist: Path) -> float | None:
    try:
        proc = subprocess.run(["butteraugli_main", str(ref), str(dist)], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    try:
        return float(proc.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def pngquant(src: Path, k: int, out: Path) -> tuple[int, np.ndarray]:
    subprocess.run(["pngquant", str(k), "--force", "--output", str(out), str(src)], check=True)
    subprocess.run(["optipng", "-quiet", "-o2", str(out)], check=True)
    with Image.open(out) as im:
        return out.stat().st_size, np.asarray(im.convert("RGB"))


def measure(image: np.ndarray, decoded: np.ndarray, ref: Path, tmp: Path) -> dict:
    path = tmp / "d.png"
    Image.fromarray(decoded).save(path)
    return {"ssimulacra2": ssimulacra2(image, decoded), "butteraugli": butteraugli(ref, path),
            "psnr": psnr(image, decoded)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="16,64", help="palette sizes (default 16,64)")
    ap.add_argument("--variants", metavar="LIST",
                    help=f"comma-separated variants to run (default all: {', '.join(VARIANTS)})")
    ap.add_argument("--markdown", metavar="F", help="write the table to F")
    args = ap.parse_args(argv)
    ks = [int(v) for v in args.k.split(",")]
    variants = {name: VARIANTS[name] for name in (args.variants.split(",") if args.variants else VARIANTS)}
    head = [f"machine: {machine()}",
            (f"kmcodec {kmcodec.__version__}; {version(['pngquant', '--version'])} (pngquant, default settings)"
             f" then {version(['optipng', '-v'])} -o2; butteraugli_main (libjxl-devtools)")]
    print("\n".join(head), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, image in photographs().items():
            ref = tmp / "ref.png"
            Image.fromarray(image).save(ref)
            for k in ks:
                size, decoded = pngquant(ref, k, tmp / "pq.png")
                base = {"image": name, "K": k}
                rows.append({**base, "method": "pngquant", "bytes": size, **measure(image, decoded, ref, tmp)})
                print(rows[-1], flush=True)
                for label, settings in variants.items():
                    data = kmcodec.encode(image, k, coder="entropy", **settings)
                    rows.append({**base, "method": label, "bytes": len(data),
                                 "bytes/pq": len(data) / size,
                                 **measure(image, kmcodec.decode(data), ref, tmp)})
                    print(rows[-1], flush=True)
    header = ["image", "K", "method", "bytes", "bytes/pq", "SSIMULACRA2", "butteraugli", "PSNR"]

    def cell(r, key, fmt):
        v = r.get(key)
        return "-" if v is None else format(v, fmt)

    table = [[r["image"], str(r["K"]), r["method"], f"{r['bytes']:,}", cell(r, "bytes/pq", ".3f"),
              cell(r, "ssimulacra2", ".2f"), cell(r, "butteraugli", ".2f"), cell(r, "psnr", ".2f")] for r in rows]
    summary = []
    pq = {(r["image"], r["K"]): r for r in rows if r["method"] == "pngquant"}
    for label in variants:
        for group in ("unbundled", "bundled", "later", "small", "steps"):
            mine = [r for r in rows if r["method"] == label and _group(r["image"]) == group]
            if not mine:
                continue
            seen = sum(r["ssimulacra2"] >= pq[r["image"], r["K"]]["ssimulacra2"] for r in mine)
            small = sum(r["bytes/pq"] <= 0.8 for r in mine)
            both = sum(r["ssimulacra2"] >= pq[r["image"], r["K"]]["ssimulacra2"] and r["bytes/pq"] <= 0.8
                       for r in mine)
            gap = np.median([r["ssimulacra2"] - pq[r["image"], r["K"]]["ssimulacra2"] for r in mine])
            summary.append(f"{label}, {group} images: SSIMULACRA2 >= pngquant on {seen} of {len(mine)},"
                           f" bytes <= 0.8x on {small}, both on {both} (target: all);"
                           f" median SSIMULACRA2 difference {gap:+.2f}")
    print("\n" + format_table(header, table, left=3) + "\n\n" + "\n".join(summary))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(head) + "\n\n" + format_table(header, table, markdown=True)
                                       + "\n\n" + "\n".join(summary) + "\n")


def _group(name: str) -> str:
    if name.split("-")[0] in SMALL and "-" in name:
        w, h = (int(v) for v in name.split("-")[1].split("x"))
        return "small" if (w, h) in SMALL_SIZES else "steps"
    return "bundled" if name in BUNDLED else "later" if name in LATER else "unbundled"


if __name__ == "__main__":
    main()
