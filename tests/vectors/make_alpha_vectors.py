"""Generate the frozen alpha (format version 2) vectors (run once, by hand).

    python tests/vectors/make_alpha_vectors.py

Like ``make_vectors.py``, this only records how the committed files were
made; ``tests/test_alpha_vectors.py`` checks their sha256, decodes them
with kmcodec and with the spec-only decoder, and re-encodes them.  Each
``alpha-NAME.kmc`` has an ``alpha-NAME.png`` beside it (8-bit RGBA) with
the expected pixels.  Every palette is canonical (spec section 12.2): the
only entry with A = 0 is (0, 0, 0, 0), entries are sorted by
``A<<24 | R<<16 | G<<8 | B``, each is used; so the PNG alone gives the
palette and the indices, and re-encoding them gives the same bytes.  The
exception is ``alpha-entropy-k32769-g1-48x32``: sorted and unique, but
with more entries than pixels, most unused.  No k-means: palettes and
indices come from fixed seeds and formulas.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from kmcodec import container  # noqa: E402


def palette_of(keys) -> np.ndarray:
    """Distinct 32-bit keys A<<24 | R<<16 | G<<8 | B -> canonical (K, 4) palette."""
    keys = np.sort(np.asarray(keys, dtype=np.uint32))
    assert np.all(np.diff(keys) > 0), "entries must be distinct"
    pal = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255, keys >> 24], 1).astype(np.uint8)
    assert all(tuple(e) == (0, 0, 0, 0) for e in pal if e[3] == 0), "A = 0 only as (0, 0, 0, 0)"
    return pal


def random_palette(rng, k: int, transparent: bool = True) -> np.ndarray:
    """k entries: (0, 0, 0, 0) if ``transparent``, one opaque colour also
    half transparent (two entries that differ only in alpha), the rest random
    with alpha 1 to 255, a third of them opaque."""
    assert k >= 3
    keys = {0} if transparent else set()
    keys |= {0xFF_C81E32, 0x80_C81E32}
    while len(keys) < k:
        alpha = 255 if rng.random() < 1 / 3 else int(rng.integers(1, 256))
        keys.add(alpha << 24 | int(rng.integers(0, 1 << 24)))
    return palette_of(sorted(keys))


def using_all(rng, k: int, height: int, width: int) -> np.ndarray:
    """Random indices below k, each value present."""
    idx = rng.integers(0, k, (height, width))
    idx.reshape(-1)[:k] = rng.permutation(k)
    return idx.astype(np.uint8 if k <= 256 else np.uint16)


def worked_example():
    """Spec section 12.4: transparent, opaque red / half-transparent red, transparent."""
    pal = palette_of([0x00_000000, 0x80_FF0000, 0xFF_FF0000])
    return pal, np.array([[0, 2], [1, 0]], np.uint8), "packed"


def sprite():
    """A 48 x 40 icon: a disc with a 2-pixel anti-aliased rim and a soft
    shadow on a transparent background, 13 entries."""
    y, x = np.mgrid[0:40, 0:48].astype(np.float64)
    r = np.hypot(x - 22, y - 18)
    shadow = np.hypot(x - 26, y - 23)
    keys = np.zeros((40, 48), np.uint32)
    shade = np.clip((17 - shadow) / 4, 0, 1)  # 5 shadow levels
    level = np.rint(shade * 4).astype(np.uint32)
    keys = np.where(level > 0, (level * 24) << 24 | 0x202020, keys)
    rim = np.clip((15 - r) / 2, 0, 1)  # the disc's edge: 5 alpha levels
    lit = np.rint(rim * 4).astype(np.uint32)
    body = np.where(x + y < 40, 0x3C8CDC, 0x2864B4)  # two blues
    keys = np.where(lit > 0, np.where(lit == 4, 0xFF << 24, (lit * 60) << 24) | body, keys)
    uniq, idx = np.unique(keys, return_inverse=True)
    return palette_of(uniq), idx.reshape(40, 48).astype(np.uint8), "entropy"


def vectors():
    rng = np.random.default_rng(15)
    yield "alpha-example-2x2-k3", *worked_example(), "the worked example of spec section 12.4"
    yield ("alpha-k1-6x4", palette_of([0]), np.zeros((4, 6), np.uint8), "packed",
           "fully transparent: one entry (0, 0, 0, 0), b = 0")
    pal = random_palette(rng, 5)
    yield "alpha-k5-11x7", pal, using_all(rng, 5, 7, 11), "packed", "b = 3; entries differing only in alpha"
    pal = random_palette(rng, 300)
    yield "alpha-k300-37x23", pal, using_all(rng, 300, 23, 37), "packed", "b = 9, odd width"
    yield "alpha-entropy-sprite-k13-48x40", *sprite(), "coder 1: anti-aliased edge and shadow"
    # Coder 1's grid over four channels at its boundaries (spec 12.3):
    # g = 5 up to K = 8, 4 to 128, 3 to 2048, 2 from 2049; random indices,
    # so that most are literals and the cell orders are used.
    for k, width, height, g in ((8, 20, 16, 5), (9, 20, 16, 4), (128, 40, 30, 4), (129, 40, 30, 3),
                                (2049, 64, 48, 2)):
        pal = random_palette(rng, k)
        yield (f"alpha-entropy-k{k}-g{g}-{width}x{height}", pal, using_all(rng, k, height, width), "entropy",
               f"coder 1, grid g = {g}")
    # g = 1 from K = 32769, with a palette larger than the image: most
    # entries unused, which decoders must allow (spec section 4).
    big = np.random.default_rng(32769)
    yield ("alpha-entropy-k32769-g1-48x32", random_palette(big, 32769),
           big.integers(0, 32769, (32, 48)).astype(np.uint16), "entropy", "coder 1, grid g = 1; most entries unused")


def main() -> int:
    rows = []
    for name, pal, idx, coder, note in vectors():
        height, width = idx.shape
        data = container.build(width, height, pal, idx.reshape(-1), coder)
        (HERE / f"{name}.kmc").write_bytes(data)
        Image.fromarray(pal[idx], "RGBA").save(HERE / f"{name}.png", optimize=True)
        sha = hashlib.sha256(data).hexdigest()
        rows.append(f"| `{name}.kmc` | {coder} | {width} | {height} | {len(pal)} | {len(data)} | `{sha}` | {note} |")
        print(f"{name:34} {len(data):7} {sha}")
    (HERE / "alpha-README.md").write_text("\n".join([
        "# Frozen alpha vectors (format version 2)",
        "",
        "Made by `make_alpha_vectors.py` (fixed seeds, no k-means); checked on every run by",
        "`tests/test_alpha_vectors.py`. Each `NAME.kmc` decodes to the RGBA pixels of `NAME.png`.",
        "",
        "| file | coder | width | height | K | bytes | sha256 | covers |",
        "|---|---|---:|---:|---:|---:|---|---|",
        *rows,
        "",
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
