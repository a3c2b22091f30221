"""Every kind of input becomes the right 8-bit RGB pixels, or a clear error.

kmcodec stores 8-bit RGB.  These tests specify how other inputs are turned
into it (kmcodec/images.py): each image is encoded with a ``k`` at least
its number of distinct colours, so the codec is lossless and the decoded
pixels must equal RGB values computed here independently.
"""

from __future__ import annotations

import contextlib
import gc
import re
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

import kmcodec

LOSSLESS_K = 4096  # more than the pixel count of every image below


def roundtrip(image, k: int = LOSSLESS_K, **settings) -> np.ndarray:
    """Encode ``image`` losslessly and decode it again."""
    return kmcodec.decode(kmcodec.encode(image, k=k, seed=0, **settings))


@contextlib.contextmanager
def no_kmc_warning():
    """A context in which a KmcWarning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", kmcodec.KmcWarning)
        yield


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(grey, np.uint8)[:, :, None], 3, axis=2)


def composite_on_white(c: int, a: int) -> int:
    """The documented rule: round((c*a + 255*(255-a)) / 255)."""
    return round((c * a + 255 * (255 - a)) / 255)


def noise(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@contextlib.contextmanager
def no_unclosed_files():
    """Fail if a file opened inside the block is left for the GC to close."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


# --------------------------------------------------------------------------
# Greyscale and bilevel: R = G = B
# --------------------------------------------------------------------------


def test_greyscale_L_expands_to_equal_channels():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    with no_kmc_warning():
        out = roundtrip(Image.fromarray(grey, mode="L"))
    assert out.shape == (16, 16, 3)
    np.testing.assert_array_equal(out, grey_to_rgb(grey))


def test_greyscale_L_from_png_file(tmp_path):
    grey = np.arange(0, 240, dtype=np.uint8).reshape(12, 20)
    path = tmp_path / "grey.png"
    Image.fromarray(grey, mode="L").save(path)
    np.testing.assert_array_equal(roundtrip(path), grey_to_rgb(grey))


def test_bilevel_1_gives_black_and_white(tmp_path):
    bits = (np.indices((9, 13)).sum(axis=0) % 3 == 0)
    im = Image.new("1", (13, 9))
    im.putdata([255 if b else 0 for b in bits.reshape(-1)])
    assert im.mode == "1"
    expected = grey_to_rgb(np.where(bits, 255, 0))
    np.testing.assert_array_equal(roundtrip(im), expected)
    path = tmp_path / "bits.png"
    im.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == "1"
    np.testing.assert_array_equal(roundtrip(path), expected)


# --------------------------------------------------------------------------
# Palette images
# --------------------------------------------------------------------------

PALETTE = np.array(
    [[10, 20, 30], [200, 100, 50], [0, 0, 0], [255, 255, 0], [7, 77, 177]], np.uint8
)


def palette_image(indices: np.ndarray) -> Image.Image:
    im = Image.fromarray(indices.astype(np.uint8), mode="P")
    im.putpalette(PALETTE.reshape(-1).tolist())
    return im


def test_palette_image_without_transparency_is_looked_up_silently(tmp_path):
    indices = np.arange(6 * 7).reshape(6, 7) % len(PALETTE)
    im = palette_image(indices)
    assert "transparency" not in im.info
    with no_kmc_warning():
        out = roundtrip(im)
    np.testing.assert_array_equal(out, PALETTE[indices])
    path = tmp_path / "pal.png"
    im.save(path)
    with no_kmc_warning():
        np.testing.assert_array_equal(roundtrip(path), PALETTE[indices])


def test_palette_transparent_index_is_kept_or_composited():
    indices = np.array([[0, 1, 0, 1], [1, 0, 2, 2]])
    im = palette_image(indices)
    im.info["transparency"] = 1  # entry 1 is fully transparent
    with no_kmc_warning():
        kept = roundtrip(im)
        white = roundtrip(im, background="white")
    expected = np.dstack([PALETTE[indices], np.full(indices.shape, 255, np.uint8)])
    expected[indices == 1] = 0  # transparent: (0, 0, 0, 0)
    np.testing.assert_array_equal(kept, expected)
    expected = PALETTE[indices].copy()
    expected[indices == 1] = 255
    np.testing.assert_array_equal(white, expected)


