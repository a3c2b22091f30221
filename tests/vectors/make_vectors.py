"""Generate the frozen .kmc test vectors in this directory (run once, by hand).

    python tests/vectors/make_vectors.py

The committed files are the reference: ``tests/test_vectors.py`` never calls
this script.  It exists to record how the vectors were made.  Running it
again must reproduce the committed bytes exactly (the test checks their
sha256); if it does not, the format or the encoder has drifted, and that is
a bug to explain, not a reason to commit new vectors.

Every vector is built directly from a palette and an index array with
``kmcodec.container.build`` (no k-means).  Each palette is sorted ascending
by the 24-bit value ``R<<16 | G<<8 | B``, has no duplicates, and every entry
is used by at least one pixel: that is the canonical form kmcodec's encoder
writes, so the palette and indices can be recovered from the PNG alone.

For each ``NAME`` it writes ``NAME.kmc`` and ``NAME.png`` (the expected
decoded pixels, lossless 8-bit RGB), then rewrites ``README.md``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _sorted_palette(keys: np.ndarray) -> np.ndarray:
    """Distinct 24-bit keys -> (K, 3) uint8 palette sorted by key."""
    keys = np.sort(np.asarray(keys, dtype=np.uint32))
    assert np.all(np.diff(keys) > 0), "palette keys must be distinct"
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(
        np.uint8
    )


def _random_palette(rng: np.random.Generator, k: int) -> np.ndarray:
    return _sorted_palette(rng.choice(1 << 24, size=k, replace=False))


def _indices_using_all(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """n indices below k, every value from 0 to k-1 present, in random order."""
    assert n >= k
    idx = np.concatenate([np.arange(k), rng.integers(0, k, size=n - k)])
    rng.shuffle(idx)
    return idx.astype(np.uint8 if k <= 256 else np.uint16)


def worked_example():
    """The 3x2, K=3 example of spec/kmc-format.md, section "Worked example"."""
    palette = _sorted_palette([0x102040, 0xFF8000, 0xFFFFFF])  # navy, orange, white
    indices = np.array([2, 1, 0, 1, 0, 2], dtype=np.uint8)
    return 3, 2, palette, indices


def random_vector(seed: int, width: int, height: int, k: int):
    rng = np.random.default_rng(seed)
    palette = _random_palette(rng, k)
    indices = _indices_using_all(rng, k, width * height)
    return width, height, palette, indices


def single_color():
    """K = 1: b = 0, the payload is empty."""
    width, height = 5, 3
    palette = _sorted_palette([0x3C6E91])
    return width, height, palette, np.zeros(width * height, dtype=np.uint8)


def all_65536():
    """256x256 pixels, 65536 distinct colours, b = 16.

    Pixel (row y, column x) is R = (x + y) mod 256, G = y, B = x XOR y.  The
    (R, G) pairs are all distinct, so there are 65536 colours, and the index
    of a pixel is its rank R*256 + G: the high byte of the 16-bit index is
    R and the low byte G, so a byte-order mistake is caught.  The structure
    keeps the PNG small (the .kmc file itself is 327,712 bytes whatever the
    colours).
    """
    y, x = np.mgrid[0:256, 0:256].astype(np.uint32)
    keys = (((x + y) & 255) << 16) | (y << 8) | (x ^ y)
    palette = _sorted_palette(keys.reshape(-1))
    indices = np.searchsorted(np.sort(keys.reshape(-1)), keys.reshape(-1)).astype(np.uint16)
    return 256, 256, palette, indices


# name -> (builder, description); order is the order of the README table.
VECTORS = {
    "example-3x2-k3": (worked_example, "the worked example of the spec"),
    "k1-5x3": (single_color, "one colour: b=0, no payload bytes"),
    "k2-7x5": (lambda: random_vector(2, 7, 5, 2), "pixel count not a multiple of 8"),
    "k5-11x7": (lambda: random_vector(5, 11, 7, 5), "codes 5 to 7 unused"),
    "k17-13x9": (lambda: random_vector(17, 13, 9, 17), "odd b below 8"),
    "k256-32x24": (lambda: random_vector(256, 32, 24, 256), "one byte per index"),
    "k300-37x23": (
        lambda: random_vector(300, 37, 23, 300),
        "odd b above 8, odd width",
    ),
    "k3000-61x53": (lambda: random_vector(3000, 61, 53, 3000), "two indices per 3 bytes"),
    "k65536-256x256": (all_65536, "K = 65536: every index value used exactly once"),
}


def main() -> int:
    from PIL import Image

    from kmcodec import container

    rows = []
    for name, (builder, description) in VECTORS.items():
        width, height, palette, indices = builder()
        k = len(palette)
        assert indices.shape == (width * height,)
        assert np.array_equal(np.unique(indices), np.arange(k)), "every entry used"
        data = container.build(width, height, palette, indices)
        assert len(data) == container.file_size(width, height, k)
        (HERE / f"{name}.kmc").write_bytes(data)
        pixels = palette[indices].reshape(height, width, 3)
        Image.fromarray(pixels, "RGB").save(HERE / f"{name}.png", optimize=True)
        bits = container.bits_for_colors(k)
        sha = hashlib.sha256(data).hexdigest()
        pad = -(width * height * bits) % 8
        rows.append((name, width, height, k, bits, pad, len(data), sha, description))
        print(f"{name:16} {len(data):7} {sha}")

    lines = [
        "# Frozen .kmc test vectors",
        "",
        "Reference files for the .kmc version 1 format (`spec/kmc-format.md`).",
        "Each `NAME.kmc` decodes to exactly the pixels of `NAME.png` (8-bit RGB,",
        "lossless).  Every palette is in canonical form: sorted ascending by",
        "`R<<16 | G<<8 | B`, no duplicates, every entry used; so the palette is",
        "the sorted set of distinct colours of the PNG, and re-encoding the PNG",
        "with `kmcodec.container.build` gives the same bytes.",
        "",
        "These files are the reference: `tests/test_vectors.py` checks them on",
        "every run (decoded pixels, sha256, re-encoding, and the spec's hex dump)",
        "and never regenerates them.  `make_vectors.py` records how they were",
        "made (fixed seeds, `container.build`, no k-means); do not rerun it to",
        "\"fix\" a failing test.",
        "",
        "| file | width | height | K | b | padding bits | size (bytes) | sha256 of the .kmc | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, width, height, k, bits, pad, size, sha, description in rows:
        lines.append(
            f"| `{name}.kmc` | {width} | {height} | {k} | {bits} | {pad} | {size} | `{sha}` "
            f"| {description} |"
        )
    lines += [
        "",
        "Size = 32 + 3K + ceil(width*height*b/8) bytes in every case.",
        "",
    ]
    (HERE / "README.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
