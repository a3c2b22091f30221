"""Every kind of PNG encodes correctly; broken PNGs give a clean error.

The files are written by pypng (independent of Pillow, which kmcodec reads
them with), from sample arrays whose expected 8-bit pixels are computed here
by the documented rules: low bit depths scaled to 0-255, 16-bit greyscale
rounded (v / 257), 16-bit colour and alpha reduced to their high byte (as
Pillow does).  Transparency of every kind (an alpha channel, a palette's
alphas, a colour key) is kept: RGBA, every fully transparent pixel as
(0, 0, 0, 0) (spec section 12.2), and RGB when every pixel is opaque; with
a background colour it is composited instead: (c*a + bg*(255 - a)) / 255,
rounded.
"""

from __future__ import annotations

import io
import warnings
import zlib

import numpy as np
import pytest

import kmcodec

png = pytest.importorskip("png")

COLOUR_TYPES = [(0, d) for d in (1, 2, 4, 8, 16)] + [(2, 8), (2, 16)] + [(3, d) for d in (1, 2, 4, 8)] + [
    (4, 8), (4, 16), (6, 8), (6, 16)]
PLANES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def composite(c, a, bg=255):
    return (c * a + bg * (255 - a) + 127) // 255


def kept(rgba):
    """What a decoded file with alpha holds: A = 0 as (0, 0, 0, 0); RGB if all opaque."""
    rgba = np.array(rgba, dtype=np.int64)
    if (rgba[..., 3] == 255).all():
        return rgba[..., :3]
    rgba[rgba[..., 3] == 0] = 0
    return rgba


def palette_for(depth):
    return [((i * 37) % 256, (i * 91) % 256, (i * 53) % 256) for i in range(1 << depth)]


def write_png(ct, depth, rows, width, interlace=False, **extra) -> bytes:
    kwargs = dict(width=width, height=len(rows), bitdepth=depth, interlace=interlace,
                  greyscale=ct in (0, 4), alpha=ct in (4, 6))
    if ct == 3:
        kwargs.pop("greyscale"), kwargs.pop("alpha")
        kwargs["palette"] = extra.pop("palette", palette_for(depth))
    buf = io.BytesIO()
    png.Writer(**kwargs, **extra).write(buf, rows.tolist())
    return buf.getvalue()


def expected_pixels(ct, depth, samples, width, palette=None, background=None):
    h = samples.shape[0]
    s = samples.reshape(h, width, PLANES[ct]).astype(np.int64)
    top = (1 << depth) - 1
    if ct == 3:
        return np.asarray(palette or palette_for(depth), dtype=np.int64)[s[..., 0]]
    if depth == 16:
        colour = s >> 8
        if ct == 0:
            colour = (s + 128) // 257
    else:
        colour = (s * 255 + top // 2) // top if depth < 8 else s
    if ct == 0:
        return np.repeat(colour, 3, axis=2)
    if ct == 2:
        return colour
    rgba = np.concatenate([np.repeat(colour[..., :1], 3, axis=2), colour[..., 1:]], axis=2) if ct == 4 else colour
    if background is not None:
        return composite(rgba[..., :3], rgba[..., 3:], np.array(background))
    return kept(rgba)


def encode_png(data: bytes, tmp_path, name="x.png", k=65536, background=None):
    path = tmp_path / name
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kmcodec.KmcWarning)  # nothing is changed silently
        return kmcodec.decode(kmcodec.encode(path, k=k, background=background)).astype(np.int64)


@pytest.mark.parametrize("interlace", [False, True], ids=["plain", "interlaced"])
@pytest.mark.parametrize("ct, depth", COLOUR_TYPES, ids=[f"type{c}-{d}bit" for c, d in COLOUR_TYPES])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 13)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_colour_type_and_depth(tmp_path, ct, depth, interlace, shape):
    height, width = shape
    rng = np.random.default_rng(ct * 100 + depth)
    samples = rng.integers(0, 1 << depth, size=(height, width * PLANES[ct]))
    data = write_png(ct, depth, samples, width, interlace)
    assert np.array_equal(encode_png(data, tmp_path), expected_pixels(ct, depth, samples, width))


@pytest.mark.parametrize("ct, depth", [(4, 8), (4, 16), (6, 8), (6, 16)], ids=lambda v: str(v))
def test_alpha_channels_composited_onto_a_background(tmp_path, ct, depth):
    rng = np.random.default_rng(ct * 10 + depth)
    samples = rng.integers(0, 1 << depth, size=(5, 7 * PLANES[ct]))
    data = write_png(ct, depth, samples, 7)
    for background in ((255, 255, 255), (10, 200, 30)):
        expected = expected_pixels(ct, depth, samples, 7, background=background)
        assert np.array_equal(encode_png(data, tmp_path, background=background), expected)