def test_palette_png_with_per_entry_alpha(tmp_path):
    # A tRNS chunk with one alpha per entry: 255, 128, 0, (rest opaque).
    alphas = [255, 128, 0]
    indices = np.array([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]])
    path = tmp_path / "trns.png"
    palette_image(indices).save(path, transparency=bytes(alphas))
    with Image.open(path) as reopened:
        assert isinstance(reopened.info["transparency"], bytes)
    full_alpha = alphas + [255] * (len(PALETTE) - len(alphas))
    expected = np.array(
        [
            [[composite_on_white(int(c), full_alpha[i]) for c in PALETTE[i]] for i in row]
            for row in indices
        ],
        np.uint8,
    )
    with no_kmc_warning():
        out = roundtrip(path, background="white")
        kept = roundtrip(path)
    np.testing.assert_array_equal(out, expected)
    assert out[0, 2].tolist() == [255, 255, 255]  # alpha 0: white
    assert out[0, 0].tolist() == PALETTE[0].tolist()  # alpha 255: unchanged
    rgba = np.array([[[*PALETTE[i], full_alpha[i]] if full_alpha[i] else [0, 0, 0, 0] for i in row]
                     for row in indices], np.uint8)
    np.testing.assert_array_equal(kept, rgba)


# --------------------------------------------------------------------------
# Alpha: RGBA and LA, kept or composited onto a background
# --------------------------------------------------------------------------

ALPHAS = [0, 1, 64, 127, 128, 200, 254, 255]
CHANNELS = [0, 1, 100, 128, 200, 254, 255]


def test_composite_rule_values_are_the_documented_ones():
    # Fixed points of the rule, worked out by hand.
    assert composite_on_white(0, 0) == 255
    assert composite_on_white(123, 255) == 123
    assert composite_on_white(0, 128) == 127  # 255*127/255
    assert composite_on_white(200, 128) == 227  # 57985/255 = 227.39


def test_rgba_is_composited_onto_white_exactly():
    # One row per alpha, one column per colour value; G and B vary too.
    a = np.array(ALPHAS, np.uint8)[:, None]
    c = np.array(CHANNELS, np.uint8)[None, :]
    rgba = np.empty((len(ALPHAS), len(CHANNELS), 4), np.uint8)
    rgba[..., 0] = c
    rgba[..., 1] = 255 - c
    rgba[..., 2] = c // 2
    rgba[..., 3] = a
    expected = np.array(
        [
            [[composite_on_white(int(v), int(al)) for v in px[:3]] for px, al in zip(row, row[:, 3])]
            for row in rgba
        ],
        np.uint8,
    )
    with no_kmc_warning():
        out = roundtrip(Image.fromarray(rgba, mode="RGBA"), background="white")
        kept = roundtrip(Image.fromarray(rgba, mode="RGBA"))
    np.testing.assert_array_equal(out, expected)
    transparent = rgba.copy()
    transparent[rgba[..., 3] == 0] = 0
    np.testing.assert_array_equal(kept, transparent)  # K covers every colour: exact
    # alpha 0 is white whatever the colour, alpha 255 the colour itself
    assert (out[ALPHAS.index(0)] == 255).all()
    np.testing.assert_array_equal(out[ALPHAS.index(255)], rgba[ALPHAS.index(255), :, :3])
    assert out[ALPHAS.index(128), CHANNELS.index(0)].tolist()[0] == 127
    assert out[ALPHAS.index(128), CHANNELS.index(200)].tolist()[0] == 227


def test_rgb_only_readers_warn_and_count_the_pixels_not_fully_opaque():
    # kmc compare and kmc plot take RGB: they composite onto white and say so.
    from kmcodec.images import to_rgb_array

    rgba = np.full((2, 5, 4), 255, np.uint8)
    rgba[0, :3, 3] = 10  # three translucent pixels
    with pytest.warns(kmcodec.KmcWarning, match=r"alpha.*3 of 10 pixels"):
        to_rgb_array(Image.fromarray(rgba, mode="RGBA"))


