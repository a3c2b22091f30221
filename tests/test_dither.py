"""Dithering: Floyd-Steinberg against a plain-Python reference, and what it must keep."""

from __future__ import annotations

import math

import numpy as np
import pytest

import kmcodec
from kmcodec.dither import LIMIT, remap
from kmcodec.errors import ParameterError


def _contrast(pixels: np.ndarray, y: int, x: int) -> int:
    h, w, _ = pixels.shape
    near = [(y + dy, x + dx) for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)) if 0 <= y + dy < h and 0 <= x + dx < w]
    return max(int(np.abs(pixels[y, x].astype(int) - pixels[n].astype(int)).sum()) for n in near)


def reference_fs(pixels: np.ndarray, palette: np.ndarray, level: float, selective: bool = False) -> np.ndarray:
    """Floyd-Steinberg as the module's docstring describes it, in RGB, one pixel at a time."""
    h, w, _ = pixels.shape
    points = pixels.astype(float)
    pal = palette.astype(float)
    lo, hi = pal.min(0), pal.max(0)
    err = np.zeros((h + 1, w + 2, 3))
    out = np.zeros((h, w), int)
    for y in range(h):
        step = 1 if y % 2 == 0 else -1
        for x in range(w) if step == 1 else range(w - 1, -1, -1):
            t = [min(max(points[y, x, c] + min(max(err[y, x + 1, c], -LIMIT), LIMIT), lo[c]), hi[c])
                 for c in range(3)]
            dists = [math.sqrt(sum((t[c] - pal[j, c]) ** 2 for c in range(3))) for j in range(len(pal))]
            j = int(np.argmin(dists))  # ties: the lower index
            out[y, x] = j
            share = level
            if selective:
                contrast = _contrast(pixels, y, x)
                share = 0.0 if contrast >= 32 else level if contrast <= 8 else level * (32 - contrast) / (32 - 8)
            for c in range(3):
                e = (t[c] - pal[j, c]) * share
                err[y, x + 1 + step, c] += e * (7 / 16)
                err[y + 1, x + 1 - step, c] += e * (3 / 16)
                err[y + 1, x + 1, c] += e * (5 / 16)
                err[y + 1, x + 1 + step, c] += e * (1 / 16)
    return out


@pytest.mark.parametrize(("seed", "k", "level"), [(0, 2, 1.0), (1, 5, 1.0), (2, 16, 0.6), (3, 40, 0.3)])
@pytest.mark.parametrize("method", ["fs", "selective"])
def test_error_diffusion_matches_the_reference(seed, k, level, method):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:9, 0:13]
    noise = rng.integers(-8, 8, (9, 13, 3)) * (1 + (x > 6)[..., None] * 3)  # smooth left, rough right
    pixels = np.clip(np.stack([x * 3, y * 4, (x + y) * 2], -1) + 100 + noise, 0, 255).astype(np.uint8)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    guess = rng.integers(0, k, (9, 13))  # any start: the search is exact
    expected = reference_fs(pixels, palette, level, method == "selective")
    assert np.array_equal(remap(pixels, palette, guess, method, level, "rgb"), expected)


def test_selective_dithering_leaves_texture_alone_and_dithers_smooth_areas():
    rng = np.random.default_rng(5)
    rough = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)  # every neighbour differs by far more than 32
    palette = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 30]], np.uint8)
    nearest = np.argmin(((rough[:, :, None, :].astype(int) - palette) ** 2).sum(-1), -1)
    assert np.array_equal(remap(rough, palette, nearest, "selective", 1.0, "rgb"), nearest)
    smooth = _gradient()
    q = kmcodec.quantize(smooth, 6)
    assert np.array_equal(remap(smooth, q.palette, q.indices, "selective", 1.0, "rgb"),
                          remap(smooth, q.palette, q.indices, "fs", 1.0, "rgb"))


def test_a_grey_between_black_and_white_becomes_the_right_share_of_white():
    # The classic case: a quarter-grey from black and white only.
    pixels = np.full((32, 32, 3), 64, np.uint8)
    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    out = remap(pixels, palette, np.zeros((32, 32), int), "fs", 1.0, "rgb")
    assert abs(out.mean() - 64 / 255) < 0.01  # undithered, every pixel would be black


def _gradient() -> np.ndarray:
    x = np.linspace(0, 1, 256)
    row = np.stack([40 + 180 * x, 90 + 100 * x, 200 - 150 * x], -1)
    return np.repeat(row[None], 64, 0).round().astype(np.uint8)


def _block_means(image: np.ndarray) -> np.ndarray:
    return image.astype(float).reshape(8, 8, 32, 8, 3).mean((1, 3))