def test_alpha_is_kept_without_a_warning(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(write_png(4, 8, np.array([[10, 0, 20, 128, 30, 255]]), 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = kmcodec.encode(path)
    assert kmcodec.info(data).alpha
    assert kmcodec.decode(data).tolist() == [[[0, 0, 0, 0], [20, 20, 20, 128], [30, 30, 30, 255]]]


@pytest.mark.parametrize("ct, depth, key", [(0, 2, 1), (0, 4, 9), (0, 8, 7), (0, 16, 1000), (2, 8, (1, 2, 3)),
                                            (2, 16, (257, 514, 771))])
def test_transparent_colour_key(tmp_path, ct, depth, key):
    samples = np.array([[key, 2 if key != 2 else 3] if ct == 0 else [*key, 9, 9, 9]])
    width = 2
    data = write_png(ct, depth, samples, width, transparent=key)
    if (ct, depth) == (2, 16):  # matched on the high bytes, with a warning (below)
        with pytest.warns(kmcodec.KmcWarning, match="16-bit tRNS colour key"):
            out = kmcodec.decode(kmcodec.encode(_saved(tmp_path, data), k=16)).astype(np.int64)
    else:
        out = encode_png(data, tmp_path)
    assert out[0, 0].tolist() == [0, 0, 0, 0]  # the keyed colour is transparent
    assert out[0, 1].tolist() == [*expected_pixels(ct, depth, samples, width)[0, 1].tolist(), 255]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kmcodec.KmcWarning)
        white = kmcodec.decode(kmcodec.encode(_saved(tmp_path, data), k=16, background="white"))
    assert white[0, 0].tolist() == [255, 255, 255]


def _saved(tmp_path, data: bytes):
    path = tmp_path / "keyed.png"
    path.write_bytes(data)
    return path


def test_a_16_bit_key_is_found_from_an_image_object_too(tmp_path):
    # The key's depth is read from the undecoded tile: a PIL image passed
    # in (the plugin's save, kmcodec.encode(Image.open(...))) has it too.
    from PIL import Image

    data = write_png(2, 16, np.array([[0x1234, 0x5678, 0x9ABC, 0x3434, 0x7878, 0xBCBC]]), 2,
                     transparent=(0x1234, 0x5678, 0x9ABC))
    with pytest.warns(kmcodec.KmcWarning, match="16-bit tRNS colour key"):
        out = kmcodec.decode(kmcodec.encode(Image.open(_saved(tmp_path, data)), k=4))
    assert out.tolist() == [[[0, 0, 0, 0], [0x34, 0x78, 0xBC, 255]]]


def test_16_bit_rgb_colour_key_not_made_from_8_bits_warns(tmp_path):
    # Pillow reads 16-bit RGB as its high bytes: a key whose low bytes differ
    # is matched on the high bytes, and kmcodec says so.
    samples = np.array([[1, 2, 3, 9, 9, 9, 300, 600, 900]])  # the second shares the key's high bytes
    path = tmp_path / "k16.png"
    path.write_bytes(write_png(2, 16, samples, 3, transparent=(1, 2, 3)))
    with pytest.warns(kmcodec.KmcWarning, match=r"16-bit tRNS colour key \(1, 2, 3\) is matched on the high byte"):
        out = kmcodec.decode(kmcodec.encode(path, k=16))
    assert out[0, 0].tolist() == [0, 0, 0, 0] and out[0, 1].tolist() == [0, 0, 0, 0]
    assert out[0, 2].tolist() == [1, 2, 3, 255]


def test_palette_with_transparent_entries(tmp_path):
    palette = [(200, 0, 0, 0), (0, 200, 0, 128), (0, 0, 200, 255)]
    samples = np.array([[0, 1, 2]])
    data = write_png(3, 2, samples, 3, palette=palette)
    assert encode_png(data, tmp_path).tolist() == [[[0, 0, 0, 0], [0, 200, 0, 128], [0, 0, 200, 255]]]
    out = encode_png(data, tmp_path, background="white")
    assert out.tolist() == [[composite(np.array(p[:3]), p[3]).tolist() for p in palette]]


def test_gamma_and_icc_chunks_are_accepted(tmp_path):
    samples = np.arange(12).reshape(2, 6) * 20
    data = write_png(2, 8, samples, 2, gamma=0.45455)
    assert np.array_equal(encode_png(data, tmp_path), expected_pixels(2, 8, samples, 2))
    # An iCCP chunk (a tiny, not necessarily meaningful profile) is carried
    # but not applied: pixels are taken as they are.
    chunk_type = b"iCCP"
    body = b"test\x00\x00" + zlib.compress(b"not a real profile")
    chunk = len(body).to_bytes(4, "big") + chunk_type + body + zlib.crc32(chunk_type + body).to_bytes(4, "big")
    with_icc = data[:33] + chunk + data[33:]
    assert np.array_equal(encode_png(with_icc, tmp_path, "icc.png"), expected_pixels(2, 8, samples, 2))


# (A wrong IDAT CRC over intact data is not here: Pillow, which reads the
# inputs, does not check IDAT CRCs, and the pixels it returns are right.)
@pytest.mark.parametrize("damage", ["truncated", "bad-zlib", "no-idat", "garbage"])
def test_broken_png_gives_a_clean_error(tmp_path, damage):
    samples = np.arange(48).reshape(4, 12)
    data = bytearray(write_png(2, 8, samples, 4))
    idat = data.index(b"IDAT")
    if damage == "truncated":
        data = data[: idat + 10]
    elif damage == "bad-zlib":
        data[idat + 6] ^= 0xFF
        data[idat + 7] ^= 0xFF
    elif damage == "no-idat":
        data[idat : idat + 4] = b"IDAX"
    else:
        data = data[:16] + b"\x00garbage" * 10
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    with pytest.raises(kmcodec.InputError, match="broken.png"):
        kmcodec.encode(path)
