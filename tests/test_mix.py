"""Coder 2 ("mix", spec section 13): frozen vectors decoded by kmcodec and
by the spec-only decoder, exact round trips, stripe layouts that cannot
make decoding expensive, and hostile streams.

The registry-wide tests of ``test_coders.py`` (truncations, flipped bytes,
mutations, ``--coder`` by name and number, the plugin) cover coder 2 too.
"""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import kmcodec
from kmcodec import container, entropy
from kmcodec.errors import FormatError

from .spec_decoder import decode as spec_decode

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"

# name -> (width, height, colors, stripe_rows, file size, sha256), recorded
# once from the committed files (also in vectors/mix-README.md).
VECTORS = {
    "mix-k2-4x3": (4, 3, 2, None, 51, "ae94bd520cd1d791bc8456b724fda83322a07c408fe9999ff06832836719b9d1"),
    "mix-k1-9x4": (9, 4, 1, None, 47, "8fe4dc7c078cfc795d72567d53a0fa48a0843413a83ed5a587a8e48afa44f990"),
    "mix-k16-coffee-48x40": (48, 40, 16, None, 367, "428ac9fafb0f254e516b9bf3a6be7242b1691739d950bfaa5024e09142940dfc"),
    "mix-k256-astronaut-64x64": (64, 64, 256, None, 3345,
                                 "1c5ae8936b1a57a0e98801d43ed0cd18ad6b2e5367611106fcc00ce42eaaf68a"),
    "mix-k3-shapes-60x40": (60, 40, 3, None, 59, "11dc9de76332a96ba424b68b7ee704e0a39e5a4c11a12313b43a0f276bc08398"),
    "mix-text-64x40": (64, 40, 4, None, 133, "a3020d25f2effc9e800bde1fddd0a284f41ac76bab9d4ac783928f5ceeaf50ad"),
    "mix-tiles-k6-48x16": (48, 16, 6, None, 126, "4c835f759447eed014fa8c000d108757707761b0ecb91ea743cac6b2ebe309b2"),
    "mix-tiles-rows16-k6-24x32": (24, 32, 6, 16, 200,
                                  "357ddf0c2fb128eed39218bb61ba0d94465a8dd05cece38977940a49d3c8a363"),
    "mix-k5-noise-40x30-rows7": (40, 30, 5, 7, 478, "f2772fb94b8d143a0fcae89c4b0f15b5dae5b076063b8f1c7e6c997854fac1d7"),
    "mix-k4-rows1-23x9": (23, 9, 4, 1, 150, "654fa0809297aeed8dee86674c57200ba91a6aa88292aac54f073160ffc2e232"),
    "mix-k300-37x23": (37, 23, 300, None, 1653, "cb329dc109d2e581fb45b0f7f550a5ed1223284eb0c364d34d33612ff6a71e22"),
    "mix-k257-g4-40x30": (40, 30, 257, None, 2075, "7eafaa201ebbfb0d8c7f26f3cc670ffab89ce0e02e22c785f5f0a55b0030efe6"),
    "mix-k2049-g3-64x48": (64, 48, 2049, None, 10487,
                           "5d39fca65aee9a87433b3cdd1639f14c85f4cd0fc34d46c25c345c60cb6cd683"),
    "mix-alpha-sprite-k13-48x40": (48, 40, 13, None, 188,
                                   "300c3194ea70bb4db7c54bf1877b593bcf8013422de5e686b4d20a621e49799f"),
    "mix-alpha-k129-g3-40x30": (40, 30, 129, None, 1666,
                                "91810c191c0a5acc9984e56d59847a8732c8c4d249edf3d8f839ced037e65bac"),
    "mix-k16385-g2-48x32": (48, 32, 16385, None, 51957,
                            "1da5b81dd8db2976211efb3c4632ddfb793aa04bc282cfa5cc51196284182727"),
    "mix-alpha-k32769-g1-48x32": (48, 32, 32769, None, 134062,
                                  "38770aa5e78c722278350da0c13a67e9a8fe08a72d9609b9ad847784afba0ca2"),
}


