"""Generate the frozen version-3 vectors, whose palettes are coded (run once, by hand).

    python tests/vectors/make_coded_vectors.py

It records how the committed files were made and refuses to change one
that exists; ``tests/test_palette_code.py`` checks their sha256 (listed in
``coded-README.md``) and decodes them with kmcodec and with the spec-only
decoder.  Each ``NAME.kmc`` has a ``NAME.png`` beside it with the expected
pixels (RGB, or RGBA with alpha); every palette is canonical and used.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from make_alpha_vectors import random_palette, sprite, using_all  # noqa: E402
from make_entropy_vectors import canonical, photo  # noqa: E402

from kmcodec import container  # noqa: E402


def own_colours(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image's own colours as a canonical palette, and its indices."""
    height, width = rgb.shape[:2]
    uniq, idx = np.unique(rgb.reshape(-1, rgb.shape[2]), axis=0, return_inverse=True)
    dtype = np.uint8 if len(uniq) <= 256 else np.uint16
    return canonical(uniq.astype(np.uint8), idx.reshape(height, width).astype(dtype))


def diagram() -> tuple[np.ndarray, np.ndarray]:
    """72 x 48: boxes, a circle and lines drawn at 4x and reduced, so that
    their edges are anti-aliased blends of a few colours: hundreds of
    colours that lie on a few lines in RGB, as in charts and screenshots."""
    im = Image.new("RGB", (288, 192), (250, 250, 245))
    d = ImageDraw.Draw(im)
    d.rectangle((16, 16, 120, 80), fill=(66, 133, 244), outline=(20, 40, 90), width=6)
    d.rectangle((168, 100, 272, 170), fill=(52, 168, 83), outline=(20, 60, 30), width=6)
    d.ellipse((150, 10, 260, 80), fill=(251, 188, 5), outline=(120, 80, 0), width=5)
    d.line((68, 80, 220, 100), fill=(234, 67, 53), width=7)
    d.line((20, 180, 280, 120), fill=(60, 60, 60), width=3)
    rgb = np.asarray(im.resize((72, 48), Image.Resampling.BOX))
    return own_colours(rgb)


def gradient() -> tuple[np.ndarray, np.ndarray]:
    """64 x 64 with 4,096 colours, each pixel its own: a smooth ramp."""
    y, x = np.mgrid[0:64, 0:64]
    rgb = np.stack([x * 4, y * 4, (x + y) * 2], -1).astype(np.uint8)
    return own_colours(rgb)


def vectors():
    rng = np.random.default_rng(3)
    yield ("coded-k2-4x1", np.array([[0, 0, 0], [255, 255, 255]], np.uint8),
           np.array([[0, 1, 1, 0]], np.uint8), "entropy", "the worked example of section 14.3")
    yield ("coded-k1-5x3", np.array([[12, 200, 7]], np.uint8), np.zeros((3, 5), np.uint8), "mix",
           "K = 1: one key, one side all the way down")
    pal = np.array([[0, 0, 0], [0, 0, 1], [7, 9, 200], [128, 0, 0], [255, 255, 255]], np.uint8)
    idx = rng.integers(0, 5, (7, 11)).astype(np.uint8)
    idx.reshape(-1)[:5] = np.arange(5)
    yield "coded-packed-k5-11x7", pal, idx, "packed", "coder 0 in version 3: keys 0 and 1 split at the last bit"
    yield ("coded-k256-astronaut-64x64", *photo("astronaut.png", 256, (200, 100, 264, 164)), "mix",
           "a photograph's k-means palette at K = 256")
    yield "coded-diagram-72x48", *diagram(), "mix", "anti-aliased shapes: colours on a few lines"
    yield "coded-gradient-k4096-64x64", *gradient(), "entropy", "K = 4096, every pixel its own colour"
    pal, idx, _ = sprite()
    yield "coded-alpha-sprite-48x40", pal, idx, "entropy", "flags 0x01: alpha, 32-bit keys"
    yield ("coded-alpha-k300-40x30", random_palette(rng, 300), using_all(rng, 300, 30, 40), "mix",
           "flags 0x01, random RGBA at K = 300")


def main() -> int:
    rows = []
    for name, palette, indices, coder, note in vectors():
        height, width = indices.shape
        data = container.build(width, height, palette, indices.reshape(-1), coder, coded_palette=True)
        path = HERE / f"{name}.kmc"
        if path.exists():
            # Frozen: a vector is written once.
            assert path.read_bytes() == data, f"{name} would change"
        else:
            path.write_bytes(data)
            mode = "RGBA" if palette.shape[1] == 4 else "RGB"
            Image.fromarray(palette[indices], mode).save(HERE / f"{name}.png", optimize=True)
        meta = container.info(data)
        sha = hashlib.sha256(data).hexdigest()
        rows.append(f"| `{name}.kmc` | {width} | {height} | {len(palette)} | {coder} | {meta.palette_bytes} "
                    f"| {len(data)} | `{sha}` | {note} |")
        print(f"{name:30} {meta.palette_bytes:6} {len(data):7} {sha}")
    (HERE / "coded-README.md").write_text("\n".join([
        "# Frozen version-3 vectors: coded palettes (spec section 14)",
        "",
        "Made by `make_coded_vectors.py` (fixed seeds; one k-means photograph); checked on",
        "every run by `tests/test_palette_code.py`. Each `NAME.kmc` decodes to the pixels of",
        "`NAME.png`; `palette_bytes` is the coded palette's length.",
        "",
        "| file | width | height | K | coder | palette_bytes | bytes | sha256 | covers |",
        "|---|---:|---:|---:|---|---:|---:|---|---|",
        *rows,
        "",
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
