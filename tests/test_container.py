"""The .kmc container: exact sizes, header rules, and every kind of bad file."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import kmcodec
from kmcodec import container
from kmcodec.errors import FormatError, KmcError, PixelLimitError, UnsupportedFormatError

HEADER = struct.Struct("<4sBBBBIIIQ")


def make_file(width: int, height: int, colors: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(colors, 3), dtype=np.uint8)
    indices = rng.integers(0, colors, size=width * height)
    return container.build(width, height, palette, indices)


def forge(data: bytes, crc: bool = True, **fields) -> bytes:
    """Rewrite header fields of a valid file, then fix the CRC if asked."""
    names = ["magic", "version", "coder", "bits", "flags", "width", "height", "colors", "payload"]
    values = dict(zip(names, HEADER.unpack_from(data)))
    values.update(fields)
    body = HEADER.pack(*(values[n] for n in names)) + data[HEADER.size : -4]
    return body + (zlib.crc32(body) if crc else int.from_bytes(data[-4:], "little")).to_bytes(4, "little")


def refresh_crc(body_with_old_crc: bytes) -> bytes:
    body = body_with_old_crc[:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


# --- sizes --------------------------------------------------------------------


@pytest.mark.parametrize("colors, bits", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (16, 4), (17, 5),
                                          (255, 8), (256, 8), (257, 9), (4096, 12), (65535, 16), (65536, 16)])
def test_bits_for_colors(colors, bits):
    assert container.bits_for_colors(colors) == bits


@pytest.mark.parametrize("bits", range(17))
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 5), (8, 8), (13, 29), (64, 3)])
def test_file_size_is_formula_plus_fixed_overhead(bits, shape):
    height, width = shape
    n = width * height
    for colors in sorted({max(1, (1 << bits) // 2 + 1), 1 << bits}):
        data = make_file(width, height, colors, seed=bits)
        formula_bits = 24 * colors + n * bits
        assert len(data) == 32 + 3 * colors + (n * bits + 7) // 8
        assert len(data) == (formula_bits + 7) // 8 + container.OVERHEAD
        assert len(data) == container.file_size(width, height, colors)
        meta = container.info(data)
        assert (meta.width, meta.height, meta.colors, meta.bits_per_index) == (width, height, colors, bits)
        assert meta.header_bytes + meta.palette_bytes + meta.index_bytes + meta.trailer_bytes == len(data)
        assert meta.total_bytes == len(data) and meta.formula_bits == formula_bits


def test_overhead_is_32_bytes():
    assert container.HEADER_SIZE == 28 and container.TRAILER_SIZE == 4 and container.OVERHEAD == 32


def test_parse_returns_what_was_built():
    rng = np.random.default_rng(5)
    palette = rng.integers(0, 256, size=(11, 3), dtype=np.uint8)
    indices = rng.integers(0, 11, size=7 * 9)
    header, pal, idx = container.parse(container.build(9, 7, palette, indices))
    assert (header.width, header.height, header.colors) == (9, 7, 11)
    assert np.array_equal(pal, palette) and np.array_equal(idx, indices)


# --- header rules ---------------------------------------------------------------

VALID = make_file(5, 3, 6)


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({"magic": b"KMCX"}, FormatError, r"magic is b'KMCX', expected b'KMCF'"),
        ({"magic": b"\x89PNG"}, FormatError, "not a .kmc file"),
        ({"version": 4}, UnsupportedFormatError, "version is 4; this reader supports versions 1, 2 and 3"),
        ({"version": 0}, UnsupportedFormatError, "version is 0"),
        ({"version": 2}, FormatError, r"flags is 0x00, must be 0x01 \(alpha\) in version 2"),
        ({"version": 2, "flags": 3}, FormatError, r"flags is 0x03, must be 0x01 \(alpha\) in version 2"),
        ({"coder": 3}, UnsupportedFormatError, "unsupported coder 3"),
        ({"coder": 255}, UnsupportedFormatError, "unsupported coder 255"),
        ({"flags": 1}, FormatError, "flags is 0x01, must be 0 in version 1"),
        ({"width": 0}, FormatError, "width x height is 0 x 3"),
        ({"height": 0}, FormatError, "width x height is 5 x 0"),
        ({"colors": 0, "bits": 0}, FormatError, "colors is 0, must be from 1 to 65536"),
        ({"colors": 65537, "bits": 17}, FormatError, "colors is 65537"),
        ({"colors": 2**32 - 1}, FormatError, "colors is 4294967295"),
        ({"bits": 4}, FormatError, r"bits_per_index is 4, must be ceil\(log2\(colors\)\) = 3"),
        ({"payload": 5}, FormatError, "payload_bytes is 5, must be"),
        ({"payload": 2**64 - 1}, FormatError, "payload_bytes is 18446744073709551615"),
        ({"width": 6}, FormatError, "payload_bytes is 6, must be ceil"),
    ],
)
def test_bad_header_fields_are_named(fields, error, message):
    with pytest.raises(error, match=message):
        kmcodec.decode(forge(VALID, **fields))


def test_errors_are_value_errors():
    assert issubclass(KmcError, ValueError)
    for cls in (FormatError, UnsupportedFormatError, PixelLimitError):
        assert issubclass(cls, KmcError)


def test_bad_checksum():
    data = bytearray(VALID)
    data[-1] ^= 0x01
    with pytest.raises(FormatError, match="crc32 is 0x[0-9a-f]{8} but the bytes before it give 0x[0-9a-f]{8}"):
        kmcodec.decode(bytes(data))


def test_payload_corruption_is_caught_by_checksum():
    data = bytearray(VALID)
    data[container.HEADER_SIZE + 3 * 6] ^= 0x40
    with pytest.raises(FormatError, match="crc32"):
        kmcodec.decode(bytes(data))


def test_trailing_bytes():
    with pytest.raises(FormatError, match="3 trailing bytes"):
        kmcodec.decode(VALID + b"abc")


@pytest.mark.parametrize("length", range(len(VALID)))
def test_truncation_at_every_offset(length):
    with pytest.raises(FormatError, match="truncated"):
        kmcodec.decode(VALID[:length])


def test_index_at_or_above_colors():
    # 6 colours need 3 bits, so the values 6 and 7 are representable but invalid.
    palette = np.zeros((6, 3), np.uint8)
    data = bytearray(container.build(5, 3, palette, np.zeros(15, int)))
    start = container.HEADER_SIZE + 18
    data[start] = 0b000_111_00  # pixel 1 gets index 7
    with pytest.raises(FormatError, match=r"index 7 at pixel 1 \(row 0, column 1\) is >= colors = 6"):
        kmcodec.decode(refresh_crc(bytes(data)))
    # The error names the first bad pixel and its own value, not the largest.
    data[start] = 0b000_110_11  # pixel 1: 6; pixel 2 starts with 1 ...
    data[start + 1] = 0b1_000000  # ... and is 7
    with pytest.raises(FormatError, match=r"index 6 at pixel 1 \(row 0, column 1\) is >= colors = 6"):
        kmcodec.decode(refresh_crc(bytes(data)))


def test_nonzero_padding_bits():
    palette = np.zeros((2, 3), np.uint8)
    data = bytearray(container.build(3, 1, palette, np.zeros(3, int)))
    data[-5] |= 0b0000_0001  # 3 index bits used, 5 padding bits
    with pytest.raises(FormatError, match="5 padding bits must be zero"):
        kmcodec.decode(refresh_crc(bytes(data)))


def test_pixel_limit_checked_before_pixel_memory(monkeypatch):
    # One colour needs no index bits: a 100000 x 100000 image fits in 35 bytes.
    bomb = container.build(1, 1, np.zeros((1, 3), np.uint8), np.zeros(1, int))
    bomb = forge(bomb, width=100_000, height=100_000)
    assert len(bomb) == 35
    tracemalloc.start()
    with pytest.raises(PixelLimitError, match=r"100000 x 100000 = 10000000000 pixels, above the limit of \d+"):
        kmcodec.decode(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(PixelLimitError, match="5 x 3 = 15 pixels, above the limit of 10"):
        kmcodec.decode(VALID)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert kmcodec.decode(VALID).shape == (3, 5, 3)


def test_huge_declared_payload_fails_before_allocation(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    huge = forge(VALID, width=2**32 - 1, height=2**32 - 1, payload=(2**32 - 1) ** 2 * 3 // 8 + 1)
    tracemalloc.start()
    with pytest.raises(FormatError, match="truncated"):
        kmcodec.decode(huge)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("position", range(len(VALID)))
def test_every_single_byte_flip_is_rejected(position):
    data = bytearray(VALID)
    data[position] ^= 0xFF
    with pytest.raises(KmcError):
        kmcodec.decode(bytes(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), min_size=1, max_size=4),
    st.booleans(),
)
def test_mutated_files_fail_cleanly(edits, fix_crc):
    data = bytearray(VALID)
    for position, xor in edits:
        data[position] ^= xor
    data = bytes(data)
    if fix_crc:
        data = refresh_crc(data)
    try:
        pixels = kmcodec.decode(data)
    except KmcError:
        return  # the one acceptable failure
    # Mutations that still decode must describe a consistent image.
    meta = container.info(data)
    assert pixels.shape == (meta.height, meta.width, 3)


def test_info_reports_breakdown():
    meta = kmcodec.info(VALID)
    assert meta.to_dict() == {
        "width": 5, "height": 3, "colors": 6, "bits_per_index": 3, "coder": "packed", "version": 1,
        "header_bytes": 28, "palette_bytes": 18, "index_bytes": 6, "trailer_bytes": 4,
        "total_bytes": 56, "formula_bits": 24 * 6 + 15 * 3, "alpha": False, "coded_palette": False,
    }
