"""Transparency on the way out: files with alpha (format version 2) through
the API, ``kmc decode``/``info``, batches and the Pillow plugin."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec import batch, container
from kmcodec.alpha import composite, parse_background, premultiplied
from kmcodec.cli import main
from kmcodec.errors import ParameterError
from kmcodec.outputs import OUTPUT_FORMATS, NoAlphaError

VECTORS = Path(__file__).resolve().parent / "vectors"
SPRITE = VECTORS / "alpha-entropy-sprite-k13-48x40.kmc"  # K <= 256: a palette image
WIDE = VECTORS / "alpha-k300-37x23.kmc"  # K > 256


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def rgba_of(path) -> np.ndarray:
    return kmcodec.decode(path.read_bytes())


# --- colours and compositing ----------------------------------------------------


@pytest.mark.parametrize("text, rgb", [
    ("#ff8000", (255, 128, 0)), ("#F80", (255, 136, 0)), ("white", (255, 255, 255)),
    ("rebeccapurple", (102, 51, 153)), (" black ", (0, 0, 0)), ((1, 2, 3), (1, 2, 3)),
])
def test_background_colours(text, rgb):
    assert parse_background(text) == rgb


@pytest.mark.parametrize("value, message", [
    ("nocolour", r"background is 'nocolour': not a colour; give #rrggbb"),
    ("#12345", "not a colour"),
    ("#ff000080", "not opaque"),
    ((256, 0, 0), r"background is \(256, 0, 0\); give a colour"),
    ((True, 0, 0), "give a colour"),
    (7, "give a colour"),
])
def test_bad_background_colours_are_named(value, message):
    with pytest.raises(ParameterError, match=message):
        parse_background(value)


def test_composite_by_hand():
    palette = np.array([[0, 0, 0, 0], [255, 0, 0, 128], [10, 20, 30, 255], [200, 100, 0, 1]], np.uint8)
    out = composite(palette, (0, 0, 255))
    # (c*A + bg*(255-A) + 127) // 255 per channel
    assert out.tolist() == [[0, 0, 255], [128, 0, 127], [10, 20, 30], [1, 0, 254]]


def test_premultiplied_by_hand():
    values = premultiplied(np.array([[255, 128, 0, 51], [9, 9, 9, 0], [1, 2, 3, 255]], np.uint8))
    np.testing.assert_allclose(values, [[51, 25.6, 0, 51], [0, 0, 0, 0], [1, 2, 3, 255]])


# --- the API ----------------------------------------------------------------------


def test_decode_gives_rgba_and_decode_palette_rgba_entries():
    data = SPRITE.read_bytes()
    pixels = kmcodec.decode(data)
    palette, indices = kmcodec.decode_palette(data)
    assert pixels.shape == (40, 48, 4) and palette.shape == (13, 4)
    np.testing.assert_array_equal(pixels, palette[indices])
    assert pixels[0, 0].tolist() == [0, 0, 0, 0]  # the corner is background
    assert {0, 255} <= set(np.unique(pixels[..., 3]).tolist())
    assert kmcodec.info(data).alpha and not kmcodec.info((VECTORS / "k5-11x7.kmc").read_bytes()).alpha


def test_quantized_with_alpha_writes_version_2():
    palette = np.array([[0, 0, 0, 0], [9, 8, 7, 200]], np.uint8)
    q = kmcodec.Quantized(palette, np.array([[0, 1], [1, 1]], np.uint8), 0, 0)
    assert q.alpha and q.to_rgb().shape == (2, 2, 4)
    data = q.to_bytes("entropy")
    assert kmcodec.info(data).version == 2
    np.testing.assert_array_equal(kmcodec.decode(data), palette[q.indices])


def test_palette_with_a_fifth_channel_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"it must be \(K, 3\) or, with alpha, \(K, 4\)"):
        kmcodec.Quantized(np.zeros((2, 5), np.uint8), np.zeros((1, 1), np.uint8), 0, 0)


# --- kmc decode -------------------------------------------------------------------


@pytest.mark.parametrize("source", [SPRITE, WIDE])
@pytest.mark.parametrize("fmt", [f.suffixes[0] for f in OUTPUT_FORMATS.values() if f.alpha])
def test_decode_keeps_alpha_in_formats_that_have_it(tmp_path, capsys, source, fmt):
    out = tmp_path / f"out{fmt}"
    code, _, err = run(capsys, "decode", source, "-o", out)
    assert code == 0, err
    with Image.open(out) as im:
        assert im.mode in ("RGBA", "P")
        np.testing.assert_array_equal(np.asarray(im.convert("RGBA")), rgba_of(source))


def test_png_of_a_palette_with_alpha_is_a_palette_png_with_trns(tmp_path, capsys):
    out = tmp_path / "sprite.png"
    code, _, err = run(capsys, "decode", SPRITE, "-o", out)
    assert code == 0 and "palette PNG with transparency" in err
    data = out.read_bytes()
    ihdr = struct.unpack(">IIBBBBB", data[16:29])
    assert ihdr[3] == 3  # colour type 3
    palette, _ = kmcodec.decode_palette(SPRITE.read_bytes())
    at = data.index(b"tRNS")
    length = struct.unpack(">I", data[at - 4 : at])[0]
    # Entries are sorted by alpha (spec 12.2): the opaque ones at the end
    # need no tRNS byte.
    assert data[at + 4 : at + 4 + length] == bytes(palette[: length, 3])
    assert length == int(np.count_nonzero(palette[:, 3] < 255))
    assert zlib.crc32(data[at : at + 4 + length]) == struct.unpack(">I", data[at + 4 + length : at + 8 + length])[0]


@pytest.mark.parametrize("fmt", [f.suffixes[0] for f in OUTPUT_FORMATS.values() if not f.alpha])
def test_formats_without_alpha_are_refused_without_a_background(tmp_path, capsys, fmt):
    out = tmp_path / f"out{fmt}"
    code, out_text, err = run(capsys, "decode", SPRITE, "-o", out)
    assert code == 2 and out_text == ""
    assert err.count("\n") == 1 and "has transparency and" in err and "give --background COLOR" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_background_composites_the_palette(tmp_path, capsys):
    out = tmp_path / "flat.ppm"
    assert run(capsys, "decode", SPRITE, "-o", out, "--background", "#102030")[0] == 0
    palette, indices = kmcodec.decode_palette(SPRITE.read_bytes())
    with Image.open(out) as im:
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), composite(palette, (16, 32, 48))[indices])
    assert np.asarray(Image.open(out))[0, 0].tolist() == [16, 32, 48]  # transparent corner


def test_background_on_a_png_composites_too(tmp_path, capsys):
    out = tmp_path / "flat.png"
    assert run(capsys, "decode", WIDE, "-o", out, "--background", "white")[0] == 0
    with Image.open(out) as im:
        assert im.mode == "RGB"
        palette, indices = kmcodec.decode_palette(WIDE.read_bytes())
        np.testing.assert_array_equal(np.asarray(im), composite(palette, (255, 255, 255))[indices])


def test_a_bad_background_is_a_usage_error(tmp_path, capsys):
    code, _, err = run(capsys, "decode", SPRITE, "-o", tmp_path / "x.png", "--background", "blurple")
    assert code == 2 and "--background is 'blurple': not a colour" in err
    assert list(tmp_path.iterdir()) == []


def test_opaque_files_ignore_the_background(tmp_path, capsys):
    source = VECTORS / "k17-13x9.kmc"
    assert run(capsys, "decode", source, "-o", tmp_path / "a.jpg", "--background", "red")[0] == 0
    assert run(capsys, "decode", source, "-o", tmp_path / "b.png", "--background", "red")[0] == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png").convert("RGB")),
                                  kmcodec.decode(source.read_bytes()))


def test_library_refusal_is_its_own_parameter_error(tmp_path):
    with pytest.raises(NoAlphaError, match="the image has transparency and BMP has none"):
        kmcodec.files.decode_file(SPRITE, tmp_path / "x.bmp")
    assert list(tmp_path.iterdir()) == []


def test_batch_decode_with_and_without_background(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for path in (SPRITE, WIDE, VECTORS / "k5-11x7.kmc"):
        (folder / path.name).write_bytes(path.read_bytes())
    results = batch.decode_many([folder], tmp_path / "jpg", "jpg", jobs=1)
    failed = {Path(r.input).name for r in results if not r.ok}
    assert failed == {SPRITE.name, WIDE.name}
    assert all("has transparency" in r.error for r in results if not r.ok)
    results = batch.decode_many([folder], tmp_path / "bmp", "bmp", jobs=1, background="black")
    assert all(r.ok for r in results)
    with Image.open(tmp_path / "bmp" / f"{SPRITE.name}.bmp") as im:
        palette, indices = kmcodec.decode_palette(SPRITE.read_bytes())
        np.testing.assert_array_equal(np.asarray(im), composite(palette, (0, 0, 0))[indices])


# --- kmc info ---------------------------------------------------------------------


def test_info_shows_the_alpha_formula(capsys):
    code, out, _ = run(capsys, "info", SPRITE)
    assert code == 0
    assert "with alpha" in out and "4 x 13 (32 bits per colour: R, G, B, A)" in out
    assert f"32K + N*ceil(log2 K) = {32 * 13 + 1920 * 4:,} bits" in out
    assert "format version 2" in out
    code, out, _ = run(capsys, "info", "--json", SPRITE, VECTORS / "k5-11x7.kmc")
    metas = json.loads(out)
    assert [m["alpha"] for m in metas] == [True, False]
    assert metas[0]["formula_bits"] == 32 * 13 + 1920 * 4


def test_packed_size_formula_with_alpha():
    for k in (1, 2, 3, 255, 256, 257):
        assert container.file_size(7, 5, k, alpha=True) == 32 + 4 * k + (35 * (k - 1).bit_length() + 7) // 8


# --- the Pillow plugin ------------------------------------------------------------


def test_plugin_opens_a_small_palette_with_transparency():
    with Image.open(SPRITE) as im:
        assert im.mode == "P"
        palette, _ = kmcodec.decode_palette(SPRITE.read_bytes())
        assert im.info["transparency"] == bytes(palette[:, 3])
        np.testing.assert_array_equal(np.asarray(im.convert("RGBA")), rgba_of(SPRITE))


def test_plugin_opens_a_large_palette_as_rgba():
    with Image.open(WIDE) as im:
        assert im.mode == "RGBA" and "transparency" not in im.info
        np.testing.assert_array_equal(np.asarray(im), rgba_of(WIDE))
