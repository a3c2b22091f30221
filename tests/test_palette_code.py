"""The coded palette of format version 3 (spec section 14): keys worked by
hand, frozen vectors decoded by kmcodec and by the spec-only decoder, exact
round trips, when writers choose it, and hostile streams.
"""

from __future__ import annotations

import hashlib
import io
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
from kmcodec import container, palette_code
from kmcodec.coder import get_coder
from kmcodec.errors import FormatError, UnsupportedFormatError

from .spec_decoder import SpecError
from .spec_decoder import decode as spec_decode

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"

# name -> (colors, palette_bytes, file size, sha256), recorded once from the
# committed files (also in vectors/coded-README.md).
VECTORS = {
    "coded-k2-4x1": (2, 15, 63, "df9ca1dc22b4a7b4249de8a6253458c6c433bcabd62f116ddff6ba64255e71ca"),
    "coded-k1-5x3": (1, 10, 59, "f7be6433b6d1149697434601d9e225144a513caeb22db43c17fa9e0b1d7b9b52"),
    "coded-packed-k5-11x7": (5, 21, 86, "b39e7227824b25a3557eb60ae56cde521d7fa44ce207ff73d31540fbdba5edc7"),
    "coded-k256-astronaut-64x64": (256, 452, 3025,
                                   "da3de92ff94610a53cd6e4c7f16262a2c44fd2d089f1db04fc2ff3347271326a"),
    "coded-diagram-72x48": (None, 263, 636, "caee3cadd539cdada802320c14133c8dfc86e5c611a0f85f6f05512e30ed08dc"),
    "coded-gradient-k4096-64x64": (4096, 1699, 4840,
                                   "3efab2d0f8491c93a85565b9a32905b7797b73f8d883b272c24a2a29a364c956"),
    "coded-alpha-sprite-48x40": (None, 45, 221, "65433200a280e3d0283772d7166682204b7be96ebb04f5f7dff1f415bb644128"),
    "coded-alpha-k300-40x30": (300, 978, 2316, "2e4604dadf2b9ce00ed9803df8f0cb28d2d96a9b9a913a0c9ac9b2e6ebf6fcf6"),
}


def _vector(name: str) -> bytes:
    return (VECTORS_DIR / f"{name}.kmc").read_bytes()


def _expected(name: str) -> np.ndarray:
    return np.asarray(Image.open(VECTORS_DIR / f"{name}.png"))


def _v3(palette: np.ndarray, stream: bytes, indices: np.ndarray, colors: int | None = None,
        flags: int | None = None, coder: int = 0) -> bytes:
    """A version-3 file built field by field from the spec's table (section 14.1)."""
    height, width = indices.shape
    colors = len(palette) if colors is None else colors
    flags = (1 if palette.shape[1] == 4 else 0) if flags is None else flags
    bits = container.bits_for_colors(colors)
    payload = get_coder(coder).encode(indices, palette)
    body = struct.pack("<4sBBBBIIIQI", b"KMCF", 3, coder, bits, flags, width, height, colors, len(payload),
                       len(stream)) + stream + bytes(payload)
    return body + zlib.crc32(body).to_bytes(4, "little")


def _canonical(rng: np.random.Generator, k: int, channels: int) -> np.ndarray:
    values = np.sort(rng.choice(1 << (8 * channels), k, replace=False))
    shifts = [16, 8, 0] if channels == 3 else [16, 8, 0, 24]
    return np.stack([(values >> s) & 255 for s in shifts], 1).astype(np.uint8)


# -- keys and the tree, by hand (section 14.2) -------------------------------

@pytest.mark.parametrize("entry, key", [
    ((0, 0, 0), 0),
    ((255, 255, 255), (1 << 24) - 1),
    ((128, 0, 0), 1 << 23),          # R's bit 7 is key bit 0, the most significant
    ((0, 128, 0), 1 << 22),          # then G's bit 7
    ((0, 0, 1), 1),                  # B's bit 0 is the last key bit
    ((1, 0, 0), 1 << 2),
    ((0, 0, 0, 128), 1 << 31),       # with alpha, A is the value's first byte
    ((128, 0, 0, 0), 1 << 30),
])
def test_keys_interleave_the_canonical_value_bits(entry, key):
    palette = np.array([entry], np.uint8)
    assert palette_code._keys(palette).tolist() == [key]
    assert palette_code._entries(np.array([key]), len(entry)).tolist() == [list(entry)]


