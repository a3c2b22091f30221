"""Generate the frozen coder-2 ("mix") vectors (run once, by hand).

    python tests/vectors/make_mix_vectors.py

It records how the committed files were made and refuses to change one
that exists; ``tests/test_mix.py`` checks their sha256 (listed in
``mix-README.md``) and decodes them with kmcodec and with the spec-only
decoder.  Each ``NAME.kmc`` has a ``NAME.png`` beside it with the expected
pixels (RGB, or RGBA for the version-2 files); every palette is canonical,
except that the two largest have entries no pixel takes.
"""

from __future__ import annotations

import hashlib
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from make_alpha_vectors import random_palette, sprite, using_all  # noqa: E402
from make_entropy_vectors import canonical, photo  # noqa: E402

from kmcodec import container, mix  # noqa: E402


def rgb_palette(rng, k: int) -> np.ndarray:
    keys = np.sort(rng.choice(1 << 24, k, replace=False))
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)


def text_lines() -> tuple[np.ndarray, np.ndarray]:
    """64 x 40: the same two words drawn three times, two colours and a
    rule: repeated glyphs, which the context tables (spec 13.3) predict."""
    im = Image.new("RGB", (64, 40), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.fontmode = "1"
    for i, colour in enumerate(((20, 20, 20), (200, 30, 30), (20, 20, 20))):
        d.text((2, 1 + 12 * i), "kmc kmc", fill=colour)
    d.line([(0, 38), (63, 38)], fill=(30, 90, 200))
    rgb = np.asarray(im)
    uniq, idx = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    return canonical(uniq.astype(np.uint8), idx.reshape(40, 64).astype(np.uint8))


def vectors():
    rng = np.random.default_rng(17)
    yield "mix-k2-4x3", np.array([[0, 0, 0], [255, 255, 255]], np.uint8), np.array(
        [[0, 1, 1, 0], [0, 1, 1, 0], [1, 1, 1, 1]], np.uint8), None, "tiny: K = 2, 12 pixels"
    yield "mix-k1-9x4", np.array([[12, 200, 7]], np.uint8), np.zeros((4, 9), np.uint8), None, "K = 1"
    yield ("mix-k16-coffee-48x40", *photo("coffee.png", 16, (300, 100, 348, 140)), None,
           "a photograph at K = 16")
    yield ("mix-k256-astronaut-64x64", *photo("astronaut.png", 256, (200, 100, 264, 164)), None,
           "a photograph at K = 256: weighted prediction, literals")
    yield "mix-k3-shapes-60x40", *photo("shapes.png", 8, (100, 100, 160, 140)), None, "a flat graphic"
    yield "mix-text-64x40", *text_lines(), None, "repeated glyphs: the context tables"
    own = np.random.default_rng(4816)  # its own draws: the vectors after it stay as they were
    tile = own.integers(0, 6, (8, 12)).astype(np.uint8)
    tile[0, :6] = np.arange(6)
    yield ("mix-tiles-k6-48x16", rgb_palette(own, 6), np.tile(tile, (2, 4)), None,
           "a random 12 x 8 tile repeated: the match (13.3)")
    # Copies above, in a second stripe (y0 = 16): the match reads earlier rows of its own stripe.
    yield ("mix-tiles-rows16-k6-24x32", rgb_palette(own, 6), np.tile(tile, (4, 2)), 16,
           "the same tile, 2 stripes of 16 rows: copies 8 rows up")
    pal = rgb_palette(rng, 5)
    idx = rng.integers(0, 5, (30, 40)).astype(np.uint8)
    idx.reshape(-1)[:5] = np.arange(5)
    yield "mix-k5-noise-40x30-rows7", pal, idx, 7, "5 stripes of 7 rows, the last short"
    pal = rgb_palette(rng, 4)
    idx = ((np.arange(9)[:, None] // 3 + np.arange(23)[None, :] // 5) % 4).astype(np.uint8)
    yield "mix-k4-rows1-23x9", pal, idx, 1, "9 one-row stripes: fresh tables each"
    pal = rgb_palette(np.random.default_rng(1301), 5)
    yy, xx = np.mgrid[0:37, 0:23]
    idx = ((xx // 4 + (yy * 3) // 7) % 5).astype(np.uint8)
    idx[5:9, 3:17] = 4
    yield "mix-columns-k5-23x37-rows10", pal, idx, 10, "orientation 1: 3 stripes of 10, 10 and 3 columns"
    pal = rgb_palette(rng, 300)
    yy, xx = np.mgrid[0:23, 0:37]
    idx = ((yy * 13 + xx * 7) // 3 % 300).astype(np.uint16)
    idx.reshape(-1)[:300] = np.arange(300)
    yield "mix-k300-37x23", pal, idx, None, "K = 300 (b = 9), odd width"
    for k, width, height, g in ((257, 40, 30, 4), (2049, 64, 48, 3)):
        yield (f"mix-k{k}-g{g}-{width}x{height}", rgb_palette(rng, k), using_all(rng, k, height, width), None,
               f"random indices: literals, grid g = {g}")
    pal, idx, _ = sprite()
    yield "mix-alpha-sprite-k13-48x40", pal, idx, None, "version 2: anti-aliased edge and shadow"
    yield ("mix-alpha-k129-g3-40x30", random_palette(rng, 129), using_all(rng, 129, 30, 40), None,
           "version 2, four-channel grid g = 3")
    # The largest grids' cells, with palettes larger than the images: most
    # entries unused, which decoders must allow (spec section 4).
    big = np.random.default_rng(32769)
    yield ("mix-k16385-g2-48x32", rgb_palette(big, 16385), big.integers(0, 16385, (32, 48)).astype(np.uint16), None,
           "K = 16385, grid g = 2; most entries unused")
    yield ("mix-alpha-k32769-g1-48x32", random_palette(big, 32769),
           big.integers(0, 32769, (32, 48)).astype(np.uint16), None,
           "version 2, K = 32769, four-channel grid g = 1; most entries unused")


#: Vectors coded in a set orientation; the others in the one the encoder chooses.
ORIENTED = {"mix-columns-k5-23x37-rows10": mix.COLUMNS, "mix-tiles-rows16-k6-24x32": mix.ROWS,
            "mix-k5-noise-40x30-rows7": mix.ROWS, "mix-k4-rows1-23x9": mix.ROWS}


def build(palette: np.ndarray, indices: np.ndarray, rows: int | None, orientation: int | None = None) -> bytes:
    height, width = indices.shape
    payload = mix.encode_payload(indices, palette, rows, orientation)
    version = 2 if palette.shape[1] == 4 else 1
    head = container._HEADER.pack(container.MAGIC, version, 2, container.bits_for_colors(len(palette)),
                                  version - 1, width, height, len(palette), len(payload))
    body = head + palette.tobytes() + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def main() -> int:
    rows = []
    for name, palette, indices, stripe_rows, note in vectors():
        data = build(palette, indices, stripe_rows, ORIENTED.get(name))
        path = HERE / f"{name}.kmc"
        if path.exists():
            # Frozen: a vector is written once.
            assert path.read_bytes() == data, f"{name} would change"
        else:
            path.write_bytes(data)
            mode = "RGBA" if palette.shape[1] == 4 else "RGB"
            Image.fromarray(palette[indices], mode).save(HERE / f"{name}.png", optimize=True)
        height, width = indices.shape
        sha = hashlib.sha256(data).hexdigest()
        orientation = data[container.HEADER_SIZE + palette.size]
        rows.append(f"| `{name}.kmc` | {width} | {height} | {len(palette)} | {orientation} | {stripe_rows or '-'}"
                    f" | {len(data)} "
                    f"| `{sha}` | {note} |")
        print(f"{name:30} {len(data):7} {sha}")
    (HERE / "mix-README.md").write_text("\n".join([
        "# Frozen coder-2 vectors (spec section 13)",
        "",
        "Made by `make_mix_vectors.py` (fixed seeds, no k-means); checked on every run by",
        "`tests/test_mix.py`. Each `NAME.kmc` decodes to the pixels of `NAME.png`.",
        "",
        "| file | width | height | K | orientation | stripe_rows (of the coded image) | bytes | sha256 | covers |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
        *rows,
        "",
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