def test_opaque_rgba_keeps_colours_without_a_warning():
    """An alpha channel that is 255 everywhere changes nothing: no news."""
    rgb = noise((6, 6, 3))
    rgba = np.dstack([rgb, np.full((6, 6), 255, np.uint8)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = roundtrip(Image.fromarray(rgba, mode="RGBA"))
    np.testing.assert_array_equal(out, rgb)


def test_la_is_composited_onto_white_with_equal_channels(tmp_path):
    grey, alpha = np.meshgrid(CHANNELS, ALPHAS)
    la = np.dstack([grey, alpha]).astype(np.uint8)
    expected = grey_to_rgb(
        [[composite_on_white(int(g), int(al)) for g, al in zip(gr, ar)] for gr, ar in zip(grey, alpha)]
    )
    im = Image.fromarray(la, mode="LA")
    with no_kmc_warning():
        out = roundtrip(im, background="white")
    np.testing.assert_array_equal(out, expected)
    assert (out[ALPHAS.index(0)] == 255).all()
    path = tmp_path / "la.png"
    im.save(path)
    with no_kmc_warning():
        np.testing.assert_array_equal(roundtrip(path, background="white"), expected)
        kept = roundtrip(path)
    rgba = np.dstack([grey, grey, grey, alpha]).astype(np.uint8)
    rgba[alpha == 0] = 0
    np.testing.assert_array_equal(kept, rgba)


# --------------------------------------------------------------------------
# 16-bit samples
# --------------------------------------------------------------------------

SIXTEEN = np.array(
    [0, 1, 128, 129, 256, 257, 385, 386, 32767, 32768, 32896, 51400, 65407, 65408, 65534, 65535],
    np.uint16,
)


def round_div_257(v) -> np.ndarray:
    # v/257 is never exactly halfway (257 is odd), so rounding is unambiguous.
    return np.array([round(int(x) / 257) for x in np.ravel(v)], np.int64).reshape(np.shape(v))


def test_round_div_257_reference():
    assert round_div_257([0, 128, 129, 32896, 65535]).tolist() == [0, 0, 1, 128, 255]


def test_16_bit_greyscale_png_is_scaled_by_rounding(tmp_path):
    grey16 = SIXTEEN.reshape(4, 4)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey16).save(path)
    expected = grey_to_rgb(round_div_257(grey16))
    with no_kmc_warning():
        np.testing.assert_array_equal(roundtrip(path), expected)
        with Image.open(path) as im:  # the same image in memory
            assert im.mode == "I;16"
            np.testing.assert_array_equal(roundtrip(im), expected)


def write_png_rgb16(path, rgb16: np.ndarray) -> None:
    """A minimal 16-bit RGB PNG: IHDR bit depth 16, colour type 2."""
    height, width, _ = rgb16.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    rows = b"".join(
        b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(height)
    )
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(data)


def test_16_bit_rgb_png_matches_pillow_and_is_within_one_of_rounding(tmp_path):
    r = SIXTEEN.reshape(4, 4)
    rgb16 = np.dstack([r, r[::-1], r.T]).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    write_png_rgb16(path, rgb16)
    with Image.open(path) as im:
        assert im.size == (4, 4)
        pillow_rgb = np.asarray(im.convert("RGB"))
    out = roundtrip(path)
    np.testing.assert_array_equal(out, pillow_rgb)
    assert np.abs(out.astype(np.int64) - round_div_257(rgb16)).max() <= 1
    assert out[0, 0, 0] == 0 and out[3, 3, 0] == 255


# --------------------------------------------------------------------------
# CMYK
# --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_file_equals_pillows_rgb_conversion(tmp_path, suffix):
    c, m = np.meshgrid(np.linspace(0, 255, 12), np.linspace(255, 0, 10))
    cmyk = np.dstack([c, m, (c + m) / 2, np.full_like(c, 40)]).astype(np.uint8)
    path = tmp_path / f"cmyk{suffix}"
    Image.fromarray(cmyk, mode="CMYK").save(path)
    with Image.open(path) as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(roundtrip(path), expected)


def test_cmyk_in_memory_equals_pillows_rgb_conversion():
    cmyk = noise((8, 9, 4), seed=3)
    im = Image.fromarray(cmyk, mode="CMYK")
    np.testing.assert_array_equal(roundtrip(im), np.asarray(im.convert("RGB")))


# --------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------

RED, BLUE = (255, 0, 0), (0, 0, 255)


def exif_rotated_jpeg(path, orientation: int = 6) -> None:
    """40 wide x 20 high, blue, with a red 10x5 block in the top-left corner."""
    im = Image.new("RGB", (40, 20), BLUE)
    im.paste(RED, (0, 0, 10, 5))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif, quality=95)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif_rotated_jpeg(path, orientation=6)  # 6: rotate 90 degrees clockwise
    with Image.open(path) as im:
        assert im.size == (40, 20)
        assert im.getexif()[0x0112] == 6
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    out = roundtrip(path)
    assert out.shape == (40, 20, 3)  # width and height swapped
    np.testing.assert_array_equal(out, expected)
    # Rotated clockwise, the red top-left corner is now the top-right one.
    red = out[1:8, 17:20].astype(int)  # the block is rows 0-9, columns 15-19
    blue = out[30:39, 1:8].astype(int)
    assert np.abs(red - RED).max() < 40
    assert np.abs(blue - BLUE).max() < 40
    assert np.abs(out[1:8, 1:8].astype(int) - BLUE).max() < 40  # not top-left


