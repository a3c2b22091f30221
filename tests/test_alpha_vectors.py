"""Format version 2 (alpha, spec section 12): frozen vectors, the worked
example, and what every reader must refuse.

The files in ``tests/vectors/alpha-*`` are the reference
(``make_alpha_vectors.py`` records how they were made and is never run
here): each must have its recorded sha256, decode to the RGBA pixels of
its PNG with kmcodec and with the spec-only decoder, keep the canonical
rules of section 12.2, and come back byte for byte when its PNG's
palette and indices are encoded again.
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
from kmcodec.errors import FormatError, PixelLimitError, UnsupportedFormatError

from .spec_decoder import SpecError
from .spec_decoder import decode as spec_decode

ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = ROOT / "tests" / "vectors"
SPEC = ROOT / "spec" / "kmc-format.md"

# name -> (coder, width, height, colors, file size, sha256).  Recorded once
# from the committed files: a mismatch means the format or a coder drifted.
VECTORS = {
    "alpha-example-2x2-k3": ("packed", 2, 2, 3, 45,
        "5c17fa9ec172e8fb7d71eb11fd65d5fcf4809ae7d84984c49f3164dc62c2d026"),
    "alpha-k1-6x4": ("packed", 6, 4, 1, 36,
        "180e00233cf0f3c0f38e4d154e9eca57a20bd597a0e1b3e35b54366e9f3aded3"),
    "alpha-k5-11x7": ("packed", 11, 7, 5, 81,
        "1a64ffd62ee5943a9b2da60a87001abac9fb183f1ba498fb840ea64eab724527"),
    "alpha-k300-37x23": ("packed", 37, 23, 300, 2190,
        "595937f7fe4f5f0c992c0c8156e0af47b7d543208c477e14ab59ac23a5c7a2bc"),
    "alpha-entropy-sprite-k13-48x40": ("entropy", 48, 40, 13, 224,
        "5527aec7429f0be333eb1d87ba2d9a91d3c592584715a0a8ba9da2286753c046"),
    "alpha-entropy-k8-g5-20x16": ("entropy", 20, 16, 8, 213,
        "dac7a8f626449b2c131a39bf291ea222aab00b2165fbc56bfeeee08a8a6b78d4"),
    "alpha-entropy-k9-g4-20x16": ("entropy", 20, 16, 9, 225,
        "2c94de85c4d75ef49ade3c57348b2e7da3a2ee3bf253551e730752df2f9377b0"),
    "alpha-entropy-k128-g4-40x30": ("entropy", 40, 30, 128, 1647,
        "d622ed3c8fb446fa34c01b578c9ed7cb08b55f3daa1ce99109f3422462af546c"),
    "alpha-entropy-k129-g3-40x30": ("entropy", 40, 30, 129, 1651,
        "18bfbdaf201a1429906006fecf35b55956b49cb51d87040cce3922a3d97a6dd9"),
    "alpha-entropy-k2049-g2-64x48": ("entropy", 64, 48, 2049, 12526,
        "2d7d786489c490e7c2020bbae8a846497739253c58bde31efa9cff8270b9ab7b"),
    "alpha-entropy-k32769-g1-48x32": ("entropy", 48, 32, 32769, 134072,
        "36f6793831b61aeadebdb4af452a4f5502f61785ab6263dd502eaf7d96e021ec"),
}
NAMES = list(VECTORS)
#: Vectors with more entries than pixels, most of them unused (spec section 4 allows it).
SPARSE = {"alpha-entropy-k32769-g1-48x32"}


def _kmc(name: str) -> bytes:
    return (VECTORS_DIR / f"{name}.kmc").read_bytes()


def _png(name: str) -> np.ndarray:
    with Image.open(VECTORS_DIR / f"{name}.png") as im:
        assert im.mode == "RGBA", f"{name}.png must be 8-bit RGBA, is {im.mode}"
        return np.asarray(im).copy()


def _canonical(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Section 12.2 from the pixels alone: transparent pixels as (0, 0, 0, 0),
    entries sorted by A<<24 | R<<16 | G<<8 | B, indices by lookup."""
    flat = pixels.reshape(-1, 4).astype(np.uint32)
    keys = flat[:, 3] << 24 | flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]
    keys[flat[:, 3] == 0] = 0
    uniq = np.unique(keys)
    palette = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255, uniq >> 24], 1).astype(np.uint8)
    indices = np.searchsorted(uniq, keys)
    return palette, indices.astype(np.uint8 if len(uniq) <= 256 else np.uint16)


def test_vector_set_is_complete():
    assert {p.stem for p in VECTORS_DIR.glob("alpha-*.kmc")} == set(VECTORS)
    assert {p.stem for p in VECTORS_DIR.glob("alpha-*.png")} == set(VECTORS)
    listed = (VECTORS_DIR / "alpha-README.md").read_text()
    for _, *_, sha in VECTORS.values():
        assert sha in listed


@pytest.mark.parametrize("name", NAMES)
def test_sha256_and_header(name):
    coder, width, height, colors, size, sha = VECTORS[name]
    data = _kmc(name)
    assert len(data) == size and hashlib.sha256(data).hexdigest() == sha
    meta = kmcodec.info(data)
    assert (meta.version, meta.alpha, meta.coder) == (2, True, coder)
    assert (meta.width, meta.height, meta.colors) == (width, height, colors)
    bits = (colors - 1).bit_length()
    assert meta.palette_bytes == 4 * colors
    assert meta.formula_bits == 32 * colors + width * height * bits
    assert meta.to_dict()["alpha"] is True
    if coder == "packed":
        assert size == 32 + 4 * colors + (width * height * bits + 7) // 8
        assert size == container.file_size(width, height, colors, alpha=True)


