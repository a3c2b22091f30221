"""Colour spaces: Oklab's published values, exact round trips, and palettes searched in Oklab."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec.cli import main
from kmcodec.colorspace import from_space, to_space
from kmcodec.errors import ParameterError

# The sRGB primaries, white and black in Oklab (L, a, b), as Ottosson's
# reference implementation and CSS Color 4 give them.
PUBLISHED = [
    ((255, 255, 255), (1.0, 0.0, 0.0)),
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 0, 0), (0.62796, 0.22486, 0.12585)),
    ((0, 255, 0), (0.86644, -0.23389, 0.17950)),
    ((0, 0, 255), (0.45201, -0.03246, -0.31153)),
]


@pytest.mark.parametrize(("rgb", "lab"), PUBLISHED)
def test_oklab_of_the_primaries(rgb, lab):
    got = to_space(np.array([rgb], np.uint8), "oklab")[0] / 255
    assert np.allclose(got, lab, atol=5e-5)


def test_greys_have_no_chroma_and_rise_in_lightness():
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, 1)
    lab = to_space(grey, "oklab")
    assert np.abs(lab[:, 1:]).max() < 1e-4  # the published matrices leave ~4e-8 of chroma
    assert np.all(np.diff(lab[:, 0]) > 0)


def test_every_seventh_srgb_colour_comes_back_exactly():
    values = np.arange(0, 1 << 24, 7, dtype=np.uint32)
    colors = np.stack([values >> 16, (values >> 8) & 255, values & 255], 1).astype(np.uint8)
    assert np.array_equal(from_space(to_space(colors, "oklab"), "oklab"), colors)


def test_rgb_space_is_the_identity():
    colors = np.random.default_rng(1).integers(0, 256, (100, 3), dtype=np.uint8)
    assert np.array_equal(to_space(colors, "rgb"), colors.astype(np.float64))
    assert np.array_equal(from_space(to_space(colors, "rgb"), "rgb"), colors)


def test_points_outside_the_gamut_are_clipped_to_it():
    points = np.array([[400.0, 0, 0], [-50, 0, 0], [180, 120, -120]])
    out = from_space(points, "oklab")
    assert out.dtype == np.uint8
    assert out[0].tolist() == [255, 255, 255] and out[1].tolist() == [0, 0, 0]


def _oklab_error(image: np.ndarray, q: kmcodec.Quantized) -> float:
    diff = to_space(image, "oklab") - to_space(q.to_rgb(), "oklab")
    return float(np.mean(np.sum(diff * diff, -1)))


def test_each_space_wins_on_its_own_error(samples):
    with Image.open(samples / "chelsea.png") as im:
        image = np.asarray(im.convert("RGB"))
    rgb = kmcodec.quantize(image, 16, space="rgb")
    oklab = kmcodec.quantize(image, 16, space="oklab")
    assert _oklab_error(image, oklab) < 0.9 * _oklab_error(image, rgb)
    assert rgb.mse < oklab.mse


def test_pixels_take_the_entry_nearest_in_oklab(samples):
    with Image.open(samples / "coffee.png") as im:
        image = np.asarray(im.convert("RGB"))[::4, ::4]
    q = kmcodec.quantize(image, 12, space="oklab")
    points = to_space(image.reshape(-1, 3), "oklab")
    entries = to_space(q.palette, "oklab")
    d2 = ((points[:, None, :] - entries[None, :, :]) ** 2).sum(-1)
    chosen = d2[np.arange(len(points)), q.indices.reshape(-1)]
    assert np.allclose(chosen, d2.min(1))


def test_oklab_files_are_canonical_and_repeatable(samples):
    with Image.open(samples / "chelsea.png") as im:
        image = np.asarray(im.convert("RGB"))
    first = kmcodec.encode(image, 8, seed=4, space="oklab")
    assert first == kmcodec.encode(image, 8, seed=4, space="oklab")
    palette, _ = kmcodec.decode_palette(first)
    values = (palette.astype(np.int64) << np.array([16, 8, 0])).sum(1)
    assert len(palette) == 8 and np.all(np.diff(values) > 0)


def test_few_colours_stay_exact_in_either_space():
    image = np.array([[[10, 20, 30], [200, 100, 0]], [[10, 20, 30], [0, 0, 0]]], np.uint8)
    for space in ("rgb", "oklab"):
        assert np.array_equal(kmcodec.decode(kmcodec.encode(image, 4, space=space)), image)


def test_an_unknown_space_is_refused():
    with pytest.raises(ParameterError, match=r"space is 'lab'; it must be one of \('rgb', 'oklab'\)"):
        kmcodec.EncodeOptions(space="lab")


def _sprite() -> np.ndarray:
    """A gradient disc with a soft edge on a transparent background: many
    colours of every kind (clear, translucent, opaque)."""
    y, x = np.mgrid[0:48, 0:48]
    r = np.hypot(x - 24, y - 24)
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[..., 0] = 40 + 4 * x
    rgba[..., 1] = 200 - 3 * y
    rgba[..., 2] = 90 + 2 * (x + y) // 3
    rgba[..., 3] = np.clip((20 - r) * 64, 0, 255).astype(np.uint8)
    return rgba


def test_transparency_in_oklab_keeps_clear_and_opaque_exact():
    rgba = _sprite()
    q = kmcodec.quantize(rgba, 12, space="oklab")
    out = q.to_rgb()
    a = rgba[..., 3]
    assert out.shape == (48, 48, 4)
    assert np.all(out[a == 0] == 0) and np.all(out[a == 255][:, 3] == 255)
    assert np.count_nonzero((out[..., 3] > 0) & (out[..., 3] < 255)) > 0  # the edge keeps a gradation
    opaque = a == 255
    rgb_mode = kmcodec.quantize(rgba, 12, space="rgb").to_rgb()

    def oklab_error(result):
        d = to_space(rgba[opaque][:, :3], "oklab") - to_space(result[opaque][:, :3], "oklab")
        return float(np.mean(np.sum(d * d, -1)))

    assert oklab_error(out) < oklab_error(rgb_mode)


def test_command_line_and_plugin(tmp_path, samples, capsys):
    out = tmp_path / "c.kmc"
    assert main(["encode", str(samples / "chelsea.png"), "-k", "8", "--space", "oklab", "-o", str(out)]) == 0
    with Image.open(samples / "chelsea.png") as im:
        expected = kmcodec.encode(im, 8, space="oklab")
        buf = io.BytesIO()
        im.save(buf, "KMC", colors=8, space="oklab")
    assert out.read_bytes() == expected == buf.getvalue()
    capsys.readouterr()
    assert main(["encode", str(samples / "chelsea.png"), "--space", "lab"]) == 2
    assert "invalid choice: 'lab'" in capsys.readouterr().err


def test_points_premultiply_the_colour_in_either_space():
    from kmcodec.colorspace import points

    rgba = np.array([[255, 0, 0, 255], [255, 0, 0, 51], [10, 200, 30, 0]], np.uint8)
    assert np.allclose(points(rgba, "rgb"), [[255, 0, 0, 255], [51, 0, 0, 51], [0, 0, 0, 0]])
    red = to_space(rgba[:1, :3], "oklab")[0]
    assert np.allclose(points(rgba, "oklab"), [[*red, 255], [*(red * 0.2), 51], [0, 0, 0, 0]])
    assert np.array_equal(points(rgba[:, :3], "oklab"), to_space(rgba[:, :3], "oklab"))


# --- the chroma weight -------------------------------------------------------------


def test_the_chroma_weight_multiplies_a_and_b_only():
    colours = np.random.default_rng(3).integers(0, 256, (200, 3), dtype=np.uint8)
    plain, weighted = to_space(colours, "oklab"), to_space(colours, "oklab", 3.0)
    np.testing.assert_array_equal(to_space(colours, "oklab", 1.0), plain)
    np.testing.assert_allclose(weighted[:, 0], plain[:, 0], atol=1e-9)
    np.testing.assert_allclose(weighted[:, 1:], 3 * plain[:, 1:], atol=1e-9)
    np.testing.assert_array_equal(from_space(weighted, "oklab", 3.0), colours)


@pytest.mark.parametrize(("height", "width", "weight"), [
    (1, 1, 3.0), (112, 150, 3.0), (100, 400, 3.0), (4000, 112, 3.0),  # SSIMULACRA2: 4 scales or fewer
    (113, 150, 2.0), (120, 120, 2.0), (220, 600, 2.0), (224, 5000, 2.0),  # 5 scales
    (225, 225, 1.0), (240, 320, 1.0), (3000, 4000, 1.0)])  # 6 scales
def test_auto_weight_follows_the_smaller_side(height, width, weight):
    assert kmcodec.EncodeOptions(perceptual=True).chroma(height, width) == weight
    assert kmcodec.EncodeOptions(space="oklab", chroma_weight=2.5).chroma(height, width) == 2.5
    assert kmcodec.EncodeOptions().chroma(height, width) == 1.0  # rgb


@pytest.mark.parametrize(("settings", "match"), [
    ({"chroma_weight": 0.5, "space": "oklab"}, r"chroma_weight is 0.5; it must be a number from 1 to 10, or 'auto'"),
    ({"chroma_weight": "more", "space": "oklab"}, r"chroma_weight is 'more'"),
    ({"chroma_weight": True, "space": "oklab"}, r"chroma_weight is True"),
    ({"chroma_weight": 2}, r"chroma_weight is 2 but space is 'rgb'.*needs space='oklab'"),
    ({"chroma_weight": 2, "perceptual": True}, r"perceptual sets chroma_weight to 'auto' but chroma_weight is 2"),
])
def test_bad_chroma_weights_are_refused(settings, match):
    with pytest.raises(ParameterError, match=match):
        kmcodec.EncodeOptions(**settings)


def _grey_ramp_with_a_red_patch() -> np.ndarray:
    """64 x 64: a grey ramp of 64 levels, and an 8 x 8 patch of red."""
    image = np.repeat(np.repeat(np.arange(64, dtype=np.uint8)[None, :] * 4, 64, 0)[..., None], 3, 2)
    image[20:28, 30:38] = (200, 60, 60)
    return np.ascontiguousarray(image)


def test_a_small_hue_keeps_an_entry_when_chroma_counts_more():
    """At K = 4 plain Oklab spends every entry on the 64 greys and the red
    patch turns grey; weighted three times, the red keeps its own entry."""
    image = _grey_ramp_with_a_red_patch()

    def red_error(**settings) -> int:
        q = kmcodec.quantize(image, 4, space="oklab", **settings)
        return int(np.abs(q.to_rgb()[20:28, 30:38].astype(int) - (200, 60, 60)).max())

    assert red_error(chroma_weight=3) == 0
    assert red_error() > 40


def test_the_ditherer_takes_the_same_oklab_points_as_the_palette_search():
    """The compiled row conversion (cube roots by two Halley steps) agrees
    with :func:`kmcodec.colorspace.points` (NumPy's) to 1e-10 (in units of
    255 x Oklab, where 5 is a just-noticeable difference), with alpha too."""
    from kmcodec import _dither_jit, colorspace

    rng = np.random.default_rng(6)
    colors = np.concatenate([rng.integers(0, 256, (20000, 3)), [[0, 0, 0], [255, 255, 255], [1, 0, 0], [0, 0, 1]]])
    for channels in (3, 4):
        pixels = np.zeros((1, len(colors), channels), np.uint8)
        pixels[0, :, :3] = colors
        if channels == 4:
            pixels[0, :, 3] = rng.integers(0, 256, len(colors))
        row = np.empty((len(colors), channels))
        _dither_jit._row_points(pixels, 0, True, colorspace._LINEAR, colorspace._M1, colorspace.oklab_matrix(2.0),
                                row)
        expected = colorspace.points(pixels[0], "oklab", 2.0)
        assert np.abs(row - expected).max() < 1e-10
        assert not row[-4].any() if channels == 3 else not row[-4, :3].any()  # black


def test_the_ditherer_measures_in_the_weighted_space():
    """One pixel between a grey entry close in lightness and a green one
    close in hue: the weight decides which it takes."""
    from kmcodec.dither import remap

    pixel = np.array([[[69, 111, 62]]], np.uint8)
    palette = np.array([[100, 100, 100], [40, 140, 50]], np.uint8)
    guess = np.zeros((1, 1), np.uint16)
    plain = remap(pixel, palette, guess, "fs", 1.0, "oklab")
    weighted = remap(pixel, palette, guess, "fs", 1.0, "oklab", chroma=4.0)
    assert (int(plain[0, 0]), int(weighted[0, 0])) == (0, 1)


def test_chroma_weight_on_the_command_line(tmp_path, capsys):
    src = tmp_path / "ramp.png"
    Image.fromarray(_grey_ramp_with_a_red_patch()).save(src)
    out = tmp_path / "ramp.kmc"
    assert main(["encode", str(src), "-k", "4", "--space", "oklab", "--chroma-weight", "3", "-o", str(out)]) == 0
    again = tmp_path / "auto.kmc"
    assert main(["encode", str(src), "-k", "4", "--space", "oklab", "--chroma-weight", "auto", "-o",
                 str(again)]) == 0
    assert out.read_bytes() == again.read_bytes()  # 4,096 pixels: auto is 3
    assert main(["encode", str(src), "--space", "oklab", "--chroma-weight", "11"]) == 2
    assert "--chroma-weight is 11; it must be from 1 to 10, or auto" in capsys.readouterr().err