def test_exif_orientation_is_applied_to_an_open_image_too(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif_rotated_jpeg(path, orientation=6)
    from_path = roundtrip(path)
    with Image.open(path) as im:
        from_image = roundtrip(im)
    np.testing.assert_array_equal(from_image, from_path)


# --------------------------------------------------------------------------
# Multi-frame images
# --------------------------------------------------------------------------


def three_frame_gif(path) -> None:
    frames = [Image.new("RGB", (8, 6), c) for c in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    frames[0].save(path, save_all=True, append_images=frames[1:])


def test_multi_frame_gif_warns_and_encodes_the_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    three_frame_gif(path)
    with Image.open(path) as im:
        assert im.n_frames == 3
    with pytest.warns(kmcodec.KmcWarning, match="frames"):
        out = roundtrip(path)
    assert out.shape == (6, 8, 3)
    assert (out == (255, 0, 0)).all()


def test_encoding_a_path_closes_the_file(tmp_path):
    # A multi-frame file keeps its handle open after load(); encode closes it.
    path = tmp_path / "anim.gif"
    three_frame_gif(path)
    with no_unclosed_files():
        with pytest.warns(kmcodec.KmcWarning, match="frames"):
            kmcodec.encode(path, k=4)


def test_single_frame_image_does_not_warn(tmp_path):
    path = tmp_path / "one.gif"
    Image.new("RGB", (5, 5), (1, 2, 3)).save(path)
    with no_kmc_warning():
        out = roundtrip(path)
    assert (out == (1, 2, 3)).all()


# --------------------------------------------------------------------------
# numpy arrays and other Python objects
# --------------------------------------------------------------------------


def test_uint8_rgb_array_is_used_as_is():
    rgb = noise((7, 11, 3))
    before = rgb.copy()
    with no_kmc_warning():
        out = roundtrip(rgb)
    np.testing.assert_array_equal(out, rgb)
    np.testing.assert_array_equal(rgb, before)  # input not modified


def test_non_contiguous_uint8_array_is_accepted():
    rgb = noise((10, 12, 3))[::2, ::-1]
    assert not rgb.flags.c_contiguous
    np.testing.assert_array_equal(roundtrip(rgb), rgb)


@pytest.mark.parametrize(
    "shape", [(4, 5), (4, 5, 5), (4, 5, 1), (4, 5, 2), (4, 5, 3, 1)], ids=lambda s: str(s)
)
def test_array_of_wrong_shape_is_a_parameter_error(shape):
    array = np.zeros(shape, np.uint8)
    with pytest.raises(kmcodec.ParameterError, match=re.escape(str(shape))):
        kmcodec.encode(array)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint16, np.int64, bool])