def _file(palette: np.ndarray, indices: np.ndarray, rows: int | None = None) -> bytes:
    """A coder-2 file built field by field from the spec's table."""
    height, width = indices.shape
    version = 2 if palette.shape[1] == 4 else 1
    payload = entropy.encode_payload(indices, len(palette), palette, rows, engine="mix")
    body = struct.pack("<4sBBBBIIIQ", b"KMCF", version, 2, container.bits_for_colors(len(palette)), version - 1,
                       width, height, len(palette), len(payload)) + palette.tobytes() + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def _expected(name: str) -> np.ndarray:
    return np.asarray(Image.open(VECTORS_DIR / f"{name}.png"))


def test_vector_set_is_complete():
    assert {p.stem for p in VECTORS_DIR.glob("mix-*.kmc")} == set(VECTORS)
    assert {p.stem for p in VECTORS_DIR.glob("mix-*.png")} == set(VECTORS)
    listed = (VECTORS_DIR / "mix-README.md").read_text()
    for name, (*_, digest) in VECTORS.items():
        assert f"`{name}.kmc`" in listed and digest in listed


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_frozen_vector(name):
    width, height, colors, rows, size, digest = VECTORS[name]
    data = (VECTORS_DIR / f"{name}.kmc").read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest)
    meta = kmcodec.info(data)
    assert (meta.coder, meta.width, meta.height, meta.colors) == ("mix", width, height, colors)
    expected = _expected(name)
    assert np.array_equal(kmcodec.decode(data), expected)
    # Re-encoding the indices reproduces the file byte for byte.
    palette, indices = kmcodec.decode_palette(data)
    assert np.array_equal(palette[indices], expected)
    assert _file(palette, indices, rows) == data


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_the_spec_decoder_agrees(name):
    """spec_decoder.py follows spec section 13 alone, not kmcodec's code."""
    data = (VECTORS_DIR / f"{name}.kmc").read_bytes()
    width, height, palette, indices = spec_decode(data)
    pixels = np.array(palette, np.uint8)[np.array(indices)].reshape(height, width, -1)
    assert np.array_equal(pixels, _expected(name))


@pytest.mark.parametrize("k", [1, 2, 3, 16, 256, 257, 1000])
def test_same_pixels_as_packed_and_smaller_than_coder_1(k):
    rgb = np.asarray(Image.open(Path(__file__).resolve().parent.parent / "samples" / "chelsea.png")
                     .convert("RGB"))[:90, :120]
    q = kmcodec.quantize(rgb, k, seed=3)
    packed, mixed = q.to_bytes("packed"), q.to_bytes("mix")
    assert mixed[5] == 2
    assert np.array_equal(kmcodec.decode(mixed), kmcodec.decode(packed))
    if k >= 16:
        assert len(mixed) < len(q.to_bytes("entropy"))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 70), st.integers(1, 19), st.integers(1, 20), st.integers(1, 25), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_round_trip_any_indices(k, width, height, rows, alpha, seed):
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (k, 4 if alpha else 3), dtype=np.uint8)
    indices = rng.integers(0, k, (height, width))
    indices[rng.random((height, width)) < 0.5] = 0
    indices = indices.astype(np.uint8 if k <= 256 else np.uint16)
    data = _file(palette, indices, rows)
    assert np.array_equal(kmcodec.decode_palette(data)[1], indices)


def test_repeated_patterns_cost_little():
    """The context tables and the match (spec 13.3) learn a repeated tile:
    100 copies of a random 8 x 8 tile cost far less than 100 times one copy."""
    rng = np.random.default_rng(3)
    tile = rng.integers(0, 16, (8, 8)).astype(np.uint8)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    one = len(entropy.encode_payload(tile, 16, palette, engine="mix"))
    many = len(entropy.encode_payload(np.tile(tile, (10, 10)), 16, palette, engine="mix"))
    assert many < 10 * one, (one, many)


@pytest.mark.parametrize("sample", ["coffee.png", "astronaut.png"])
def test_the_match_finds_a_repeated_photograph(sample):
    """A photograph's small neighbourhoods recur all over it, so the context
    tables cannot tell its copies apart; the match (spec 13.3) follows the
    copy at its offset.  Six copies side by side cost about 1.3 times one
    (2.5 to 2.8 times before the match)."""
    src = Path(__file__).resolve().parent.parent / "samples" / sample
    crop = np.ascontiguousarray(np.asarray(Image.open(src).convert("RGB"))[100:148, 100:164])
    q = kmcodec.quantize(crop, 16, 0)
    one = len(entropy.encode_payload(q.indices, len(q.palette), q.palette, engine="mix"))
    many = np.tile(q.indices, (1, 6))
    data = entropy.encode_payload(many, len(q.palette), q.palette, engine="mix")
    assert len(data) < 1.6 * one, (one, len(data))
    out = np.empty_like(many)
    entropy.decode_payload(data, 6 * 64, 48, q.palette, out, engine="mix")
    assert np.array_equal(out, many)