def test_dithering_keeps_the_mean_colour_of_areas_in_a_gradient():
    image = _gradient()
    plain = kmcodec.decode(kmcodec.encode(image, 6))
    fs = kmcodec.decode(kmcodec.encode(image, 6, dither="fs"))
    target = _block_means(image)
    plain_err = np.abs(_block_means(plain) - target).mean()
    fs_err = np.abs(_block_means(fs) - target).mean()
    assert fs_err < plain_err / 3


def test_level_zero_and_exact_images_are_not_dithered():
    image = _gradient()
    assert kmcodec.encode(image, 6, dither="fs", dither_level=0) == kmcodec.encode(image, 6)
    few = image[:, ::64].copy()  # 4 colours
    assert kmcodec.encode(few, 8, dither="fs") == kmcodec.encode(few, 8)


def test_dithering_is_repeatable_and_canonical():
    image = _gradient()
    data = kmcodec.encode(image, 6, dither="fs", space="oklab")
    assert data == kmcodec.encode(image, 6, dither="fs", space="oklab")
    palette, _ = kmcodec.decode_palette(data)
    assert np.all(np.diff((palette.astype(np.int64) << np.array([16, 8, 0])).sum(1)) > 0)
    q = kmcodec.quantize(image, 6, dither="fs")
    decoded = q.to_rgb().astype(np.int64)
    assert q.error == int(((decoded - image) ** 2).sum())


def test_transparent_and_opaque_pixels_keep_their_alpha():
    y, x = np.mgrid[0:40, 0:40]
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 6 * x
    rgba[..., 1] = 250 - 6 * y
    rgba[..., 2] = 128
    rgba[..., 3] = np.select([x < 10, x < 20], [0, 255], 60 + 6 * (x - 20)).astype(np.uint8)
    out = kmcodec.quantize(rgba, 8, dither="fs").to_rgb()
    a = rgba[..., 3]
    assert np.all(out[a == 0] == 0) and np.all(out[a == 255][:, 3] == 255)


def test_bad_settings_are_refused():
    with pytest.raises(ParameterError, match=r"dither is 'atkinson'; it must be one of \('none', 'fs', 'selective'\)"):
        kmcodec.EncodeOptions(dither="atkinson")
    with pytest.raises(ParameterError, match="dither_level is 1.5; it must be a number from 0 to 1"):
        kmcodec.EncodeOptions(dither_level=1.5)


def test_command_line(tmp_path, samples, capsys):
    from kmcodec.cli import main

    out = tmp_path / "c.kmc"
    assert main(["encode", str(samples / "chelsea.png"), "-k", "8", "--dither", "fs", "--dither-level", "0.5",
                 "-o", str(out)]) == 0
    assert out.read_bytes() == kmcodec.encode(samples / "chelsea.png", 8, dither="fs", dither_level=0.5)
    capsys.readouterr()
    assert main(["encode", str(samples / "chelsea.png"), "--dither-level", "2"]) == 2
    assert "--dither-level is 2; it must be from 0 to 1" in capsys.readouterr().err


def test_perceptual_is_oklab_with_selective_dithering():
    image = _gradient()
    assert kmcodec.EncodeOptions(perceptual=True).space == "oklab"
    expected = kmcodec.encode(image, 6, space="oklab", dither="selective")
    assert kmcodec.encode(image, 6, perceptual=True) == expected
    assert kmcodec.encode(image, 6, perceptual=True, dither="selective") == expected
    with pytest.raises(ParameterError, match="perceptual sets dither to 'selective' but dither is 'fs'"):
        kmcodec.EncodeOptions(perceptual=True, dither="fs")
    with pytest.raises(ParameterError, match="perceptual is 1; it must be True or False"):
        kmcodec.EncodeOptions(perceptual=1)


def test_translucent_areas_keep_their_mean_alpha():
    # Low alphas lie outside the palette's premultiplied range: clipping
    # them would push the edge's alpha up by 5 to 7 (found in review).
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:120, 0:160]
    rgba = np.zeros((120, 160, 4), np.uint8)
    rgba[..., 0] = 120 + x // 2
    rgba[..., 1] = 60 + y
    rgba[..., 2] = 90
    rgba[..., 3] = 255
    rgba[:, -16:, 3] = rng.integers(60, 140, (120, 16))
    for k in (4, 16):
        out = kmcodec.quantize(rgba, k, dither="fs").to_rgb()
        assert abs(out[:, -16:, 3].mean() - rgba[:, -16:, 3].mean()) < 2


def test_dither_level_alone_is_a_usage_error(samples, capsys):
    from kmcodec.cli import main

    assert main(["encode", str(samples / "chelsea.png"), "--dither-level", "0.5"]) == 2
    assert "--dither-level needs --dither fs or selective" in capsys.readouterr().err