def test_array_of_wrong_dtype_is_a_parameter_error(dtype):
    array = np.zeros((4, 5, 3), dtype)
    with pytest.raises(kmcodec.ParameterError, match=f"dtype {np.dtype(dtype).name}"):
        kmcodec.encode(array)


@pytest.mark.parametrize("shape", [(0, 5, 3), (5, 0, 3), (0, 0, 3)])
def test_empty_array_is_a_parameter_error(shape):
    with pytest.raises(kmcodec.ParameterError, match=re.escape(f"{shape}: no pixels")):
        kmcodec.encode(np.zeros(shape, np.uint8))


@pytest.mark.parametrize(
    ("obj", "name"),
    [(42, "int"), ([[[0, 0, 0]]], "list"), (None, "NoneType"), (b"\x89PNG", "bytes")],
)
def test_non_image_object_is_a_parameter_error(obj, name):
    with pytest.raises(kmcodec.ParameterError, match=f"image is a {name}"):
        kmcodec.encode(obj)
    with pytest.raises(kmcodec.ParameterError, match=f"image is a {name}"):
        kmcodec.quantize(obj)


def test_parameter_and_input_errors_are_value_errors():
    # Callers can catch every kmcodec error as ValueError.
    with pytest.raises(ValueError, match="dtype"):
        kmcodec.encode(np.zeros((2, 2, 3), np.float32))


# --------------------------------------------------------------------------
# Modes with no RGB meaning, files that are not images
# --------------------------------------------------------------------------


def test_float_mode_F_is_an_input_error():
    im = Image.fromarray(np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), mode="F")
    with pytest.raises(kmcodec.InputError, match="'F'"):
        kmcodec.encode(im)


def test_float_tiff_file_is_an_input_error(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.ones((3, 4), np.float32), mode="F").save(path)
    with pytest.raises(kmcodec.InputError, match="'F'"):
        kmcodec.encode(path)


def truncated_png(tmp_path):
    whole = tmp_path / "whole.png"
    Image.fromarray(noise((40, 40, 3))).save(whole)
    data = whole.read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def not_images(tmp_path):
    random_bytes = tmp_path / "random.png"
    random_bytes.write_bytes(np.random.default_rng(1).bytes(500))
    text = tmp_path / "notes.txt"
    text.write_text("this is not an image\n" * 10)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    return {
        "random bytes": random_bytes,
        "text": text,
        "empty file": empty,
        "truncated png": truncated_png(tmp_path),
    }


@pytest.mark.parametrize("kind", ["random bytes", "text", "empty file", "truncated png"])
@pytest.mark.parametrize("as_str", [False, True], ids=["Path", "str"])
def test_file_that_is_not_an_image_is_an_input_error_naming_the_path(tmp_path, kind, as_str):
    path = not_images(tmp_path)[kind]
    arg = str(path) if as_str else path
    with pytest.raises(kmcodec.InputError, match=re.escape(str(path))):
        kmcodec.encode(arg)


def test_truncated_png_opens_but_cannot_be_decoded(tmp_path):
    # Pillow reads the header of the truncated file; the error comes from
    # decoding its pixels, and is still an InputError naming the file.
    path = truncated_png(tmp_path)
    with Image.open(path) as im:
        assert im.size == (40, 40)
    with pytest.raises(kmcodec.InputError, match=re.escape(str(path)) + ".*truncated"):
        kmcodec.encode(path)


def test_failed_read_closes_the_file(tmp_path):
    path = truncated_png(tmp_path)
    with no_unclosed_files():
        with pytest.raises(kmcodec.InputError):
            kmcodec.encode(path)


def test_missing_file_is_file_not_found(tmp_path):
    path = tmp_path / "nowhere.png"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        kmcodec.encode(path)
    with pytest.raises(FileNotFoundError):
        kmcodec.encode(str(path))


