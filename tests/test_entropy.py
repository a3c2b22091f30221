"""Coder 1 ("entropy", spec section 9): exact round trips, frozen vectors,
hostile payloads, and the info/CLI surface."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import kmcodec
from kmcodec import container, entropy
from kmcodec.errors import FormatError, ParameterError

from .conftest import palette_image

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"

# name -> (width, height, colors, stripe_rows, file size, sha256).  Recorded
# once from the committed files; a mismatch means the coder drifted.
VECTORS = {
    "entropy-k1-9x4": (9, 4, 1, None, 47,
        "8af9c945444935b420c34f3e2ee4fe58b150128d90fcd284986bdec837a8bdf1"),
    "entropy-k3-shapes-60x40": (60, 40, 3, None, 59,
        "5983de3a2c5dab793a0de2511f0303e994b97aaed6a6621a7d1205c6916126ac"),
    "entropy-k5-noise-40x30-rows7": (40, 30, 5, 7, 500,
        "5c0f11ce72db8904cfd60d9fd4c30f1cd72adf4537d6495439c778b5a981a018"),
    "entropy-k16-coffee-48x40": (48, 40, 16, None, 378,
        "54c930121ffb0963f6b0fea8811525f72b35edf32b81b0587ffea7ca57f3e24d"),
    "entropy-k256-astronaut-64x64": (64, 64, 256, None, 3597,
        "1858df1eb91511cc1dce068d68ec115469898b531140d73cb7219d5e41b888c7"),
    "entropy-k300-37x23": (37, 23, 300, None, 1836,
        "326f52398fda0feee74addb17b1d8e190f8d57382b852a99f917f63da59a9044"),
    "entropy-k257-g4-40x30": (40, 30, 257, None, 2058,
        "1370986562c6df2798d0ef28a27754624334cf66250523f32455b7bd359a6cfd"),
    "entropy-k2048-g4-64x48": (64, 48, 2048, None, 10478,
        "45df01727be6917aa0700896ca7c3b29aaf89f96129f73b44e67fd24091f1714"),
    "entropy-k2049-g3-64x48": (64, 48, 2049, None, 10474,
        "d4ce93885fe0b9523a02991e271841c344113cabebadd39d368122b51c2d52a0"),
    "entropy-k4-rows1-23x9": (23, 9, 4, 1, 147,
        "a1a6f3c265b75cb8a26d95724650a9deb882a345fd9c3d428603f3dd3a6efbb4"),
    "entropy-k16385-g2-48x32": (48, 32, 16385, None, 51955,
        "dc491d982014235dff8973ee20dab3597886ef0897e6cd64184fdcb28a8c8d8a"),
}


def _file(palette, indices, rows=None) -> bytes:
    """A coder-1 file built field by field from the spec's table."""
    height, width = indices.shape
    payload = entropy.encode_payload(indices, len(palette), palette, rows)
    body = struct.pack("<4sBBBBIIIQ", b"KMCF", 1, 1, container.bits_for_colors(len(palette)), 0,
                       width, height, len(palette), len(payload)) + palette.tobytes() + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def _pixels_to_indices(rgb, palette):
    keys = lambda a: (a[..., 0].astype(np.int64) << 16) | (a[..., 1].astype(np.int64) << 8) | a[..., 2]  # noqa: E731
    return np.searchsorted(keys(palette), keys(rgb)).astype(np.uint8 if len(palette) <= 256 else np.uint16)


def test_vector_set_is_complete():
    assert {p.stem for p in VECTORS_DIR.glob("entropy-*.kmc")} == set(VECTORS)
    assert {p.stem for p in VECTORS_DIR.glob("entropy-*.png")} == set(VECTORS)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_frozen_vector(name):
    width, height, colors, rows, size, digest = VECTORS[name]
    data = (VECTORS_DIR / f"{name}.kmc").read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest)
    meta = kmcodec.info(data)
    assert (meta.coder, meta.width, meta.height, meta.colors) == ("entropy", width, height, colors)
    expected = np.asarray(Image.open(VECTORS_DIR / f"{name}.png").convert("RGB"))
    assert np.array_equal(kmcodec.decode(data), expected)
    palette = np.frombuffer(data, np.uint8, 3 * colors, 28).reshape(-1, 3)
    # Re-encoding the pixels reproduces the file byte for byte.
    assert _file(palette, _pixels_to_indices(expected, palette), rows) == data


