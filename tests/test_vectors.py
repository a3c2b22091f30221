"""Frozen .kmc test vectors: the format must not drift.

The files in ``tests/vectors/`` are the reference; this test never
regenerates them (``tests/vectors/make_vectors.py`` only records how they
were made).  For every vector it checks that

* the .kmc file has the sha256 recorded below, so any change to the files
  is noticed;
* ``kmcodec.decode`` gives exactly the pixels of the PNG next to it;
* an independent, from-the-spec decoder written here gives the same pixels;
* re-encoding the PNG with ``kmcodec.container.build`` (palette = sorted
  distinct colours, indices by lookup) reproduces the file byte for byte,
  so any change to the encoder is noticed;
* the vector table of ``spec/kmc-format.md`` describes the file;

and that the worked example's hex dump in the spec is the committed file.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec import container

ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = ROOT / "tests" / "vectors"
SPEC = ROOT / "spec" / "kmc-format.md"
WORKED_EXAMPLE = "example-3x2-k3"

# name -> (width, height, colors, bits_per_index, file size, sha256 of the .kmc)
# Recorded from the committed files.  Do not update these to make a failure
# go away: a mismatch means the format or the encoder changed.
VECTORS = {
    "example-3x2-k3": (
        3, 2, 3, 2, 43,
        "ca87bfdc0700af2979f9ed55badc32dec0cb7aa3eb7ef8c4ad1f3614cf44d05d",
    ),
    "k1-5x3": (
        5, 3, 1, 0, 35,
        "2a00974dbb993e46c63c54b859b6d8e44d3fdd75f9858a9302e0ac1096ad9a1c",
    ),
    "k2-7x5": (
        7, 5, 2, 1, 43,
        "fc713fdae5f3157dcd86c5d006d22c5e48d9362f51da2a78e53fe2e1428e5fb6",
    ),
    "k5-11x7": (
        11, 7, 5, 3, 76,
        "e4d001e719b12fd61dc905e241aa30966b368fee8f77083219decd87c2ae889f",
    ),
    "k17-13x9": (
        13, 9, 17, 5, 157,
        "adddb08f76d5221d75b625bf1623cb0b4e68d8b66679b272058b04f902157ef9",
    ),
    "k256-32x24": (
        32, 24, 256, 8, 1568,
        "b99a568bc6e916853a8b82fa1214234d969f9fc0c65e79bb9f575e7ed528daf7",
    ),
    "k300-37x23": (
        37, 23, 300, 9, 1890,
        "2027cf52c76ea3706a92f3c8ed2b3b403e3895f8c12fd7c634814ce482dcd825",
    ),
    "k3000-61x53": (
        61, 53, 3000, 12, 13882,
        "f53aa9d9cf0c2c0831515e9ecfda816108eaf028314c8075a399f8d2ef712688",
    ),
    "k65536-256x256": (
        256, 256, 65536, 16, 327712,
        "d27b31b73133921b3106f744ea807c168dc9499cc83f41d745d0b8dfea891b9b",
    ),
}

NAMES = list(VECTORS)


def _kmc(name: str) -> bytes:
    return (VECTORS_DIR / f"{name}.kmc").read_bytes()


def _png_pixels(name: str) -> np.ndarray:
    with Image.open(VECTORS_DIR / f"{name}.png") as im:
        assert im.format == "PNG"
        assert im.mode == "RGB", f"{name}.png must be 8-bit RGB, is {im.mode}"
        return np.asarray(im).copy()


def _spec_decode(data: bytes) -> np.ndarray:
    """A deliberately naive decoder written from spec/kmc-format.md alone.

    It shares no code with kmcodec: header by struct, CRC by zlib, indices
    bit by bit from a string of '0'/'1' characters.
    """
    assert len(data) >= 28
    magic, version, coder, bits, flags, width, height, colors, payload_bytes = (
        struct.unpack_from("<4sBBBBIIIQ", data)
    )
    assert (magic, version, coder, flags) == (b"KMCF", 1, 0, 0)
    assert width >= 1 and height >= 1 and 1 <= colors <= 65536
    assert bits == (colors - 1).bit_length()
    n = width * height
    assert payload_bytes == (n * bits + 7) // 8
    assert len(data) == 32 + 3 * colors + payload_bytes
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])
    palette = [tuple(data[28 + 3 * i : 31 + 3 * i]) for i in range(colors)]
    start = 28 + 3 * colors
    stream = "".join(f"{byte:08b}" for byte in data[start : start + payload_bytes])
    assert set(stream[n * bits :]) <= {"0"}, "padding bits must be zero"
    if bits == 0:
        indices = [0] * n
    else:
        indices = [int(stream[i * bits : (i + 1) * bits], 2) for i in range(n)]
    assert max(indices) < colors
    pixels = [palette[i] for i in indices]
    return np.array(pixels, dtype=np.uint8).reshape(height, width, 3)


def _canonical(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Palette = distinct colours sorted by R<<16|G<<8|B; indices by lookup."""
    flat = pixels.reshape(-1, 3).astype(np.uint32)
    keys = flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]
    uniq = np.unique(keys)  # sorted ascending
    palette = np.stack([uniq >> 16, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.uint8)
    indices = np.searchsorted(uniq, keys)
    dtype = np.uint8 if len(uniq) <= 256 else np.uint16
    return palette, indices.astype(dtype)


def test_vector_set_is_complete():
    # Coder-1 vectors (entropy-*) are checked by tests/test_entropy.py,
    # version-2 ones (alpha-*) by tests/test_alpha_vectors.py and coder-2
    # ones (mix-*) by tests/test_mix.py and version-3 ones (coded-*) by
    # tests/test_palette_code.py.
    others = ("entropy-", "alpha-", "mix-", "coded-")
    on_disk = {p.stem for p in VECTORS_DIR.glob("*.kmc") if not p.stem.startswith(others)}
    assert on_disk == set(VECTORS), "every committed .kmc needs an entry in VECTORS"
    assert {p.stem for p in VECTORS_DIR.glob("*.png") if not p.stem.startswith(others)} == set(VECTORS)


def test_vectors_total_size():
    # The four vectors at the coarsest prediction grids (palettes of 16,385
    # and 32,769 entries) take 370 kB of it.
    total = sum(p.stat().st_size for p in VECTORS_DIR.iterdir() if p.is_file())
    assert total < 1_000_000


@pytest.mark.parametrize("name", NAMES)
def test_sha256(name):
    data = _kmc(name)
    *_, size, sha = VECTORS[name]
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == sha


@pytest.mark.parametrize("name", NAMES)
def test_header_and_size(name):
    width, height, colors, bits, size, _ = VECTORS[name]
    data = _kmc(name)
    info = kmcodec.info(data)
    assert (info.width, info.height, info.colors, info.bits_per_index) == (
        width, height, colors, bits,
    )
    assert info.coder == "packed" and info.version == 1
    assert size == 32 + 3 * colors + (width * height * bits + 7) // 8
    assert size == container.file_size(width, height, colors) == info.total_bytes


@pytest.mark.parametrize("name", NAMES)
def test_decode_matches_png(name):
    expected = _png_pixels(name)
    decoded = kmcodec.decode(_kmc(name))
    assert decoded.dtype == np.uint8
    assert decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("name", NAMES)
def test_spec_decoder_matches_png(name):
    np.testing.assert_array_equal(_spec_decode(_kmc(name)), _png_pixels(name))


@pytest.mark.parametrize("name", NAMES)
def test_reencode_reproduces_bytes(name):
    pixels = _png_pixels(name)
    height, width, _ = pixels.shape
    palette, indices = _canonical(pixels)
    # The committed palette is canonical and fully used: the PNG alone
    # determines it.
    file_palette, file_indices = kmcodec.decode_palette(_kmc(name))
    np.testing.assert_array_equal(palette, file_palette)
    np.testing.assert_array_equal(indices, file_indices.reshape(-1))
    assert container.build(width, height, palette, indices) == _kmc(name)


def _spec_text() -> str:
    return SPEC.read_text(encoding="utf-8")


def _worked_example_hexdump() -> bytes:
    text = _spec_text()
    marker = text.index("<!-- worked-example-hexdump")
    block = re.search(r"```[a-z]*\n(.*?)```", text[marker:], re.S)
    assert block, "no code block after the worked-example-hexdump marker"
    out = bytearray()
    lines = block.group(1).strip().splitlines()
    for line in lines:
        fields = line.split("|")[0].split()
        offset, hex_bytes = int(fields[0], 16), fields[1:]
        assert offset == len(out), f"hexdump offset {fields[0]} should be {len(out):08x}"
        assert all(re.fullmatch(r"[0-9a-f]{2}", h) for h in hex_bytes), line
        out += bytes(int(h, 16) for h in hex_bytes)
    assert not lines[-1].split()[1:], "hexdump must end with the total length line"
    return bytes(out)


def test_spec_worked_example_hexdump():
    assert _worked_example_hexdump() == _kmc(WORKED_EXAMPLE)


def test_spec_worked_example_numbers():
    data = _kmc(WORKED_EXAMPLE)
    text = _spec_text()
    crc = zlib.crc32(data[:-4])
    assert f"0x{crc:08X}" in text
    assert " ".join(f"{b:02x}" for b in data[-4:]) in text
    payload = data[37:39]
    assert " ".join(f"{b:02x}" for b in payload) == "91 20"
    _palette, indices = kmcodec.decode_palette(data)
    assert indices.reshape(-1).tolist() == [2, 1, 0, 1, 0, 2]


def _spec_vector_table() -> dict[str, tuple[int, ...]]:
    section = _spec_text().split("## 10. Test vectors", 1)[1]
    rows = {}
    for m in re.finditer(
        r"^\| `([\w-]+)\.kmc` \| (\d+) x (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|",
        section,
        re.M,
    ):
        rows[m.group(1)] = tuple(int(g) for g in m.groups()[1:])
    return rows


def test_spec_vector_table():
    rows = _spec_vector_table()
    assert set(rows) == set(VECTORS)
    for name, (width, height, colors, bits, padding, size) in rows.items():
        assert (width, height, colors, bits, size) == VECTORS[name][:5], name
        assert padding == -(width * height * bits) % 8, name


def test_readme_lists_every_sha256():
    readme = (VECTORS_DIR / "README.md").read_text(encoding="utf-8")
    for name, (*_, size, sha) in VECTORS.items():
        assert re.search(rf"`{re.escape(name)}\.kmc` .*\| {size} \| `{sha}`", readme), name