def test_directory_is_an_os_error_not_an_input_error(tmp_path):
    with pytest.raises(IsADirectoryError):
        kmcodec.encode(tmp_path)


# --------------------------------------------------------------------------
# Pixel limit (PIL.Image.MAX_IMAGE_PIXELS)
# --------------------------------------------------------------------------


@pytest.fixture
def limit_100(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)


def test_in_memory_image_above_the_limit_is_refused(limit_100):
    with pytest.raises(kmcodec.PixelLimitError, match=r"12 x 12 = 144 pixels.*limit of 100"):
        kmcodec.encode(Image.new("RGB", (12, 12)))
    with pytest.raises(kmcodec.PixelLimitError, match="limit of 100"):
        kmcodec.encode(Image.new("L", (101, 1)))


def test_image_at_the_limit_is_accepted(limit_100):
    out = roundtrip(Image.new("RGB", (10, 10), (9, 8, 7)))
    assert out.shape == (10, 10, 3) and (out == (9, 8, 7)).all()


@pytest.mark.parametrize("size", [(12, 12), (30, 30)], ids=["above", "above twice"])
def test_file_above_the_limit_is_refused_before_decoding(tmp_path, monkeypatch, size):
    # Between the limit and twice the limit Pillow only warns; above twice it
    # raises DecompressionBombError.  Both become PixelLimitError.
    path = tmp_path / "big.png"
    Image.new("RGB", size, (1, 2, 3)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    monkeypatch.setattr(
        ImageFile.ImageFile,
        "load",
        lambda self: pytest.fail("pixels were decoded before the limit was checked"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(kmcodec.PixelLimitError, match=re.escape(str(path))):
            kmcodec.encode(path)
        with pytest.raises(kmcodec.PixelLimitError):
            kmcodec.encode(str(path))


def test_file_above_the_limit_is_closed(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (12, 12)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with no_unclosed_files():
        with pytest.raises(kmcodec.PixelLimitError):
            kmcodec.encode(path)


def test_lazily_opened_image_above_the_limit_is_refused_before_decoding(
    tmp_path, monkeypatch
):
    path = tmp_path / "big.png"
    Image.new("RGB", (12, 12), (1, 2, 3)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.warns(Image.DecompressionBombWarning):
        im = Image.open(path)  # Pillow itself only warns below twice the limit
    with im:
        monkeypatch.setattr(
            ImageFile.ImageFile,
            "load",
            lambda self: pytest.fail("pixels were decoded before the limit was checked"),
        )
        with pytest.raises(kmcodec.PixelLimitError, match="12 x 12 = 144 pixels"):
            kmcodec.encode(im)


def test_limit_none_disables_the_check(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert roundtrip(Image.new("RGB", (50, 3), (0, 1, 2))).shape == (3, 50, 3)


# --------------------------------------------------------------------------
# Degenerate sizes
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 1), (1, 2)])
def test_thin_images_round_trip_as_arrays(shape):
    rgb = noise((*shape, 3), seed=sum(shape))
    np.testing.assert_array_equal(roundtrip(rgb), rgb)


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1)])
def test_thin_images_round_trip_as_files(tmp_path, shape):
    rgb = noise((*shape, 3), seed=7)
    path = tmp_path / "thin.png"
    Image.fromarray(rgb).save(path)
    out = roundtrip(path)
    assert out.shape == (*shape, 3)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("k", [1, 2, 16])
def test_one_pixel_image_with_any_k(k):
    rgb = np.array([[[12, 34, 56]]], np.uint8)
    data = kmcodec.encode(rgb, k=k)
    assert kmcodec.info(data).colors == 1
    np.testing.assert_array_equal(kmcodec.decode(data), rgb)


def test_zero_sized_pil_image_is_an_input_error():
    with pytest.raises(kmcodec.InputError, match="no pixels"):
        kmcodec.encode(Image.new("RGB", (0, 5)))


def test_quantize_gives_the_same_pixels_as_encode():
    im = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L")
    q = kmcodec.quantize(im, k=64)
    np.testing.assert_array_equal(q.to_rgb(), roundtrip(im))
    assert q.shape == (8, 8)