@pytest.mark.parametrize("k", [1, 2, 3, 7, 16, 64, 255, 256, 257, 1000])
def test_same_pixels_as_packed(k):
    rgb = np.asarray(Image.open(Path(__file__).resolve().parent.parent / "samples" / "chelsea.png")
                     .convert("RGB"))[:90, :120]
    q = kmcodec.quantize(rgb, k, seed=3)
    packed, coded = q.to_bytes("packed"), q.to_bytes("entropy")
    assert coded[5] == 1 and packed[5] == 0
    assert np.array_equal(kmcodec.decode(coded), kmcodec.decode(packed))
    assert np.array_equal(kmcodec.decode_palette(coded)[1], q.indices)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.integers(1, 19), st.integers(1, 20), st.integers(1, 25),
       st.integers(0, 2**32 - 1))
def test_round_trip_any_indices(k, width, height, rows, seed):
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    # Blocks of equal values and noise, so that every question gets asked.
    indices = rng.integers(0, k, (height, width))
    indices[rng.random((height, width)) < 0.5] = 0
    indices = indices.astype(np.uint8 if k <= 256 else np.uint16)
    data = _file(palette, indices, rows)
    assert np.array_equal(kmcodec.decode_palette(data)[1], indices)


def test_multi_stripe_payload_layout():
    indices = np.tile(np.arange(4, dtype=np.uint8), (10, 3))
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    data = _file(palette, indices, rows=3)
    meta = kmcodec.info(data)
    assert meta.details == {"stripes": 4, "stripe_table_bytes": 4 + 4 * 4}
    assert meta.to_dict()["stripes"] == 4
    payload = data[28 + 12 : -4]
    rows, lengths = entropy.payload_layout(payload, 10)
    assert rows == 3 and sum(lengths) == len(payload) - 20


def test_default_stripes_are_about_a_megapixel():
    assert entropy.stripe_rows_for(4000, 3000) == 263
    assert entropy.stripe_rows_for(600, 400) == 400
    assert entropy.stripe_rows_for(2**21, 3) == 1


def test_same_seed_same_bytes():
    rgb = np.asarray(Image.open(Path(__file__).resolve().parent.parent / "samples" / "coffee.png")
                     .convert("RGB"))[:100, :100]
    assert kmcodec.encode(rgb, 32, 5, coder="entropy") == kmcodec.encode(rgb, 32, 5, coder="entropy")


def _resealed(data: bytes, payload: bytes) -> bytes:
    """``data`` with another payload, payload_bytes and CRC made consistent."""
    k = struct.unpack_from("<I", data, 16)[0]
    head = bytearray(data[: 28 + 3 * k])
    struct.pack_into("<Q", head, 20, len(payload))
    body = bytes(head) + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize("payload, match", [
    (b"", "too short for the stripe_rows field"),
    (b"\0\0\0\0", "stripe_rows is 0"),
    (struct.pack("<I", 1), "cannot hold the stripe table of 40 stripes"),
    (struct.pack("<II", 40, 5) + b"abc", "stripe lengths sum to 5 bytes but 3 follow"),
])
def test_bad_stripe_table(payload, match):
    data = (VECTORS_DIR / "entropy-k16-coffee-48x40.kmc").read_bytes()
    with pytest.raises(FormatError, match=match):
        kmcodec.decode(_resealed(data, payload))
    with pytest.raises(FormatError, match=match):
        kmcodec.info(_resealed(data, payload))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=400), st.sampled_from(sorted(VECTORS)))
def test_garbage_streams_decode_or_fail_cleanly(stream, name):
    """Any bytes behind a valid stripe table: pixels below K or FormatError."""
    data = (VECTORS_DIR / f"{name}.kmc").read_bytes()
    width, height, colors = struct.unpack_from("<III", data, 8)
    payload = struct.pack("<II", height, len(stream)) + stream
    try:
        _, indices = kmcodec.decode_palette(_resealed(data, payload))
    except FormatError as exc:
        message = str(exc)
        indices = None
    else:
        message = None
    if indices is None:
        assert message is not None and "the coded data is corrupt" in message
    else:
        assert indices.shape == (height, width) and int(indices.max()) < colors


def test_every_flipped_byte_is_caught():
    data = bytearray((VECTORS_DIR / "entropy-k5-noise-40x30-rows7.kmc").read_bytes())
    for i in range(len(data)):
        data[i] ^= 0x41
        with pytest.raises(kmcodec.KmcError):
            kmcodec.decode(bytes(data))
        data[i] ^= 0x41


def test_unknown_coder_name():
    q = kmcodec.quantize(np.zeros((2, 2, 3), np.uint8), 1)
    with pytest.raises(ParameterError, match=r"coder is 'zip'; it must be one of 'packed' \(0\), 'entropy' \(1\)"):
        q.to_bytes("zip")
    assert q.to_bytes(1) == q.to_bytes("entropy") and q.to_bytes("0") == q.to_bytes("packed")