def test_the_worked_example_of_section_14_3():
    """(0,0,0) and (255,255,255): 47 'both' and 46 'one' decisions, nearly
    all predictable after the first few, in the 15 bytes the spec lists."""
    data = _vector("coded-k2-4x1")
    assert data[4] == 3 and struct.unpack_from("<I", data, 28)[0] == 15
    assert data[32:47] == bytes.fromhex("7fffffffff fe94000000 aaa8000000")
    header, palette, indices = container.parse(data)
    assert palette.tolist() == [[0, 0, 0], [255, 255, 255]]
    assert indices.tolist() == [0, 1, 1, 0] and header.coded_palette


def test_a_one_entry_palette_by_hand():
    """K = 1: each of the 24 levels asks 'both?' (no) and 'one?' with fresh
    counters (p = 1/2): 48 bits, 6 bytes, then the 4 bytes of x1 (section
    11.3).  A 0 bit takes the upper part of the interval, so (0, 0, 0), all
    zeros, is six 0xff bytes and x1 = 0."""
    assert palette_code.encode(np.zeros((1, 3), np.uint8)) == b"\xff" * 6 + b"\0" * 4
    for entry in ([0, 0, 0], [255, 255, 255], [12, 200, 7]):
        stream = palette_code.encode(np.array([entry], np.uint8))
        assert len(stream) == 10
        assert palette_code.decode(stream, 1, 3).tolist() == [entry]


# -- frozen vectors (section 14.4) --------------------------------------------

def test_vector_set_is_complete():
    on_disk = {p.stem for p in VECTORS_DIR.glob("coded-*.kmc")}
    assert on_disk == set(VECTORS)
    listed = (VECTORS_DIR / "coded-README.md").read_text()
    for name, (_, _, size, digest) in VECTORS.items():
        assert f"`{name}.kmc`" in listed and digest in listed and f"| {size} |" in listed


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_frozen_vector(name):
    colors, coded, size, digest = VECTORS[name]
    data = _vector(name)
    assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest)
    meta = kmcodec.info(data)
    assert (meta.version, meta.coded_palette, meta.palette_bytes, meta.header_bytes) == (3, True, coded, 32)
    assert colors is None or meta.colors == colors
    header, palette, indices = container.parse(data)
    expected = _expected(name)
    assert np.array_equal(palette[indices].reshape(expected.shape), expected)
    # Re-encoding the decoded palette and indices gives the same bytes.
    again = container.build(header.width, header.height, palette, indices, header.coder, coded_palette=True)
    assert again == data


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_the_spec_decoder_agrees(name):
    width, height, palette, indices = spec_decode(_vector(name))[:4]
    pixels = np.array(palette, np.uint8)[np.array(indices)].reshape(height, width, -1)
    expected = _expected(name)
    assert np.array_equal(pixels.reshape(expected.shape), expected)


# -- round trips ----------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 600), channels=st.sampled_from([3, 4]), seed=st.integers(0, 2**32 - 1))
def test_any_canonical_palette_round_trips(k, channels, seed):
    palette = _canonical(np.random.default_rng(seed), k, channels)
    assert palette_code.is_canonical(palette)
    stream = palette_code.encode(palette)
    assert np.array_equal(palette_code.decode(stream, k, channels), palette)


@pytest.mark.parametrize("channels", [3, 4])
def test_the_largest_palette_round_trips(channels):
    palette = _canonical(np.random.default_rng(channels), 65536, channels)
    stream = palette_code.encode(palette)
    assert len(stream) < 0.75 * palette.size
    assert np.array_equal(palette_code.decode(stream, 65536, channels), palette)


def test_clustered_colours_cost_a_fraction_of_their_raw_bytes():
    """Shades between a few colours, as anti-aliasing makes: 675 entries in
    about 6 bits each (4,104 bits when this was written), against 24 raw."""
    t = np.linspace(0, 1, 256)[:, None]
    ends = [((20, 20, 20), (250, 250, 250)), ((66, 133, 244), (250, 250, 250)), ((234, 67, 53), (20, 20, 20))]
    shades = np.concatenate([np.rint(a + (np.array(b) - a) * t) for a, b in (map(np.array, e) for e in ends)])
    palette = np.unique(shades.astype(np.uint8), axis=0)
    palette = palette[np.argsort(palette_code.canonical_values(palette))]
    stream = palette_code.encode(palette)
    assert len(palette) == 675 and len(stream) * 8 < 7 * len(palette)
    assert np.array_equal(palette_code.decode(stream, len(palette), 3), palette)


# -- when writers choose version 3 (section 14.1) ------------------------------

