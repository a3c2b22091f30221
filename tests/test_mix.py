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
from kmcodec import container, entropy, mix
from kmcodec.errors import FormatError

from .spec_decoder import decode as spec_decode

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"

# name -> (width, height, colors, stripe_rows, file size, sha256), recorded
# once from the committed files (also in vectors/mix-README.md).
VECTORS = {
    "mix-k2-4x3": (4, 3, 2, None, 52, "a16baeb1ccbc543c90a0c02ca02bbb7a26e4b059e09b8f76c09bd10a0d2283db"),
    "mix-k1-9x4": (9, 4, 1, None, 48, "ce8ca2be3c00da4dd027e146f64e7e0428d90e23522b5b9866ea76bf90b9f53e"),
    "mix-k16-coffee-48x40": (48, 40, 16, None, 363, "a59b02088084f3232387e9c7826daa4b9d0227f386038b6008ced511076e1699"),
    "mix-k256-astronaut-64x64": (64, 64, 256, None, 3337,
                                 "acab67273d7d121aa904eb8a2a08bb6f28e328cf5fb2f8203e6f8805fa679efc"),
    "mix-k3-shapes-60x40": (60, 40, 3, None, 59, "6b9b7b2b1e97bf182e6b3edd0ea90ae4cc3d11a57f4e162a04161e2fb22a28e4"),
    "mix-text-64x40": (64, 40, 4, None, 121, "d457f321cc18f68f0260aa9d60fc900644a60fd13434b7d3eb41aae51bec8dff"),
    "mix-tiles-k6-48x16": (48, 16, 6, None, 127, "eb39d57f366b8ae43756193ee57b25eb3b94ade583839ed66311e8dc1b099855"),
    "mix-tiles-rows16-k6-24x32": (24, 32, 6, 16, 203,
                                  "b8cef69acad61b3432226b678798cb95a43fb38ccc6ff91da3a3164563f66894"),
    "mix-k5-noise-40x30-rows7": (40, 30, 5, 7, 483, "aaac502e033dc9f218ba43de7549285bedec508e586986dca788c5c2b603044c"),
    "mix-k4-rows1-23x9": (23, 9, 4, 1, 151, "0b0a6f98a853b1818f225c89906a7677ce354a9f98439ac705ef2335558972a5"),
    "mix-columns-k5-23x37-rows10": (23, 37, 5, 10, 129,
                                    "5b1eea660efb62d4e671afe59cff7ab8a9defa8ac88546573c13bc40254a3b32"),
    "mix-k300-37x23": (37, 23, 300, None, 1649, "eb194c1c8816965aa90819e80d266d3d6b355f9318acbb814413bc6f4ba55ca6"),
    "mix-k257-g4-40x30": (40, 30, 257, None, 2077, "00984e28e2c1c47b0705de61320d19e766da8cbe6449b137532874d23aecccba"),
    "mix-k2049-g3-64x48": (64, 48, 2049, None, 10483,
                           "b2ff94ca43967a875b8d6becfdeedb684785862f5dc2e93a84c924a58c43b415"),
    "mix-alpha-sprite-k13-48x40": (48, 40, 13, None, 188,
                                   "9d630127cd8f4175beedc66413002c90e53ecb372c89b9a3d8a5b54f71954f07"),
    "mix-alpha-k129-g3-40x30": (40, 30, 129, None, 1666,
                                "1999fff45195482c9e73057ca380e807661b0bc1422ca8e15a3768af6f78f2a0"),
    "mix-k16385-g2-48x32": (48, 32, 16385, None, 51957,
                            "a1fece8d59fc7a281463458faad811ceef60b22bddd4da8ba4dff31f784ca095"),
    "mix-alpha-k32769-g1-48x32": (48, 32, 32769, None, 134063,
                                  "eb273bda87002d352bb2414978946fabd24880139415e9c29431175557e030bb"),
}


#: Vectors made in a set orientation (the others in the encoder's choice).
ORIENTED = {"mix-columns-k5-23x37-rows10": mix.COLUMNS, "mix-tiles-rows16-k6-24x32": mix.ROWS,
            "mix-k5-noise-40x30-rows7": mix.ROWS, "mix-k4-rows1-23x9": mix.ROWS}


def _file(palette: np.ndarray, indices: np.ndarray, rows: int | None = None, orientation: int | None = None) -> bytes:
    """A coder-2 file built field by field from the spec's table."""
    height, width = indices.shape
    version = 2 if palette.shape[1] == 4 else 1
    payload = mix.encode_payload(indices, palette, rows, orientation)
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
    assert _file(palette, indices, rows, ORIENTED.get(name)) == data


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
       st.sampled_from([None, mix.ROWS, mix.COLUMNS]), st.integers(0, 2**32 - 1))