def test_max_bytes_with_the_entropy_coder_finds_the_largest_k_that_fits():
    """The search's answer fits, and the K values it checks just above
    (the bisection's first miss and NEIGHBOURS more) do not."""
    from kmcodec.codec import NEIGHBOURS

    image = np.random.default_rng(3).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    budget = 500
    data = kmcodec.encode(image, max_bytes=budget, coder="entropy")
    k = kmcodec.info(data).colors
    assert len(data) <= budget and k > 1
    for above in range(k + 1, k + 2 + NEIGHBOURS):
        assert len(kmcodec.encode(image, k=above, coder="entropy")) > budget, above


def test_max_bytes_with_the_entropy_coder_edges():
    few = palette_image(20, 20, 8)
    assert kmcodec.info(kmcodec.encode(few, max_bytes=10**6, coder="entropy")).colors == 8  # all of them
    with pytest.raises(ParameterError, match=r"max_bytes is 40; the smallest 20x20 file with coder"
                                             r" 'entropy' \(one colour\) is \d+ bytes"):
        kmcodec.encode(few, max_bytes=40, coder="entropy")


def test_cli_encode_info_decode(tmp_path, capsys):
    from kmcodec.cli import main

    src = Path(__file__).resolve().parent.parent / "samples" / "shapes.png"
    out = tmp_path / "s.kmc"
    assert main(["encode", str(src), "-o", str(out), "-k", "8", "--coder", "entropy"]) == 0
    assert "(entropy coder)" in capsys.readouterr().err
    assert out.read_bytes()[5] == 1
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "coder      entropy" in text and "arithmetic-coded stripe" in text
    assert main(["decode", str(out), "-o", str(tmp_path / "s.png")]) == 0
    original = np.asarray(Image.open(src).convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png").convert("RGB")), original)


def test_pillow_plugin_reads_entropy_files():
    import kmcodec.pillow_plugin

    data = (VECTORS_DIR / "entropy-k16-coffee-48x40.kmc").read_bytes()
    im = Image.open(io.BytesIO(data))
    assert im.info["coder"] == "entropy"
    assert np.array_equal(np.asarray(im.convert("RGB")), kmcodec.decode(data))


@pytest.mark.parametrize("name", sorted(VECTORS))
@pytest.mark.parametrize("change", ["one byte more", "one byte less"])
def test_a_stream_is_exactly_as_long_as_its_decoding_reads(name, change):
    """Spec 11.3: the encoder writes 4 bytes plus one per renormalisation,
    which is exactly what the decoder reads; a stream with a byte more, or
    one that the decoder has to read past, is refused (stripe table and CRC
    made consistent, so only this rule can catch it)."""
    data = (VECTORS_DIR / f"{name}.kmc").read_bytes()
    height, colors = VECTORS[name][1], VECTORS[name][2]
    start = 28 + 3 * colors
    payload = data[start:-4]
    rows, lengths = entropy.payload_layout(payload, height)
    table = 4 + 4 * len(lengths)
    last = len(lengths) - 1
    streams = payload[table:]
    if change == "one byte more":
        streams, lengths[last] = streams + b"\0", lengths[last] + 1
    else:
        streams, lengths[last] = streams[:-1], lengths[last] - 1
    forged = struct.pack(f"<I{len(lengths)}I", rows, *lengths) + streams
    # A byte more decodes the same pixels and then stops short of the end; a
    # byte less may also send the decoding astray first.
    match = (rf"stripe {last}'s stream is \d+ bytes but decoding it reads \d+" if change == "one byte more"
             else f"stripe {last}.*the coded data is corrupt")
    with pytest.raises(FormatError, match=match):
        kmcodec.decode(_resealed(data, forged))


def test_a_decode_loads_the_decoder_alone():
    """With the compiled code cached, a decoding process loads the decoder's
    compiled code only: not the encoder's, not Numba's compiler registries
    (0.3 to 0.5 s) and not the modules of Numba's allocation routines, whose
    import the cached code would otherwise cost every process."""
    import subprocess
    import sys

    src = VECTORS_DIR / "entropy-k16-coffee-48x40.kmc"
    code = (
        "import sys, kmcodec\n"
        "from kmcodec import _entropy_jit as jit\n"
        f"kmcodec.decode(open({str(src)!r}, 'rb').read())\n"
        "heavy = ('numba.np.arraymath', 'numba.np.arrayobj', 'numba.cpython.unicode')\n"
        "print(len(jit.decode_stripes.overloads), len(jit.encode_stripes.overloads),"
        " *(m for m in heavy if m in sys.modules))\n"
    )
    for _ in range(2):  # the first run may compile, which needs the registries
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "0"]