def _graphic(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    palette = _canonical(rng, k, 3)
    indices = rng.integers(0, k, 64 * 48)
    indices[:k] = np.arange(k)
    return palette, indices.astype(np.uint16)


@pytest.mark.parametrize("coder", ["entropy", "mix"])
def test_coders_1_and_2_code_a_palette_when_it_is_smaller(coder):
    palette, indices = _graphic(1000)
    coded = container.build(64, 48, palette, indices, coder)
    raw = container.build(64, 48, palette, indices, coder, coded_palette=False)
    assert (kmcodec.info(coded).version, kmcodec.info(raw).version) == (3, 1)
    assert len(coded) < len(raw) and len(raw) - len(coded) == 3000 - 4 - kmcodec.info(coded).palette_bytes
    assert np.array_equal(container.parse(coded)[2], container.parse(raw)[2])


def test_small_palettes_stay_raw_and_the_packed_coder_never_codes():
    palette = np.array([[0, 0, 0], [9, 9, 9], [200, 10, 10]], np.uint8)
    indices = np.array([0, 1, 2, 1, 0, 2], np.uint8)
    assert kmcodec.info(container.build(3, 2, palette, indices, "entropy")).version == 1
    big, many = _graphic(1000)
    assert kmcodec.info(container.build(64, 48, big, many, "packed")).version == 1
    forced = container.build(3, 2, palette, indices, "packed", coded_palette=True)
    assert kmcodec.info(forced).version == 3
    assert np.array_equal(container.parse(forced)[1], palette)


def test_a_palette_out_of_canonical_order_is_written_raw():
    palette = np.array([[200, 10, 10], [0, 0, 0]], np.uint8)
    indices = np.array([0, 1, 1, 0], np.uint8)
    assert kmcodec.info(container.build(2, 2, palette, indices, "mix")).version == 1
    with pytest.raises(kmcodec.ParameterError, match="coded_palette is True but the palette is not strictly"):
        container.build(2, 2, palette, indices, "mix", coded_palette=True)


def test_alpha_palettes_are_coded_with_the_alpha_flag():
    rng = np.random.default_rng(5)
    palette = _canonical(rng, 700, 4)
    palette[:, 3] = np.maximum(palette[:, 3], 1)
    palette = palette[np.argsort(palette_code.canonical_values(palette))]
    indices = rng.integers(0, 700, 40 * 30)
    indices[:700] = np.arange(700)
    data = container.build(40, 30, palette, indices.astype(np.uint16), "entropy")
    header = container.parse_header(data, len(data))
    assert (header.version, header.flags, header.alpha, header.channels) == (3, 1, True, 4)
    assert np.array_equal(container.parse(data)[1], palette)


def test_the_encoder_writes_version_3_for_a_graphic_of_many_colours(tmp_path):
    """The whole path: kmcodec.encode of an image with more than 256 colours
    and coder 2 gives a version-3 file, decoded exactly."""
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.uint8)
    data = kmcodec.encode(rgb, k=65536, coder="mix")
    assert kmcodec.info(data).version == 3
    assert np.array_equal(kmcodec.decode(data), rgb)
    path = tmp_path / "g.kmc"
    path.write_bytes(data)
    with Image.open(path) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), rgb)


def test_the_plugin_reads_a_coded_palette_in_p_mode():
    data = _vector("coded-k256-astronaut-64x64")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "P"
        pixels = np.asarray(im.convert("RGB"))
    assert np.array_equal(pixels, _expected("coded-k256-astronaut-64x64"))


