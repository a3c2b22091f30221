"""Transparency on the way out: files with alpha (format version 2) through
the API, ``kmc decode``/``info``, batches and the Pillow plugin."""

from __future__ import annotations

import json
import math
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


# --- encoding -----------------------------------------------------------------------


def cut_out(height=60, width=80, seed=0) -> np.ndarray:
    """A noisy photograph-like patch under a soft round mask: transparent
    corners, an opaque middle and a translucent rim, thousands of colours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 3, y * 4, (x + y) * 2], -1) % 256 + rng.integers(-12, 13, (height, width, 3))
    r = np.hypot(x - width / 2, y - height / 2)
    alpha = np.clip((min(height, width) / 2 - r) / 6, 0, 1) * 255
    return np.dstack([np.clip(rgb, 0, 255), np.rint(alpha)]).astype(np.uint8)


def premultiplied_sse(a: np.ndarray, b: np.ndarray) -> float:
    d = premultiplied(a) - premultiplied(b)
    return float((d * d).sum())


@pytest.mark.parametrize("k", [2, 3, 16, 64])
@pytest.mark.parametrize("coder", ["packed", "entropy"])
def test_lossy_alpha_keeps_transparent_and_opaque_exact(k, coder):
    image = cut_out()
    alpha = image[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any() and ((alpha > 0) & (alpha < 255)).any()
    data = kmcodec.encode(image, k=k, coder=coder)
    meta = kmcodec.info(data)
    # Version 3 when the coded palette is the smaller (spec section 14).
    assert meta.version == (3 if meta.coded_palette else 2) and meta.alpha and meta.colors <= k
    out = kmcodec.decode(data)
    assert (out[alpha == 0] == 0).all()  # exactly (0, 0, 0, 0)
    assert (out[alpha == 255][:, 3] == 255).all()
    palette, _ = kmcodec.decode_palette(data)
    keys = [int(a) << 24 | int(r) << 16 | int(g) << 8 | int(b) for r, g, b, a in palette]
    assert keys == sorted(set(keys)) and keys[0] == 0  # canonical (spec 12.2): transparent first
    q = kmcodec.quantize(image, k=k)
    assert q.error == pytest.approx(premultiplied_sse(image, out))
    assert q.mse == pytest.approx(q.error / (4 * image.shape[0] * image.shape[1]))


def test_translucent_gradation_is_kept():
    image = cut_out()
    out = kmcodec.decode(kmcodec.encode(image, k=64))
    rim = (image[..., 3] > 0) & (image[..., 3] < 255)
    assert len(np.unique(out[rim][:, 3])) >= 5  # not collapsed to on/off
    assert np.abs(out[rim][:, 3].astype(int) - image[rim][:, 3]).mean() < 12


def test_alpha_error_beats_the_plain_lloyd_result_from_the_same_start():
    # Sanity against a simple reference: k-means++-free plain Lloyd on the
    # premultiplied colours from evenly spaced pixels (the engine must do
    # at least as well; the constraints cost it little).
    image = cut_out(seed=3)
    q = kmcodec.quantize(image, k=16)
    x = premultiplied(image.reshape(-1, 4))
    centres = x[np.linspace(0, len(x) - 1, 16).astype(int)]
    for _ in range(50):
        labels = ((x[:, None, :] - centres[None]) ** 2).sum(2).argmin(1)
        centres = np.array([x[labels == j].mean(0) if (labels == j).any() else centres[j] for j in range(16)])
    reference = float(((x - centres[labels]) ** 2).sum())
    assert q.error <= reference * 1.02


def test_same_input_same_bytes_and_seed_matters():
    image = cut_out(seed=5)
    a = kmcodec.encode(image, k=16, seed=1)
    assert a == kmcodec.encode(image, k=16, seed=1)
    assert a == kmcodec.encode(image.copy(), k=16, seed=1)


def test_an_rgba_array_that_is_opaque_everywhere_is_a_version_1_file():
    rgb = cut_out()[..., :3]
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert kmcodec.encode(rgba, k=8) == kmcodec.encode(np.ascontiguousarray(rgb), k=8)
    assert kmcodec.info(kmcodec.encode(rgba, k=8)).version == 1


def test_background_composites_before_clustering():
    image = cut_out()
    flat = kmcodec.encode(image, k=8, background=(0, 128, 255))
    assert kmcodec.info(flat).version == 1
    composited = composite(image.reshape(-1, 4), (0, 128, 255)).reshape(*image.shape[:2], 3)
    assert flat == kmcodec.encode(composited, k=8)


def test_a_fully_transparent_image_is_one_entry():
    image = np.zeros((5, 6, 4), np.uint8)
    image[..., 0] = np.arange(6)  # colours under alpha 0 do not matter
    data = kmcodec.encode(image, k=16)
    assert kmcodec.decode_palette(data)[0].tolist() == [[0, 0, 0, 0]]
    assert len(data) == 32 + 4


def test_one_colour_with_transparent_and_opaque_pixels():
    # K = 1 cannot keep both exact: the one entry is the best single colour.
    image = np.zeros((2, 2, 4), np.uint8)
    image[0] = [90, 90, 90, 255]
    q = kmcodec.quantize(image, k=1)
    assert len(q.palette) == 1 and q.palette.shape == (1, 4)
    assert q.error == pytest.approx(premultiplied_sse(image, q.to_rgb()))


def test_two_colours_keep_the_transparent_entry_and_opaque_pixels_opaque():
    image = cut_out()
    palette, _ = kmcodec.decode_palette(kmcodec.encode(image, k=2))
    assert palette[0].tolist() == [0, 0, 0, 0] and palette[1, 3] == 255


@pytest.mark.parametrize("coder", ["packed", "entropy"])
def test_max_bytes_and_target_psnr_with_alpha(coder):
    image = cut_out()
    q = kmcodec.quantize_for_bytes(image, 3000, coder=coder)
    assert q.alpha and len(q.to_bytes(coder)) <= 3000
    bigger = kmcodec.quantize(image, k=len(q.palette) + 8)
    assert len(bigger.to_bytes(coder)) > 3000 or coder == "entropy"
    q = kmcodec.quantize_for_psnr(image, 35.0)
    assert q.alpha and 10 * np.log10(255**2 / q.mse) >= 35.0


def test_kmc_encode_of_every_alpha_mode(tmp_path, capsys):
    image = cut_out(20, 24)
    ims = {
        "rgba.png": Image.fromarray(image, "RGBA"),
        "la.png": Image.fromarray(image[..., [0, 3]], "LA"),
        "pa.png": Image.fromarray(image, "RGBA").quantize(32),
        "webp.webp": Image.fromarray(image, "RGBA"),
    }
    for name, im in ims.items():
        if name.endswith("webp"):
            im.save(tmp_path / name, lossless=True)
        else:
            im.save(tmp_path / name)
        code, _, err = run(capsys, "encode", tmp_path / name, "-k", 256, "-o", tmp_path / f"{name}.kmc")
        assert code == 0 and "with alpha" in err, (name, err)
        with Image.open(tmp_path / name) as original:
            expected = np.asarray(original.convert("RGBA")).copy()
        expected[expected[..., 3] == 0] = 0
        got = kmcodec.decode((tmp_path / f"{name}.kmc").read_bytes())
        if len(np.unique(expected.reshape(-1, 4), axis=0)) <= 256:
            np.testing.assert_array_equal(got, expected)
        else:
            assert (got[expected[..., 3] == 0] == 0).all()


def test_plugin_saves_rgba_la_pa_and_palette_transparency(tmp_path):
    image = cut_out(16, 20)
    sources = [
        Image.fromarray(image, "RGBA"),
        Image.fromarray(image[..., [0, 3]], "LA"),
        Image.fromarray(image, "RGBA").quantize(16),
    ]
    keyed = Image.fromarray(image[..., :3]).quantize(8)
    keyed.info["transparency"] = 0
    sources.append(keyed)
    for i, im in enumerate(sources):
        path = tmp_path / f"{i}.kmc"
        im.save(path, colors=256)
        with Image.open(path) as back:
            assert back.mode == "P" and "transparency" in back.info
            expected = np.asarray(im.convert("RGBA")).copy()
            expected[expected[..., 3] == 0] = 0
            np.testing.assert_array_equal(np.asarray(back.convert("RGBA")), expected)


def test_batch_encode_keeps_alpha(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(cut_out(), "RGBA").save(folder / "a.png")
    Image.fromarray(cut_out()[..., :3]).save(folder / "b.png")
    results = batch.encode_many([folder], tmp_path / "out", k=16, jobs=2)
    assert all(r.ok for r in results)
    assert kmcodec.info(tmp_path / "out" / "a.kmc").alpha
    assert not kmcodec.info(tmp_path / "out" / "b.kmc").alpha
    results = batch.encode_many([folder], tmp_path / "flat", k=16, jobs=1, background="white")
    assert not kmcodec.info(tmp_path / "flat" / "a.kmc").alpha


# --- kmc compare --------------------------------------------------------------------


def test_compare_measures_alpha_against_codecs_that_keep_it(tmp_path, caplog):
    from kmcodec.compare import compare_one
    from kmcodec.metrics import mse, psnr_from_mse

    path = tmp_path / "cut.png"
    image = cut_out(32, 40)
    Image.fromarray(image, "RGBA").save(path)
    with caplog.at_level("WARNING"):
        rows = compare_one(path, ks=(8,), want_ssim=False, want_ssimulacra2=False,
                           codecs=("png", "webp", "jpeg", "gif"))
    methods = {r.method for r in rows}
    assert {"kmc", "kmc-entropy", "png", "png8", "webp-lossless"} <= methods
    assert not any(m.startswith(("jpeg", "gif")) for m in methods)
    assert "jpeg rows left out: the image has transparency" in caplog.text
    kmc = next(r for r in rows if r.method == "kmc")
    q = kmcodec.quantize(image, k=8)
    assert kmc.extra["alpha"] and kmc.extra["formula_bits"] == 32 * len(q.palette) + 32 * 40 * 3
    assert kmc.psnr == pytest.approx(psnr_from_mse(mse(q.to_rgb(), image)))
    assert mse(q.to_rgb(), image) == pytest.approx(premultiplied_sse(image, q.to_rgb()) / image.size)
    webp = [r for r in rows if r.method.startswith("webp@")]
    assert webp and all(math.isfinite(r.psnr) for r in webp)


def test_metrics_on_rgba_use_premultiplied_values_and_both_backgrounds():
    from kmcodec.metrics import mse, ssim

    a = np.zeros((16, 16, 4), np.uint8)
    b = a.copy()
    b[..., 0] = 255  # a colour change under alpha 0: invisible
    assert mse(a, b) == 0
    a[..., 3] = b[..., 3] = 51
    assert mse(a, b) == pytest.approx((255 * 51 / 255) ** 2 / 4)
    c = a.copy()
    c[::2, ::2, 3] = 255
    assert ssim(a, c) < 1.0  # alpha alone changes what is seen on some background


def test_translucent_pixels_that_all_take_opaque_entries_make_a_version_1_file(tmp_path, capsys):
    # Spec 12.2: version 1 when every entry is opaque; the file is then the
    # one of the pixels it decodes to, and decodes as RGB.
    image = np.zeros((2, 2, 4), np.uint8)
    image[..., 3] = 255
    image[0, 0] = [10, 10, 10, 254]
    image[1, 1] = [200, 0, 0, 255]
    data = kmcodec.encode(image, k=2)
    meta = kmcodec.info(data)
    assert (meta.version, meta.alpha) == (1, False)
    decoded = kmcodec.decode(data)
    assert decoded.shape == (2, 2, 3)
    assert data == kmcodec.encode(np.ascontiguousarray(decoded), k=2)
    (tmp_path / "x.kmc").write_bytes(data)
    assert run(capsys, "decode", tmp_path / "x.kmc", "-o", tmp_path / "x.jpg")[0] == 0


def test_premultiplied_grey_with_alpha_is_read():
    la = Image.new("La", (3, 2), (90, 128))
    out = kmcodec.decode(kmcodec.encode(la))
    assert out.shape == (2, 3, 4) and (out[..., 3] == 128).all()


def test_qoi_limit_is_in_pixels_for_rgba_too():
    from kmcodec.outputs import check_size, output_format

    qoi = output_format("qoi")
    check_size(qoi, 20000, 20000, 4)  # 400 million pixels: the limit itself
    with pytest.raises(ParameterError, match="above 400000000, the most QOI can hold"):
        check_size(qoi, 20000, 20001, 4)
