"""Property-based fuzzing of the decoder: mutated files fail cleanly.

Strategies mutate the frozen vectors and freshly encoded files by bit
flips, truncation, insertion, deletion and header-field edits with the
CRC recomputed (so that the checks behind the checksum are reached).  The
only acceptable exception is kmcodec's own; memory stays bounded by the
pixel limit.  ``tests/fuzz/fuzz_decode.py`` runs the same property under
atheris for long runs.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import kmcodec

from .fuzz.fuzz_decode import PIXEL_LIMIT, test_one_input as decode_property
from .mutations import BYTE_MUTATIONS, mutate_bytes

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.kmc"))
SMALL = [p.read_bytes() for p in VECTORS if p.stat().st_size < 20_000]
HEADER = struct.Struct("<4sBBBBIIIQ")
FIELDS = ["magic", "version", "coder", "bits", "flags", "width", "height", "colors", "payload"]
LIMITS = {"version": 255, "coder": 255, "bits": 255, "flags": 255,
          "width": 2**32 - 1, "height": 2**32 - 1, "colors": 2**32 - 1, "payload": 2**64 - 1}


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    # A valid file may describe a huge image; the limit bounds what decoding
    # any mutated file may allocate.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PIXEL_LIMIT)


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SMALL)))
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "field", "field+crc"]))
    if kind in BYTE_MUTATIONS:
        data = mutate_bytes(draw, data, kind, 16)
    else:
        values = dict(zip(FIELDS, HEADER.unpack_from(data)))
        name = draw(st.sampled_from(list(LIMITS)))
        values[name] = draw(st.one_of(st.integers(0, 3), st.integers(0, LIMITS[name]),
                                      st.just(values[name] + 1), st.just(max(values[name] - 1, 0))))
        body = HEADER.pack(*(values[f] for f in FIELDS)) + bytes(data[HEADER.size : -4])
        data = bytearray(with_crc(body) if kind == "field+crc" else body + bytes(data[-4:]))
    return bytes(data)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated())
def test_mutations_fail_cleanly_and_in_bounded_memory(data):
    tracemalloc.start()
    try:
        decode_property(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Never more than the pixel limit allows: indices, palette table and the
    # 4-byte output pixels, plus the input, plus slack.
    assert peak <= 16 * PIXEL_LIMIT + 8 * len(data) + (1 << 20)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_random_bytes(data):
    decode_property(data)
    decode_property(b"KMCF" + data)


def test_payload_corruption_behind_a_fixed_crc_is_caught():
    # Every byte of the payload and palette altered, CRC recomputed: the
    # file is then either valid (any palette, indices within K) or refused.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    data = kmcodec.encode(image, k=5)
    for i in range(28, len(data) - 4):
        body = bytearray(data[:-4])
        body[i] ^= 0xFF
        decode_property(with_crc(bytes(body)))


def test_harness_runs_on_the_seed_corpus():
    for path in VECTORS:
        decode_property(path.read_bytes())