def _best(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_one_row_stripes_cost_about_one_stripe():
    """A 1 x 40000 image in 40000 stripes against the same in one stripe:
    after a small stripe only the table entries it changed are made fresh
    again (spec 13.6), not the 5 MB of tables."""
    n = 40_000
    rng = np.random.default_rng(5)
    indices = (np.arange(n)[:, None] // 7 % 16).astype(np.uint8)
    indices[rng.random((n, 1)) < 0.2] = 3
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    striped = entropy.encode_payload(indices, 16, palette, 1, engine="mix")
    whole = entropy.encode_payload(indices, 16, palette, n, engine="mix")
    out = np.empty_like(indices)
    entropy.decode_payload(whole, 1, n, palette, out, engine="mix")
    t_striped = _best(lambda: entropy.decode_payload(striped, 1, n, palette, out, engine="mix"))
    assert np.array_equal(out, indices)
    t_whole = _best(lambda: entropy.decode_payload(whole, 1, n, palette, out, engine="mix"))
    assert t_striped < 10 * t_whole + 0.05, (t_striped, t_whole)
    e_striped = _best(lambda: entropy.encode_payload(indices, 16, palette, 1, engine="mix"))
    e_whole = _best(lambda: entropy.encode_payload(indices, 16, palette, n, engine="mix"))
    assert e_striped < 10 * e_whole + 0.05, (e_striped, e_whole)


@pytest.mark.parametrize("rows", [1, 3, 4096 // 7, 4096 // 7 + 1, 50])
def test_stripes_on_either_side_of_the_small_stripe_limit(rows):
    """Stripes of at most 4096 pixels reset only what they changed, larger
    ones everything: both give the model the spec asks, so the stripes of
    one file decode alike whatever came before them."""
    rng = np.random.default_rng(rows)
    height, width = 1200, 7
    indices = rng.integers(0, 40, (height, width)).astype(np.uint8)
    indices[:, 3] = indices[:, 2]
    palette = rng.integers(0, 256, (40, 3), dtype=np.uint8)
    data = _file(palette, indices, rows)
    assert np.array_equal(kmcodec.decode_palette(data)[1], indices)
    # Each stripe alone codes to the bytes it has inside the whole payload:
    # nothing a stripe changed leaks into the next one's model.
    payload = data[28 + 120 : -4]
    _, lengths = entropy.payload_layout(payload, height)
    at = 4 + 4 * len(lengths)
    for s, length in enumerate(lengths):
        alone = entropy.encode_payload(indices[s * rows : (s + 1) * rows], 40, palette, rows, engine="mix")
        assert payload[at : at + length] == alone[8:], s
        at += length


@pytest.mark.parametrize("fill", ["empty", "zeros", "ones", "noise"])
def test_many_garbage_stripes_decode_or_fail_quickly(fill):
    width, height, colors = 2, 20_000, 5
    rng = np.random.default_rng(17)
    sizes = {"empty": np.zeros(height, np.int64), "zeros": np.full(height, 3),
             "ones": np.full(height, 6), "noise": rng.integers(0, 12, height)}[fill]
    streams = {"empty": b"", "zeros": bytes(int(sizes.sum())), "ones": b"\xff" * int(sizes.sum()),
               "noise": rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8).tobytes()}[fill]
    payload = struct.pack("<I", 1) + sizes.astype("<u4").tobytes() + streams
    palette = rng.integers(0, 256, (colors, 3), dtype=np.uint8)
    body = struct.pack("<4sBBBBIIIQ", b"KMCF", 1, 2, 3, 0, width, height, colors, len(payload))
    body += palette.tobytes() + payload
    data = body + zlib.crc32(body).to_bytes(4, "little")
    kmcodec.decode(_file(palette, np.zeros((4, 4), np.uint8)))  # compiled before timing
    start = time.perf_counter()
    if fill == "empty":  # a stream of no bytes: every pixel reads past its end
        with pytest.raises(FormatError, match="the coded data is corrupt"):
            kmcodec.decode_palette(data)
    else:
        try:
            indices = kmcodec.decode_palette(data)[1]
        except FormatError as exc:
            error = str(exc)
        else:
            error = ""
            assert indices.shape == (height, width) and int(indices.max()) < colors
        assert error == "" or "the coded data is corrupt" in error
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("name", ["mix-k16-coffee-48x40", "mix-k5-noise-40x30-rows7"])
@pytest.mark.parametrize("change", ["one byte more", "one byte less"])
def test_a_stream_is_exactly_as_long_as_its_decoding_reads(name, change):
    data = (VECTORS_DIR / f"{name}.kmc").read_bytes()
    colors = VECTORS[name][2]
    payload = bytearray(data[28 + 3 * colors : -4])
    (rows,) = struct.unpack_from("<I", payload, 0)
    first = struct.unpack_from("<I", payload, 4)[0]
    stripes = -(-VECTORS[name][1] // rows)
    at = 4 + 4 * stripes + first
    if change == "one byte more":
        payload[at:at] = b"\0"
        struct.pack_into("<I", payload, 4, first + 1)
    else:
        del payload[at - 1]
        struct.pack_into("<I", payload, 4, first - 1)
    head = bytearray(data[: 28 + 3 * colors])
    struct.pack_into("<Q", head, 20, len(payload))
    body = bytes(head) + bytes(payload)
    bad = body + zlib.crc32(body).to_bytes(4, "little")
    with pytest.raises(FormatError, match="stripe 0"):
        kmcodec.decode(bad)
    with pytest.raises(ValueError, match="stripe 0"):
        spec_decode(bad)


def test_a_literal_with_no_entry_left_is_corrupt():
    """K = 1: a stream of 0xff bytes says 'not candidate 0' (the only entry,
    first in the cell's order, so a candidate from the first pixel on), which
    leaves no entry for a literal (spec 13.3, 13.5)."""
    palette = np.zeros((1, 3), np.uint8)
    payload = struct.pack("<II", 3, 8) + b"\xff" * 8
    body = struct.pack("<4sBBBBIIIQ", b"KMCF", 1, 2, 0, 0, 3, 3, 1, len(payload)) + palette.tobytes() + payload
    data = body + zlib.crc32(body).to_bytes(4, "little")
    with pytest.raises(FormatError, match=r"mix payload: stripe 0 decodes to a literal where every palette entry"
                                          r" is a candidate at pixel \(x=0, y=0\); the coded data is corrupt"):
        kmcodec.decode(data)
    with pytest.raises(ValueError, match="left = 0"):
        spec_decode(data)


@pytest.mark.parametrize("bad", [[5], [1_998], [7, 1_000]])
def test_the_error_names_the_first_bad_stripe_and_its_pixel(bad):
    """As coder 1's: one-row stripes of a K = 1 image, some overwritten
    with 0xff; the first of them is named, with the pixel where it fails."""
    height, palette = 2_000, np.zeros((1, 3), np.uint8)
    payload = bytearray(entropy.encode_payload(np.zeros((height, 2), np.uint8), 1, palette, 1, engine="mix"))
    lengths = entropy.payload_layout(bytes(payload), height, "mix")[1]
    start = 4 + 4 * height
    for s in bad:
        at = start + sum(lengths[:s])
        payload[at : at + lengths[s]] = b"\xff" * lengths[s]
    body = struct.pack("<4sBBBBIIIQ", b"KMCF", 1, 2, 0, 0, 2, height, 1, len(payload)) + palette.tobytes() + payload
    with pytest.raises(FormatError, match=rf"stripe {bad[0]} decodes to a literal where every palette entry is a"
                                          rf" candidate at pixel \(x=0, y={bad[0]}\)"):
        kmcodec.decode_palette(body + zlib.crc32(body).to_bytes(4, "little"))


def test_cli_encode_with_coder_2(tmp_path, capsys):
    from kmcodec.cli import main

    src = Path(__file__).resolve().parent.parent / "samples" / "shapes.png"
    for i, coder in enumerate(("mix", "2")):
        out = tmp_path / f"s{i}.kmc"
        assert main(["encode", str(src), "-k", "8", "--coder", coder, "-o", str(out)]) == 0
        assert out.read_bytes()[5] == 2
    assert (tmp_path / "s0.kmc").read_bytes() == (tmp_path / "s1.kmc").read_bytes()
    assert main(["info", str(tmp_path / "s0.kmc")]) == 0
    assert "mix" in capsys.readouterr().out
