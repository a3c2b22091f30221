"""Bit packing: hand-computed cases, an exhaustive sweep against bitarray."""

from __future__ import annotations

import numpy as np
import pytest
from bitarray import bitarray
from bitarray.util import int2ba
from hypothesis import given
from hypothesis import strategies as st

from kmcodec import bitpack


def reference_pack(values, bits: int) -> bytes:
    """Independent packer: bitarray, big-endian bit order, zero padding."""
    stream = bitarray(endian="big")
    for v in values:
        if bits:
            stream.extend(int2ba(int(v), length=bits, endian="big"))
    stream.fill()
    return stream.tobytes()


@pytest.mark.parametrize(
    "values, bits, expected",
    [
        ([1, 0, 1, 1], 1, bytes([0b1011_0000])),
        ([3, 0, 2], 2, bytes([0b1100_1000])),
        ([5, 1], 3, bytes([0b1010_0100])),
        ([5, 1, 7], 3, bytes([0b1010_0111, 0b1000_0000])),
        ([0xA, 0x5, 0xF], 4, bytes([0xA5, 0xF0])),
        ([0x1FF, 0], 9, bytes([0xFF, 0x80, 0x00])),
        ([0x123, 0x456], 12, bytes([0x12, 0x34, 0x56])),
        ([0x1234], 16, bytes([0x12, 0x34])),
        ([7, 7, 7], 0, b""),
    ],
)
def test_hand_computed(values, bits, expected):
    idx = np.array(values, dtype=bitpack.index_dtype(bits))
    if bits == 0:
        idx[:] = 0
    assert bitpack.pack(idx, bits) == expected
    assert bitpack.unpack(expected, len(values), bits).tolist() == idx.tolist()


@pytest.mark.parametrize("bits", range(17))
def test_every_width_and_length_matches_bitarray(bits):
    rng = np.random.default_rng(bits)
    for n in range(41):
        values = rng.integers(0, 1 << bits, size=n).astype(bitpack.index_dtype(bits))
        if n:
            values[0] = (1 << bits) - 1  # the largest value must survive too
        packed = bitpack.pack(values, bits)
        assert packed == reference_pack(values, bits), (bits, n)
        assert len(packed) == bitpack.packed_size(n, bits) == (n * bits + 7) // 8
        out = bitpack.unpack(packed, n, bits)
        assert out.dtype == bitpack.index_dtype(bits)
        assert np.array_equal(out, values)


@pytest.mark.parametrize("bits", [3, 9, 11, 13, 15])
def test_chunk_boundaries(bits, monkeypatch):
    # The bit-matrix path works in chunks; shrink them so the seams are hit.
    monkeypatch.setattr(bitpack, "_CHUNK", 16)
    rng = np.random.default_rng(0)
    values = rng.integers(0, 1 << bits, size=101).astype(bitpack.index_dtype(bits))
    packed = bitpack.pack(values, bits)
    assert packed == reference_pack(values, bits)
    assert np.array_equal(bitpack.unpack(packed, values.size, bits), values)


@pytest.mark.parametrize("n, bits, pad", [(1, 1, 7), (8, 1, 0), (3, 3, 7), (5, 3, 1), (1, 9, 7), (4, 12, 0)])
def test_padding_bits(n, bits, pad):
    assert bitpack.padding_bits(n, bits) == pad


def test_unpack_rejects_wrong_length():
    with pytest.raises(ValueError, match="got 3 bytes, 5 indices of 3 bits need 2"):
        bitpack.unpack(b"\x00\x00\x00", 5, 3)


@given(st.integers(0, 16).flatmap(
    lambda b: st.tuples(st.just(b), st.lists(st.integers(0, (1 << b) - 1), max_size=200))))
def test_roundtrip_property(case):
    bits, values = case
    idx = np.array(values, dtype=bitpack.index_dtype(bits))
    packed = bitpack.pack(idx, bits)
    assert packed == reference_pack(values, bits)
    assert bitpack.unpack(packed, len(values), bits).tolist() == values
