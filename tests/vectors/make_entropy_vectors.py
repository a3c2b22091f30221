"""Generate the frozen entropy-coder (coder 1) vectors (run once, by hand).

    python tests/vectors/make_entropy_vectors.py

Like ``make_vectors.py``, this only records how the committed files were
made; ``tests/test_entropy.py`` checks their sha256 and decodes them.  Each
``NAME.kmc`` has a ``NAME.png`` beside it with the expected pixels, and the
palette is in the canonical order (sorted by ``R<<16 | G<<8 | B``), so the
indices can be recovered from the PNG and re-encoded; except in
``entropy-k16385-g2-48x32``, whose palette is larger than its image (most
entries unused).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from kmcodec import container, entropy  # noqa: E402
from kmcodec.codec import decode_palette, quantize  # noqa: E402


#: The vectors whose palettes come from kmcodec's k-means (:func:`photo`).
KMEANS = {"entropy-k16-coffee-48x40", "entropy-k256-astronaut-64x64", "entropy-k3-shapes-60x40"}


def canonical(palette, indices):
    """Palette sorted by 24-bit value, indices renumbered to match."""
    keys = (palette[:, 0].astype(np.int64) << 16) | (palette[:, 1].astype(np.int64) << 8) | palette[:, 2]
    order = np.argsort(keys)
    new = np.empty_like(order)
    new[order] = np.arange(len(order))
    return palette[order], new[indices].astype(indices.dtype)


def photo(name, k, box):
    rgb = np.asarray(Image.open(ROOT / "samples" / name).convert("RGB").crop(box))
    q = quantize(rgb, k, 0)
    return canonical(q.palette, q.indices)


def vectors():
    rng = np.random.default_rng(2026)
    yield "entropy-k16-coffee-48x40", *photo("coffee.png", 16, (300, 100, 348, 140)), None
    yield "entropy-k256-astronaut-64x64", *photo("astronaut.png", 256, (200, 100, 264, 164)), None
    yield "entropy-k3-shapes-60x40", *photo("shapes.png", 8, (100, 100, 160, 140)), None
    keys = np.sort(rng.choice(1 << 24, 5, replace=False))
    pal = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
    idx = rng.integers(0, 5, (30, 40)).astype(np.uint8)
    idx.reshape(-1)[:5] = np.arange(5)
    yield "entropy-k5-noise-40x30-rows7", pal, idx, 7
    yield "entropy-k1-9x4", np.array([[12, 200, 7]], np.uint8), np.zeros((4, 9), np.uint8), None
    keys = np.sort(rng.choice(1 << 24, 300, replace=False))
    pal = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
    yy, xx = np.mgrid[0:23, 0:37]
    idx = ((yy * 13 + xx * 7) // 3 % 300).astype(np.uint16)
    idx.reshape(-1)[:300] = np.arange(300)
    yield "entropy-k300-37x23", pal, idx, None
    # The prediction grid's size at its boundaries (spec 11.6): g = 5 up to
    # K = 256, 4 from 257 to 2048, 3 from 2049; random indices, so most
    # are literals and the cell orders are used.
    for k, width, height in ((257, 40, 30), (2048, 64, 48), (2049, 64, 48)):
        keys = np.sort(rng.choice(1 << 24, k, replace=False))
        pal = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
        idx = rng.integers(0, k, (height, width)).astype(np.uint16)
        idx.reshape(-1)[:k] = rng.permutation(k)
        yield f"entropy-k{k}-g{5 if k <= 256 else 4 if k <= 2048 else 3}-{width}x{height}", pal, idx, None
    # One-row stripes: 9 streams, each ending (spec 11.3) after a few pixels.
    keys = np.sort(rng.choice(1 << 24, 4, replace=False))
    pal = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
    idx = (np.arange(9)[:, None] // 3 + np.arange(23)[None, :] // 5) % 4
    yield "entropy-k4-rows1-23x9", pal, idx.astype(np.uint8), 1
    # g = 2 from K = 16385, with a palette larger than the image: most
    # entries unused, which decoders must allow (spec section 4).
    big = np.random.default_rng(16385)
    keys = np.sort(big.choice(1 << 24, 16385, replace=False))
    pal = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
    yield "entropy-k16385-g2-48x32", pal, big.integers(0, 16385, (32, 48)).astype(np.uint16), None


def build(palette, indices, rows):
    height, width = indices.shape
    payload = entropy.encode_payload(indices, len(palette), palette, rows)
    head = container._HEADER.pack(container.MAGIC, 1, 1, container.bits_for_colors(len(palette)), 0,
                                  width, height, len(palette), len(payload))
    body = head + palette.tobytes() + payload
    import zlib

    return body + zlib.crc32(body).to_bytes(4, "little")


def main():
    for name, palette, indices, rows in vectors():
        data = build(palette, indices, rows)
        if (HERE / f"{name}.kmc").exists():
            # Frozen: a vector is written once; its sha256 is in the tests.
            # The photographs' palettes come from a k-means that has changed
            # since: their own palette and indices must still encode to them.
            frozen = (HERE / f"{name}.kmc").read_bytes()
            assert data == frozen or (name in KMEANS and build(*decode_palette(frozen), rows) == frozen), \
                f"{name} would change"
            continue
        (HERE / f"{name}.kmc").write_bytes(data)
        buf = io.BytesIO()
        Image.fromarray(palette[indices], "RGB").save(buf, "PNG")
        (HERE / f"{name}.png").write_bytes(buf.getvalue())
        print(name, indices.shape, len(palette), len(data))


if __name__ == "__main__":
    main()
