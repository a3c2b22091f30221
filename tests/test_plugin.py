"""The Pillow plugin: ``Image.open("x.kmc")`` and ``im.save("x.kmc", colors=K)``.

``import kmcodec`` registers a "KMC" format with Pillow.  Opening reads the
header (and, for up to 256 colours, the palette); the pixels are decoded and
the whole file checked on ``load()`` (or ``verify()``).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import kmcodec
from kmcodec import container


def noise(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.fixture
def small_kmc(tmp_path):
    """A 13 x 9 noise image encoded with k=6, and its path and bytes."""
    data = kmcodec.encode(noise((9, 13, 3)), k=6, seed=0)
    path = tmp_path / "small.kmc"
    path.write_bytes(data)
    return path, data


def payload_offset(data: bytes) -> int:
    return container.HEADER_SIZE + 3 * kmcodec.info(data).colors


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------


def test_extension_and_mime_type_are_registered():
    assert Image.registered_extensions()[".kmc"] == "KMC"
    assert Image.MIME["KMC"] == "image/x-kmc"
    assert "KMC" in Image.OPEN and "KMC" in Image.SAVE


# --------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------


def test_open_gives_a_palette_image_equal_to_decode(small_kmc):
    path, data = small_kmc
    palette, indices = kmcodec.decode_palette(data)
    k = len(palette)
    assert k == 6
    with Image.open(path) as im:
        assert im.format == "KMC"
        assert im.mode == "P"
        assert im.size == (13, 9)
        assert im.info["colors"] == k
        assert im.info["coder"] == "packed"
        assert im.get_format_mimetype() == "image/x-kmc"
        assert im.getpalette()[: 3 * k] == palette.reshape(-1).tolist()
        np.testing.assert_array_equal(np.asarray(im), indices)
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), kmcodec.decode(data))


def test_open_reads_only_the_header_and_palette(small_kmc):
    _path, data = small_kmc
    fh = io.BytesIO(data)
    im = Image.open(fh)
    # Nothing of the payload has been read yet ...
    assert fh.tell() <= payload_offset(data)
    # ... until the pixels are asked for.
    im.load()
    np.testing.assert_array_equal(np.asarray(im.convert("RGB")), kmcodec.decode(data))


def test_open_works_on_a_file_object(small_kmc):
    _, data = small_kmc
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.mode, im.size) == ("KMC", "P", (13, 9))
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), kmcodec.decode(data))


def test_one_colour_file_opens(tmp_path):
    path = tmp_path / "flat.kmc"
    path.write_bytes(kmcodec.encode(np.full((3, 4, 3), 77, np.uint8), k=8))
    with Image.open(path) as im:
        assert im.mode == "P" and im.info["colors"] == 1
        assert (np.asarray(im.convert("RGB")) == 77).all()


def test_256_colours_is_still_a_palette_image(tmp_path):
    rgb = np.arange(256 * 3, dtype=np.uint8).reshape(16, 16, 3)  # 256 distinct
    data = kmcodec.encode(rgb, k=256)
    assert kmcodec.info(data).colors == 256
    path = tmp_path / "256.kmc"
    path.write_bytes(data)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), rgb)


def test_more_than_256_colours_opens_as_rgb(tmp_path):
    i = np.arange(1024)
    rgb = np.stack([(i % 32) * 8, (i // 32) * 8, 255 - (i % 7)], axis=1)
    rgb = rgb.astype(np.uint8).reshape(32, 32, 3)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) == 1024
    data = kmcodec.encode(rgb, k=1024)
    assert kmcodec.info(data).colors == 1024
    path = tmp_path / "many.kmc"
    path.write_bytes(data)
    with Image.open(path) as im:
        assert im.format == "KMC"
        assert im.mode == "RGB"
        assert im.size == (32, 32)
        assert im.info["colors"] == 1024
        pixels = np.asarray(im)
    np.testing.assert_array_equal(pixels, rgb)
    np.testing.assert_array_equal(pixels, kmcodec.decode(data))


# --------------------------------------------------------------------------
# Corrupt, truncated and foreign files
# --------------------------------------------------------------------------


def corrupt_payload(data: bytes) -> bytes:
    bad = bytearray(data)
    bad[payload_offset(data)] ^= 0xFF  # first payload byte
    return bytes(bad)


def test_corrupt_body_opens_but_load_raises_format_error(small_kmc):
    _, data = small_kmc
    im = Image.open(io.BytesIO(corrupt_payload(data)))
    assert im.size == (13, 9)  # the header is fine
    with pytest.raises(kmcodec.FormatError, match="crc32.*corrupt"):
        im.load()


def test_corrupt_body_fails_verify(small_kmc, tmp_path):
    _, data = small_kmc
    path = tmp_path / "corrupt.kmc"
    path.write_bytes(corrupt_payload(data))
    im = Image.open(path)
    try:
        with pytest.raises(kmcodec.FormatError, match="crc32.*corrupt"):
            im.verify()
    finally:
        im.close()


def test_corrupt_palette_fails_load_and_verify(small_kmc):
    _, data = small_kmc
    bad = bytearray(data)
    bad[container.HEADER_SIZE] ^= 0x01
    with pytest.raises(kmcodec.FormatError, match="crc32"):
        Image.open(io.BytesIO(bytes(bad))).load()
    with pytest.raises(kmcodec.FormatError, match="crc32"):
        Image.open(io.BytesIO(bytes(bad))).verify()


def test_verify_passes_on_a_valid_file(small_kmc):
    path, data = small_kmc
    im = Image.open(path)
    assert im.verify() is None
    # As with every Pillow format, reopen to use the image after verify().
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), kmcodec.decode(data))


def test_truncated_body_fails_on_open(small_kmc):
    # The declared lengths are checked against the file's real size before
    # anything is read or allocated.
    _, data = small_kmc
    with pytest.raises(kmcodec.FormatError, match="truncated"):
        Image.open(io.BytesIO(data[:-5]))
    with pytest.raises(kmcodec.FormatError, match="trailing"):
        Image.open(io.BytesIO(data + b"x"))


@pytest.mark.parametrize("length", [4, 10, 27])
def test_truncated_header_raises_format_error_from_open(small_kmc, length):
    # The magic matches, so the plugin claims the file, and its FormatError
    # (a ValueError, which Pillow does not swallow) comes out of Image.open.
    _, data = small_kmc
    with pytest.raises(kmcodec.FormatError, match=r"truncated|header"):
        Image.open(io.BytesIO(data[:length]))


def test_file_shorter_than_the_magic_is_not_identified(small_kmc):
    _, data = small_kmc
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data[:3]))


def test_wrong_magic_with_kmc_suffix_is_not_identified(small_kmc, tmp_path):
    _, data = small_kmc
    path = tmp_path / "fake.kmc"
    path.write_bytes(b"KMCX" + data[4:])
    with pytest.raises(UnidentifiedImageError):
        Image.open(path)


def test_bad_header_field_raises_format_error_from_open(small_kmc):
    _, data = small_kmc
    bad = bytearray(data)
    bad[7] = 1  # flags must be 0
    with pytest.raises(kmcodec.FormatError, match="flags"):
        Image.open(io.BytesIO(bytes(bad)))


def test_file_above_the_pixel_limit_is_refused_on_open(small_kmc, monkeypatch):
    _, data = small_kmc  # 13 x 9 = 117 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(kmcodec.PixelLimitError, match="117 pixels"):
        Image.open(io.BytesIO(data))


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------


@pytest.fixture
def noise_image():
    return Image.fromarray(noise((24, 20, 3), seed=5))


@pytest.mark.parametrize("k", [2, 5, 16, 64])
def test_save_with_colors_equals_encode(tmp_path, noise_image, k):
    path = tmp_path / "saved.kmc"
    noise_image.save(path, colors=k)
    data = path.read_bytes()
    assert data == kmcodec.encode(noise_image, k=k, seed=0)
    info = kmcodec.info(data)  # a valid file: structure and CRC check out
    assert (info.width, info.height) == (20, 24)
    assert info.colors <= k
    with Image.open(path) as im:
        assert im.format == "KMC" and im.size == (20, 24)


def test_save_default_is_16_colours(tmp_path, noise_image):
    path = tmp_path / "default.kmc"
    noise_image.save(path)
    data = path.read_bytes()
    assert data == kmcodec.encode(noise_image, k=16, seed=0)
    assert kmcodec.info(data).colors <= 16
    assert kmcodec.info(data).colors == 16  # noise has far more than 16 colours


def test_save_honours_seed(tmp_path, noise_image):
    saved = {}
    for seed in (1, 2):
        path = tmp_path / f"seed{seed}.kmc"
        noise_image.save(path, colors=8, seed=seed)
        saved[seed] = path.read_bytes()
        assert saved[seed] == kmcodec.encode(noise_image, k=8, seed=seed)
    # same seed, same bytes
    again = tmp_path / "again.kmc"
    noise_image.save(again, colors=8, seed=1)
    assert again.read_bytes() == saved[1]


def test_save_to_a_file_object_with_explicit_format(noise_image):
    buffer = io.BytesIO()
    noise_image.save(buffer, format="KMC", colors=4)
    assert buffer.getvalue() == kmcodec.encode(noise_image, k=4, seed=0)
    buffer.seek(0)
    with Image.open(buffer) as im:
        assert im.format == "KMC" and im.info["colors"] <= 4


def test_save_then_open_round_trips_a_few_colours(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[:3] = (200, 10, 10)
    rgb[3:, 4:] = (10, 200, 10)
    path = tmp_path / "blocks.kmc"
    Image.fromarray(rgb).save(path, colors=3)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), rgb)


def test_save_converts_other_modes_like_encode(tmp_path):
    grey = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8) * 5, mode="L")
    path = tmp_path / "grey.kmc"
    grey.save(path, colors=64)
    assert path.read_bytes() == kmcodec.encode(grey, k=64, seed=0)
    np.testing.assert_array_equal(
        kmcodec.read(path), np.repeat(np.asarray(grey)[:, :, None], 3, axis=2)
    )


def test_save_with_invalid_colors_is_a_parameter_error(tmp_path, noise_image):
    with pytest.raises(kmcodec.ParameterError, match="k is 0"):
        noise_image.save(tmp_path / "bad.kmc", colors=0)


def test_save_honours_every_encoder_option(tmp_path, noise_image):
    path = tmp_path / "e.kmc"
    noise_image.save(path, colors=8, coder="entropy", seed=2, n_init=1)
    assert path.read_bytes() == kmcodec.encode(noise_image, k=8, coder="entropy", seed=2, n_init=1)
    assert kmcodec.info(path).coder == "entropy"
    options = kmcodec.EncodeOptions(k=4, coder="entropy")
    noise_image.save(tmp_path / "o.kmc", options=options, seed=5)
    assert (tmp_path / "o.kmc").read_bytes() == kmcodec.encode(noise_image, options=options, seed=5)


@pytest.mark.parametrize("keywords, message", [
    ({"colours": 8},
     "save option 'colours' is not one the KMC writer takes; it takes background, chroma_weight, coder, colors, "),
    ({"quality": 90}, "save option 'quality' is not one the KMC writer takes"),
    ({"colors": 8, "k": 4}, "give colors or k, not both"),
    ({"coder": "zip"}, "coder is 'zip'; it must be one of"),
])
def test_save_rejects_what_it_would_ignore(tmp_path, noise_image, keywords, message):
    with pytest.raises(kmcodec.ParameterError, match=re.escape(message)):
        noise_image.save(tmp_path / "x.kmc", **keywords)