def test_kmc_info_says_the_palette_is_coded(tmp_path, capsys):
    from kmcodec.cli import main

    path = tmp_path / "d.kmc"
    path.write_bytes(_vector("coded-diagram-72x48"))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format version 3" in out and "263 bytes  = coded" in out and "bits per colour (raw 3 x" in out


# -- hostile files (section 14.3) ----------------------------------------------

def _with_stream(name: str, stream: bytes, colors: int | None = None, flags: int | None = None) -> bytes:
    data = bytearray(_vector(name))
    (old,) = struct.unpack_from("<I", data, 28)
    body = data[:32] + stream + data[32 + old : -4]
    struct.pack_into("<I", body, 28, len(stream))
    if colors is not None:
        struct.pack_into("<I", body, 16, colors)
        body[6] = container.bits_for_colors(colors)
    if flags is not None:
        body[7] = flags
    return bytes(body) + zlib.crc32(body).to_bytes(4, "little")


def _stream(name: str) -> bytes:
    data = _vector(name)
    (length,) = struct.unpack_from("<I", data, 28)
    return data[32 : 32 + length]


@pytest.mark.parametrize("name, change, colors, error, spec_error", [
    ("coded-diagram-72x48", "one byte more", None,
     "palette_bytes is 264 but decoding the palette reads 263 bytes: 1 bytes left over", "has bytes left unread"),
    # Cut short, the stream is read on as zeros (section 11.3), which here
    # code more entries than K before the end is reached.
    ("coded-diagram-72x48", "one byte less", None, "palette codes more than colors = 110 entries",
     "more than colors = 110"),
    # The header says K = 255 of the astronaut's 256: the tree holds one too many.
    ("coded-k256-astronaut-64x64", None, 255, "palette codes more than colors = 255 entries", "more than colors = 255"),
    ("coded-alpha-k300-40x30", None, 301, "palette codes 300 entries, but colors is 301", "holds 300 entries"),
])
def test_a_stream_that_is_not_exactly_k_entries_is_corrupt(name, change, colors, error, spec_error):
    stream = _stream(name)
    stream = {"one byte more": stream + b"\0", "one byte less": stream[:-1], None: stream}[change]
    bad = _with_stream(name, stream, colors=colors)
    with pytest.raises(FormatError, match=error):
        kmcodec.decode(bad)
    with pytest.raises(SpecError, match=spec_error):
        spec_decode(bad)


def test_a_stream_cut_in_its_final_bytes_is_truncated():
    """K = 1, (0, 0, 0): the last of x1's four zero bytes missing, read as 0."""
    with pytest.raises(FormatError, match="palette_bytes is 9 but decoding the palette reads 10 bytes: truncated"):
        palette_code.decode(b"\xff" * 6 + b"\0" * 3, 1, 3)


@pytest.mark.parametrize("flags", [2, 3, 0x80])
def test_flags_other_than_0_and_1_are_refused_in_version_3(flags):
    bad = _with_stream("coded-k2-4x1", _stream("coded-k2-4x1"), flags=flags)
    with pytest.raises(FormatError, match=rf"flags is {flags:#04x}, must be 0x00 or 0x01 \(alpha\) in version 3"):
        kmcodec.info(bad)


@pytest.mark.parametrize("length", [0, 3])
def test_palette_bytes_below_4_is_refused(length):
    bad = _with_stream("coded-k2-4x1", b"\0" * length)
    with pytest.raises(FormatError, match=f"palette_bytes is {length}, must be at least 4"):
        kmcodec.info(bad)


def test_a_version_3_file_shorter_than_its_header_is_truncated():
    with pytest.raises(FormatError, match="shorter than the 32-byte header of version 3: truncated"):
        kmcodec.info(_vector("coded-k2-4x1")[:30])


def test_the_length_check_counts_the_coded_palette():
    data = _vector("coded-k2-4x1")
    with pytest.raises(FormatError, match=r"declares 63 \(32 header \+ 15 palette \+ 12 payload \+ 4 crc32\)"):
        kmcodec.info(data + b"\0")


def test_a_reader_of_versions_1_and_2_names_the_version():
    data = bytearray(_vector("coded-k2-4x1"))
    data[4] = 4
    with pytest.raises(UnsupportedFormatError, match="version is 4; this reader supports versions 1, 2 and 3"):
        kmcodec.info(bytes(data))


def test_info_does_not_decode_the_palette():
    """Like the payload, the coded palette is left to decoding (section 14.3)."""
    stream = bytearray(_stream("coded-diagram-72x48"))
    stream[40] ^= 0x5A
    bad = _with_stream("coded-diagram-72x48", bytes(stream))
    assert kmcodec.info(bad).coded_palette
    with pytest.raises(FormatError, match="palette"):
        kmcodec.decode(bad)


@settings(max_examples=200, deadline=None)
@given(stream=st.binary(min_size=4, max_size=64), colors=st.integers(1, 65536), channels=st.sampled_from([3, 4]))
def test_any_stream_decodes_to_a_canonical_palette_or_fails_cleanly(stream, colors, channels):
    try:
        palette = palette_code.decode(stream, colors, channels)
    except FormatError as exc:
        error = str(exc)
    else:
        error = ""
        assert palette.shape == (colors, channels) and palette_code.is_canonical(palette)
    assert error == "" or error.startswith("palette")


@pytest.mark.parametrize("fill, error", [
    (b"\0", "palette codes more than colors = 65536 entries: corrupt"),  # every node 'both': a full tree
    (b"\xff", "decoding the palette reads 12 bytes: 4084 bytes left over"),
    (b"\x55", "decoding the palette reads 61 bytes: 4035 bytes left over"),
])
def test_garbage_at_the_largest_k_is_refused_quickly(fill, error):
    """A stream of one repeated byte read as K = 65536 entries of 32-bit keys."""
    palette_code.decode(palette_code.encode(np.zeros((1, 4), np.uint8)), 1, 4)  # compiled before timing
    start = time.perf_counter()
    with pytest.raises(FormatError, match=error):
        palette_code.decode(fill * 4096, 65536, 4)
    assert time.perf_counter() - start < 2.0


def test_a_coded_palette_and_its_pixels_pass_the_whole_file_checks():
    """A hand-built file (section 14.1's table, not the container module)
    decodes to its pixels."""
    palette = np.array([[0, 0, 0], [0, 0, 1], [255, 0, 0]], np.uint8)
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    data = _v3(palette, palette_code.encode(palette), indices)
    assert np.array_equal(kmcodec.decode(data), palette[indices])
    with pytest.raises(FormatError, match="palette codes 3 entries, but colors is 4"):
        kmcodec.decode(_v3(palette, palette_code.encode(palette), indices, colors=4))


def test_the_crc_is_checked_before_the_palette_is_decoded():
    """Section 14.3: a corrupt stream behind a wrong CRC-32 is a CRC error,
    for kmcodec, Pillow's open and the spec decoder alike."""
    data = bytearray(_vector("coded-k256-astronaut-64x64"))
    data[40] ^= 0x5A  # in the coded palette; the CRC is left as it was
    with pytest.raises(FormatError, match="crc32 is"):
        kmcodec.decode(bytes(data))
    with pytest.raises(FormatError, match="crc32 is"):
        Image.open(io.BytesIO(bytes(data)))
    with pytest.raises(SpecError, match="crc32"):
        spec_decode(bytes(data))


def test_pillow_refuses_a_corrupt_coded_palette_at_open():
    stream = bytearray(_stream("coded-k256-astronaut-64x64"))
    stream[8] ^= 0x5A
    bad = _with_stream("coded-k256-astronaut-64x64", bytes(stream))
    with pytest.raises(FormatError, match="palette"):
        Image.open(io.BytesIO(bad))


def test_an_all_opaque_rgba_palette_is_coded_with_flags_0():
    """Section 12.2's rule in version 3: the same bytes as the RGB palette."""
    rgb = np.array([[0, 0, 0], [9, 9, 9], [200, 10, 10], [255, 255, 255]], np.uint8)
    rgba = np.concatenate([rgb, np.full((4, 1), 255, np.uint8)], 1)
    indices = np.array([0, 1, 2, 3, 3, 2], np.uint8)
    data = container.build(3, 2, rgba, indices, "entropy", coded_palette=True)
    assert (data[4], data[7]) == (3, 0)
    assert data == container.build(3, 2, rgb, indices, "entropy", coded_palette=True)


def test_read_file_takes_the_32_byte_header_from_a_stream():
    data = _vector("coded-diagram-72x48")
    assert container.read_file(io.BytesIO(data + b"more")) == data + b"m"
    with pytest.raises(FormatError, match="file is 31 bytes, shorter than the 32-byte header of version 3"):
        container.read_file(io.BytesIO(data[:31]))


def test_raw_palette_keeps_versions_1_and_2(tmp_path):
    """For readers older than version 3: the API option and the CLI flag."""
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.stack([x * 8, y * 10, (x + y) * 4], -1).astype(np.uint8)
    coded = kmcodec.encode(rgb, k=768, coder="entropy")
    raw = kmcodec.encode(rgb, k=768, coder="entropy", raw_palette=True)
    assert (kmcodec.info(coded).version, kmcodec.info(raw).version) == (3, 1)
    assert np.array_equal(kmcodec.decode(raw), kmcodec.decode(coded))
    with pytest.raises(kmcodec.ParameterError, match="raw_palette is 'yes'; it must be True or False"):
        kmcodec.encode(rgb, k=4, raw_palette="yes")
    from kmcodec.cli import main

    Image.fromarray(rgb).save(tmp_path / "g.png")
    assert main(["encode", str(tmp_path / "g.png"), "-k", "768", "--coder", "mix", "--raw-palette", "-q",
                 "-o", str(tmp_path / "g.kmc")]) == 0
    assert kmcodec.info((tmp_path / "g.kmc").read_bytes()).version == 1
    Image.fromarray(rgb).save(tmp_path / "p.kmc", colors=768, coder="entropy", raw_palette=True)
    assert kmcodec.info((tmp_path / "p.kmc").read_bytes()).version == 1
    # --max-bytes measures the layout it writes: raw, fewer colours fit.
    fitted = kmcodec.encode(rgb, coder="entropy", max_bytes=len(raw) - 1, raw_palette=True)
    assert kmcodec.info(fitted).version == 1 and kmcodec.info(fitted).colors < 768