def test_round_trip_any_indices(k, width, height, rows, alpha, orientation, seed):
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (k, 4 if alpha else 3), dtype=np.uint8)
    indices = rng.integers(0, k, (height, width))
    indices[rng.random((height, width)) < 0.5] = 0
    indices = indices.astype(np.uint8 if k <= 256 else np.uint16)
    data = _file(palette, indices, rows, orientation)
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
    data = _file(palette, indices, rows, mix.ROWS)
    assert np.array_equal(kmcodec.decode_palette(data)[1], indices)
    # Each stripe alone codes to the bytes it has inside the whole payload:
    # nothing a stripe changed leaks into the next one's model.
    payload = data[28 + 120 + 1 : -4]
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
    payload = b"\0" + struct.pack("<I", 1) + sizes.astype("<u4").tobytes() + streams
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


@pytest.mark.parametrize("name", ["mix-k16-coffee-48x40", "mix-k5-noise-40x30-rows7", "mix-columns-k5-23x37-rows10"])
@pytest.mark.parametrize("change", ["one byte more", "one byte less"])
def test_a_stream_is_exactly_as_long_as_its_decoding_reads(name, change):
    data = (VECTORS_DIR / f"{name}.kmc").read_bytes()
    colors = VECTORS[name][2]
    payload = bytearray(data[28 + 3 * colors : -4])
    (rows,) = struct.unpack_from("<I", payload, 1)
    first = struct.unpack_from("<I", payload, 5)[0]
    coded_height = VECTORS[name][0] if payload[0] == mix.COLUMNS else VECTORS[name][1]
    at = 1 + 4 + 4 * -(-coded_height // rows) + first
    if change == "one byte more":
        payload[at:at] = b"\0"
        struct.pack_into("<I", payload, 5, first + 1)
    else:
        del payload[at - 1]
        struct.pack_into("<I", payload, 5, first - 1)
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
    payload = b"\0" + struct.pack("<II", 3, 8) + b"\xff" * 8
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
    payload = bytearray(mix.encode_payload(np.zeros((height, 2), np.uint8), palette, 1, mix.ROWS))
    lengths = entropy.payload_layout(bytes(payload[1:]), height, "mix")[1]
    start = 1 + 4 + 4 * height
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


def _wrapped(payload: bytes, width: int, height: int, palette: np.ndarray) -> bytes:
    body = struct.pack("<4sBBBBIIIQ", b"KMCF", 1, 2, container.bits_for_colors(len(palette)), 0, width, height,
                       len(palette), len(payload)) + palette.tobytes() + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_orientation_1_codes_the_transpose():
    """Spec 13: after the orientation byte 1 come exactly the stripes of the
    transposed image, whose rows are the stored image's columns."""
    rng = np.random.default_rng(8)
    palette = rng.integers(0, 256, (7, 3), dtype=np.uint8)
    indices = rng.integers(0, 7, (9, 20)).astype(np.uint8)
    payload = mix.encode_payload(indices, palette, 4, mix.COLUMNS)
    assert payload == b"\x01" + entropy.encode_payload(indices.T, 7, palette, 4, engine="mix")
    data = _wrapped(payload, 20, 9, palette)
    assert np.array_equal(kmcodec.decode_palette(data)[1], indices)
    width, height, _, decoded = spec_decode(data)
    assert (width, height) == (20, 9) and np.array_equal(np.array(decoded).reshape(9, 20), indices)
    assert kmcodec.info(data).details == {"orientation": 1, "stripes": 5, "stripe_table_bytes": 24}


def test_the_encoder_keeps_the_smaller_orientation():
    """Stripes and their transpose: each is coded in its cheaper orientation."""
    stripes, palette = _stripes()
    for indices in (stripes, np.ascontiguousarray(stripes.T)):
        sizes = [len(mix.encode_payload(indices, palette, None, o)) for o in (mix.ROWS, mix.COLUMNS)]
        chosen = mix.encode_payload(indices, palette)
        assert sizes[0] != sizes[1]
        assert len(chosen) == min(sizes) and chosen[0] == int(np.argmin(sizes))


def _stripes(width: int = 40, height: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Vertical stripes, a few pixels changed, and 5 colours."""
    rng = np.random.default_rng(2)
    stripes = np.tile((np.arange(width) * 7 % 5).astype(np.uint8)[None, :], (height, 1))
    stripes[rng.random((height, width)) < 0.02] = 4
    return stripes, rng.integers(0, 256, (5, 3), dtype=np.uint8)


def test_a_large_image_is_oriented_by_a_crop(monkeypatch):
    """Above TRIAL_PIXELS the encoder codes a centred crop of at most
    TRIAL_PIXELS both ways, then the whole image once, in the crop's
    better orientation."""
    monkeypatch.setattr(mix, "TRIAL_PIXELS", 600)
    stripes, palette = _stripes(60, 40)
    chosen_ones = []
    for indices in (stripes, np.ascontiguousarray(stripes.T)):
        height, width = indices.shape
        rows = height  # at most 1024
        cols = 600 // rows
        crop = indices[:, (width - cols) // 2 : (width - cols) // 2 + cols]
        sizes = [len(mix.encode_payload(crop, palette, None, o)) for o in (mix.ROWS, mix.COLUMNS)]
        chosen = mix.choose_orientation(indices, palette)
        assert chosen == int(np.argmin(sizes))  # ROWS on a tie
        chosen_ones.append(chosen)
        payload = mix.encode_payload(indices, palette)
        assert payload == mix.encode_payload(indices, palette, None, chosen)
        assert np.array_equal(kmcodec.decode_palette(_wrapped(payload, width, height, palette))[1], indices)
    assert chosen_ones == [mix.ROWS, mix.COLUMNS]


AFTER = "mix payload after the orientation byte"


@pytest.mark.parametrize(("payload", "message", "spec_message"), [
    (b"", r"mix payload: 0 bytes, too short for the orientation field \(1 byte\)", "no orientation byte"),
    (b"\x02" + struct.pack("<II", 3, 8) + b"\xff" * 8, r"mix payload: orientation is 2; it must be 0 \(rows\) or 1",
     "orientation must be 0 or 1, got 2"),
    (b"\x00", AFTER + ": 0 bytes, too short for the stripe_rows field", "shorter than 4"),
    # 3 rows a stripe: 1 stripe of the stored 3 rows, 2 of the transpose's 5.
    (b"\x01" + struct.pack("<II", 3, 0), AFTER + r": 8 bytes cannot hold the stripe table of 2 stripes \(12 bytes"
     + r" for stripe_rows 3 and the transposed image's height 5\)", "does not fit"),
    (b"\x01" + struct.pack("<II", 3, 8) + b"\0" * 8, AFTER + ": stripe lengths sum to 8 bytes but 4 follow",
     "do not add up"),
])
def test_a_bad_orientation_field(payload, message, spec_message):
    data = _wrapped(payload, 5, 3, np.zeros((1, 3), np.uint8))
    with pytest.raises(FormatError, match=message):
        kmcodec.decode(data)
    with pytest.raises(FormatError, match=message):
        kmcodec.info(data)
    with pytest.raises(ValueError, match=spec_message):
        spec_decode(data)


def test_kmc_info_shows_the_orientation(tmp_path, capsys):
    from kmcodec.cli import main

    palette = np.zeros((1, 3), np.uint8)
    path = tmp_path / "t.kmc"
    path.write_bytes(_wrapped(mix.encode_payload(np.zeros((3, 8), np.uint8), palette, 1, mix.COLUMNS), 8, 3, palette))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(orientation 1: columns as rows; stripe_rows and 8 stripe lengths)" in out
    assert f"{1 + 4 + 4 * 8:>12,} bytes  (orientation 1" in out


@pytest.mark.parametrize("orientation", [mix.ROWS, mix.COLUMNS])
def test_a_payload_too_big_for_memory_is_a_pixel_limit(monkeypatch, orientation):
    """The compiled coder writes uint16 indices: a K <= 256 result (uint8)
    and a transposed payload (turned back) each need a second array, and
    memory for both is checked before either is allocated."""
    from kmcodec import coder

    palette = np.zeros((1, 3), np.uint8)
    data = _wrapped(mix.encode_payload(np.zeros((3, 8), np.uint8), palette, None, orientation), 8, 3, palette)
    monkeypatch.setattr(coder, "fits_in_memory", lambda nbytes: nbytes < 24 * 3)
    monkeypatch.setattr(mix, "fits_in_memory", coder.fits_in_memory)
    with pytest.raises(kmcodec.PixelLimitError, match="more than this machine's memory"):
        kmcodec.decode(data)
    monkeypatch.setattr(mix, "fits_in_memory", lambda nbytes: True)
    assert kmcodec.decode_palette(data)[1].shape == (3, 8)


def test_a_transposed_stream_error_names_the_stored_pixel():
    """K = 1, 0xff: a stripe's first pixel fails.  The transpose of an
    8 x 3 image in stripes of one row: stripe 1 is the stored column 1,
    which starts at the stored pixel (x=1, y=0)."""
    palette = np.zeros((1, 3), np.uint8)
    good = mix.encode_payload(np.zeros((3, 8), np.uint8), palette, 1, mix.COLUMNS)
    lengths = entropy.payload_layout(good[1:], 8, "mix")[1]
    payload = bytearray(good)
    at = 1 + 4 + 4 * 8 + lengths[0]
    payload[at : at + lengths[1]] = b"\xff" * lengths[1]
    with pytest.raises(FormatError, match=r"stripe 1 decodes to a literal where every palette entry is a candidate"
                                          r" at pixel \(x=1, y=0\)"):
        kmcodec.decode(_wrapped(bytes(payload), 8, 3, palette))