@pytest.mark.parametrize("name", NAMES)
def test_decodes_to_the_rgba_png(name):
    decoded = kmcodec.decode(_kmc(name))
    assert decoded.shape[2] == 4 and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, _png(name))


@pytest.mark.parametrize("name", NAMES)
def test_spec_decoder_agrees(name):
    width, height, palette, indices = spec_decode(_kmc(name))
    pixels = np.array([palette[i] for i in indices], np.uint8).reshape(height, width, 4)
    np.testing.assert_array_equal(pixels, _png(name))


@pytest.mark.parametrize("name", NAMES)
def test_palette_is_canonical_and_reencodes_byte_for_byte(name):
    coder = VECTORS[name][0]
    pixels = _png(name)
    height, width, _ = pixels.shape
    file_palette, file_indices = kmcodec.decode_palette(_kmc(name))
    if name in SPARSE:  # sorted and unique, but most entries unused
        keys = file_palette.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1, 1 << 24], np.uint32)
        assert (np.diff(keys.astype(np.int64)) > 0).all()
        assert len(np.unique(file_indices)) < len(file_palette)
        np.testing.assert_array_equal(file_palette[file_indices], pixels)
        assert container.build(width, height, file_palette, file_indices.reshape(-1), coder,
                                   coded_palette=False) == _kmc(name)
        return
    palette, indices = _canonical(pixels)
    assert file_palette.shape == (len(palette), 4)
    np.testing.assert_array_equal(file_palette, palette)
    np.testing.assert_array_equal(file_indices.reshape(-1), indices)
    assert (palette[:, 3] < 255).any(), "an all-opaque image is a version-1 file"
    assert container.build(width, height, palette, indices, coder, coded_palette=False) == _kmc(name)


def _spec_hexdump() -> bytes:
    text = SPEC.read_text(encoding="utf-8")
    marker = text.index("<!-- alpha-example-hexdump")
    block = re.search(r"```[a-z]*\n(.*?)```", text[marker:], re.S)
    assert block, "no code block after the alpha-example-hexdump marker"
    out = bytearray()
    for line in block.group(1).strip().splitlines():
        fields = line.split("|")[0].split()
        assert int(fields[0], 16) == len(out)
        out += bytes(int(h, 16) for h in fields[1:])
    return bytes(out)


def test_spec_worked_example_is_the_vector():
    assert _spec_hexdump() == _kmc("alpha-example-2x2-k3")
    palette, indices = kmcodec.decode_palette(_kmc("alpha-example-2x2-k3"))
    assert palette.tolist() == [[0, 0, 0, 0], [255, 0, 0, 128], [255, 0, 0, 255]]
    assert indices.tolist() == [[0, 2], [1, 0]]


def _forge(data: bytes, **fields) -> bytes:
    names = ["magic", "version", "coder", "bits", "flags", "width", "height", "colors", "payload"]
    values = dict(zip(names, struct.unpack_from("<4sBBBBIIIQ", data), strict=True))
    values.update(fields)
    body = struct.pack("<4sBBBBIIIQ", *(values[n] for n in names)) + data[28:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize("fields, error, message", [
    ({"flags": 0}, FormatError, r"flags is 0x00, must be 0x01 \(alpha\) in version 2"),
    ({"flags": 2}, FormatError, r"flags is 0x02, must be 0x01 \(alpha\) in version 2"),
    ({"version": 1}, FormatError, "flags is 0x01, must be 0 in version 1"),
    ({"version": 4}, UnsupportedFormatError, "version is 4; this reader supports versions 1, 2 and 3"),
])
def test_header_rules_of_version_2(fields, error, message):
    data = _forge(_kmc("alpha-k5-11x7"), **fields)
    with pytest.raises(error, match=message):
        kmcodec.decode(data)
    with pytest.raises(SpecError):
        spec_decode(data)


def test_a_version_2_header_on_a_3_byte_palette_is_a_length_error():
    # The same header fields and payload with 3-byte entries: 5 bytes short.
    data = _kmc("alpha-k5-11x7")
    opaque = data[:28] + b"".join(data[28 + 4 * i : 31 + 4 * i] for i in range(5)) + data[48:-4]
    opaque += zlib.crc32(opaque).to_bytes(4, "little")
    with pytest.raises(FormatError, match=r"file is 76 bytes but the header declares 81 .*: truncated"):
        kmcodec.decode(opaque)


@pytest.mark.parametrize("name", ["alpha-k5-11x7", "alpha-entropy-sprite-k13-48x40"])
def test_every_truncation_and_byte_flip_is_refused(name):
    data = _kmc(name)
    for end in range(len(data)):
        with pytest.raises(FormatError):
            kmcodec.decode(data[:end])
    for at in range(len(data)):
        bad = bytearray(data)
        bad[at] ^= 0x40
        # A flip in width or height can also pass the pixel limit (check 9).
        with pytest.raises((FormatError, PixelLimitError)):
            kmcodec.decode(bytes(bad))
