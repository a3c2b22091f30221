"""The from-the-spec decoder (``tests/spec_decoder.py``) against the vectors,
against kmcodec, and against corrupted files.

``spec_decoder`` is written from ``spec/kmc-format.md`` alone; if it fails
on a vector, either the spec or the vector is wrong.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import palette_image
from .spec_decoder import SpecError, decode

VECTORS = Path(__file__).resolve().parent / "vectors"
# Version-2 (alpha-*) vectors: tests/test_alpha_vectors.py, with this decoder too.
# Alpha vectors: test_alpha_vectors.py; coder-2 vectors: test_mix.py.
# Vectors with alpha (alpha-*, coded-alpha-*), coder 2's (mix-*) and version 3's
# (coded-*) are checked against the spec decoder by their own test files.
VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.kmc") if not p.stem.startswith(("alpha-", "mix-", "coded-")))
#: Vectors with more entries than pixels, most of them unused (section 4 allows it).
SPARSE = {"entropy-k16385-g2-48x32"}


def pixels(data: bytes) -> np.ndarray:
    """The (H, W, 3) uint8 image the spec decoder gives: palette[index] (section 6)."""
    return expand(*decode(data))


def expand(width: int, height: int, palette: list[tuple[int, int, int]], indices: list[int]) -> np.ndarray:
    assert len(palette) >= 1 and len(indices) == width * height
    assert all(0 <= i < len(palette) for i in indices)
    return np.array(palette, dtype=np.uint8)[np.array(indices, dtype=np.int64)].reshape(height, width, 3)


def with_crc(body: bytes) -> bytes:
    """``body`` followed by its CRC-32, little-endian (section 3)."""
    return body + struct.pack("<I", zlib.crc32(body))


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    """``data`` with ``new`` written at ``offset`` and the CRC recomputed."""
    body = bytearray(data[:-4])
    body[offset : offset + len(new)] = new
    return with_crc(bytes(body))


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.kmc").read_bytes()


# ---------------------------------------------------------------------------
# (a) every frozen vector decodes to its PNG


def test_vectors_present():
    assert len(VECTOR_NAMES) >= 19
    assert any(n.startswith("entropy-") for n in VECTOR_NAMES)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_matches_png(name):
    data = vector(name)
    expected = np.asarray(Image.open(VECTORS / f"{name}.png").convert("RGB"))
    width, height, palette, indices = decoded = decode(data)
    got = expand(*decoded)
    assert got.shape == expected.shape == (height, width, 3)
    np.testing.assert_array_equal(got, expected)
    # section 10: every palette is sorted and unique, and canonical (fully
    # used) but in the vectors whose palettes are larger than their images
    keys = [r << 16 | g << 8 | b for r, g, b in palette]
    assert keys == sorted(set(keys))
    if name in SPARSE:
        assert len(set(indices)) < len(palette)
    else:
        assert set(indices) == set(range(len(palette)))


def test_worked_example():
    """Section 9: the indices 2 1 0 1 0 2 and the palette navy, orange, white."""
    width, height, palette, indices = decode(vector("example-3x2-k3"))
    assert (width, height) == (3, 2)
    assert palette == [(0x10, 0x20, 0x40), (0xFF, 0x80, 0x00), (0xFF, 0xFF, 0xFF)]
    assert indices == [2, 1, 0, 1, 0, 2]


# ---------------------------------------------------------------------------
# (b) files freshly written by kmcodec decode as kmcodec decodes them


def smooth_image(height: int, width: int) -> np.ndarray:
    """Gradients and a disc: neighbours repeat, so questions 1 and 2 of section 11.5 are used."""
    y, x = np.indices((height, width))
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) * 4 % 256], -1)
    disc = (x - width // 2) ** 2 + (y - height // 2) ** 2 < (min(height, width) // 3) ** 2
    img[disc] = (250, 30, 90)
    return img.astype(np.uint8)


@pytest.mark.parametrize("coder", ["packed", "entropy"])
@pytest.mark.parametrize("k", [1, 2, 5, 16, 256, 300])
def test_fresh_files_match_kmcodec(coder, k):
    import kmcodec

    images = [palette_image(24, 20, k, seed=k), smooth_image(33, 29)]
    for image in images:
        data = kmcodec.encode(image, k=k, coder=coder)
        assert data[5] == {"packed": 0, "entropy": 1}[coder]
        np.testing.assert_array_equal(pixels(data), kmcodec.decode(data))
    # an image with exactly k colours is stored losslessly (section 4)
    np.testing.assert_array_equal(pixels(kmcodec.encode(images[0], k=k, coder=coder)), images[0])


# ---------------------------------------------------------------------------
# (c) corrupted files are rejected with SpecError

SMALL = ["example-3x2-k3", "k1-5x3", "k5-11x7", "entropy-k1-9x4", "entropy-k4-rows1-23x9", "entropy-k3-shapes-60x40"]


@pytest.mark.parametrize("name", SMALL)
def test_every_truncation_rejected(name):
    data = vector(name)
    for n in range(len(data)):
        with pytest.raises(SpecError):
            decode(data[:n])


@pytest.mark.parametrize("name", SMALL)
def test_trailing_byte_and_bad_crc_rejected(name):
    data = vector(name)
    with pytest.raises(SpecError, match="trailing"):
        decode(data + b"\0")
    with pytest.raises(SpecError, match="trailing"):
        decode(with_crc(data[:-4] + b"\0"))
    for i in (0, len(data) // 2, len(data) - 5, len(data) - 1):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(SpecError):
            decode(bytes(bad))


@pytest.mark.parametrize("name", SMALL)
def test_header_byte_flips_rejected(name):
    """Every bit of every header byte flipped, CRC recomputed: each breaks a check of section 7."""
    data = vector(name)
    for offset in range(28):
        for bit in range(8):
            if (name.startswith("entropy-") or name == "k1-5x3") and 8 <= offset < 16:
                continue  # coder 1 or K = 1 (b = 0): width and height have no header rule
            value = data[offset] ^ (1 << bit)
            with pytest.raises(SpecError):
                decode(patched(data, offset, bytes([value])))


def test_header_checks_in_order():
    data = vector("example-3x2-k3")
    cases = [
        (0, b"X", "magic"),
        (4, b"\x02", "version"),
        (5, b"\x03", "unsupported coder 3"),
        (5, b"\xff", "unsupported coder 255"),
        (7, b"\x01", "flags"),
        (8, struct.pack("<I", 0), "width"),
        (12, struct.pack("<I", 0), "height"),
        (16, struct.pack("<I", 0), "colors"),
        (16, struct.pack("<I", 65537), "colors"),
        (16, struct.pack("<I", 4), "truncated"),  # b stays 2, so check 11 (length) is the first to fail
        (6, b"\x03", "bits_per_index"),
        (20, struct.pack("<Q", 3), "payload_bytes"),
    ]
    for offset, new, message in cases:
        with pytest.raises(SpecError, match=message):
            decode(patched(data, offset, new))
    # check 1 looks at min(4, length) bytes, check 2 at the length
    with pytest.raises(SpecError, match="magic"):
        decode(b"KMX")
    with pytest.raises(SpecError, match="truncated"):
        decode(b"KMC")
    with pytest.raises(SpecError, match="truncated"):
        decode(b"")


def test_pixel_limit():
    data = vector("k2-7x5")
    assert decode(data, max_pixels=35)[0] == 7
    with pytest.raises(SpecError, match="pixel limit"):
        decode(data, max_pixels=34)
    # check 9 comes before the payload_bytes rule and the length check
    huge = with_crc(data[:8] + struct.pack("<II", 100_000, 100_000) + data[16:-4])
    with pytest.raises(SpecError, match="pixel limit"):
        decode(huge)
    assert decode(data, max_pixels=None)[1] == 5


def test_packed_padding_and_index_rejected():
    # section 9: 0x91 0x20 holds 2 1 0 1 | 0 2 and 4 padding bits
    data = vector("example-3x2-k3")
    with pytest.raises(SpecError, match="padding"):
        decode(patched(data, 38, b"\x21"))
    with pytest.raises(SpecError, match="index 3"):
        decode(patched(data, 37, b"\xd1"))  # first index 3 >= K = 3
    # padding is checked before the indices
    with pytest.raises(SpecError, match="padding"):
        decode(patched(data, 37, b"\xd1\x21"))
    # k2-7x5: 35 bits, the 5 low bits of the last byte are padding
    data = vector("k2-7x5")
    last = len(data) - 5
    for bit in range(5):
        with pytest.raises(SpecError, match="padding"):
            decode(patched(data, last, bytes([data[last] | (1 << bit)])))


def entropy_parts(data: bytes) -> tuple[bytes, int, list[int], bytes]:
    """(header and palette, stripe_rows, stripe_bytes, streams) of a coder-1 file (section 11.1)."""
    colors, payload_bytes = struct.unpack_from("<IQ", data, 16)
    start = 28 + 3 * colors
    payload = data[start : start + payload_bytes]
    height = struct.unpack_from("<I", data, 12)[0]
    rows = struct.unpack_from("<I", payload, 0)[0]
    count = -(-height // rows)
    sizes = list(struct.unpack_from(f"<{count}I", payload, 4))
    return data[:start], rows, sizes, payload[4 + 4 * count :]


def entropy_file(head: bytes, rows: int, sizes: list[int], streams: bytes) -> bytes:
    payload = struct.pack(f"<I{len(sizes)}I", rows, *sizes) + streams
    head = head[:20] + struct.pack("<Q", len(payload)) + head[28:]
    return with_crc(head + payload)


def test_entropy_rebuild_roundtrip():
    data = vector("entropy-k4-rows1-23x9")
    assert entropy_file(*entropy_parts(data)) == data


def test_entropy_payload_rules():
    data = vector("entropy-k5-noise-40x30-rows7")
    head, rows, sizes, streams = entropy_parts(data)
    assert rows == 7 and len(sizes) == 5

    # payload shorter than 4 bytes
    for n in range(4):
        short = with_crc(head[:20] + struct.pack("<Q", n) + head[28:] + b"\x01" * n)
        with pytest.raises(SpecError, match="shorter than 4"):
            decode(short)
    with pytest.raises(SpecError, match="stripe_rows"):
        decode(entropy_file(head, 0, sizes, streams))
    # stripe table does not fit: R = 1 needs 30 entries
    with pytest.raises(SpecError, match="does not fit"):
        decode(with_crc(head[:20] + struct.pack("<Q", 8) + head[28:] + struct.pack("<II", 1, 0)))
    # lengths that do not add up
    with pytest.raises(SpecError, match="add up"):
        decode(entropy_file(head, rows, [*sizes[:-1], sizes[-1] + 1], streams))
    # a stream with a byte left unread (stripe 2 gets one more byte, the last one less)
    moved = [sizes[0], sizes[1], sizes[2] + 1, sizes[3], sizes[4] - 1]
    with pytest.raises(SpecError, match="stripe 2"):
        decode(entropy_file(head, rows, moved, streams))
    # an extra byte at the end of the last stream
    with pytest.raises(SpecError, match="left unread"):
        decode(entropy_file(head, rows, [*sizes[:-1], sizes[-1] + 1], streams + b"\0"))
    # the last stream one byte short
    with pytest.raises(SpecError):
        decode(entropy_file(head, rows, [*sizes[:-1], sizes[-1] - 1], streams[:-1]))
    # an empty stripe
    with pytest.raises(SpecError):
        decode(entropy_file(head, rows, [*sizes[:-1], 0], streams[: -sizes[-1]]))
    # a different stripe_rows is a different (wrong) split of the streams
    with pytest.raises(SpecError):
        decode(entropy_file(head, 8, sizes[:4], streams[:-sizes[-1]]))


def test_entropy_literal_with_left_zero():
    """K = 1: the second pixel of a row has L present, so [X = L] is coded; a 0
    there leaves a literal with nothing left (section 11.6)."""
    data = vector("entropy-k1-9x4")
    head, rows, sizes, streams = entropy_parts(data)
    rejected = 0
    for offset in range(len(streams)):
        for value in (0x00, 0xFF):
            bad = bytearray(streams)
            bad[offset] = value
            try:
                decode(entropy_file(head, rows, sizes, bytes(bad)))
            except SpecError as error:
                rejected += "left = 0" in str(error)
    assert rejected > 0


@pytest.mark.parametrize("name", ["entropy-k3-shapes-60x40", "entropy-k16-coffee-48x40"])
def test_entropy_stream_mutations(name):
    """Any byte of the streams changed (CRC recomputed): SpecError or a valid image, nothing else."""
    data = vector(name)
    head, rows, sizes, streams = entropy_parts(data)
    colors = struct.unpack_from("<I", data, 16)[0]
    rejected = 0
    for offset in range(0, len(streams), max(1, len(streams) // 40)):
        bad = bytearray(streams)
        bad[offset] ^= 0x5A
        try:
            _, _, _, indices = decode(entropy_file(head, rows, sizes, bytes(bad)))
        except SpecError:
            rejected += 1
        else:
            assert max(indices) < colors
    assert rejected > 0
