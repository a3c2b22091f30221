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


def _activity(pixels: np.ndarray, y: int, x: int) -> float:
    h, w, _ = pixels.shape
    near = [(y + dy, x + dx) for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)) if 0 <= y + dy < h and 0 <= x + dx < w]
    return max(math.sqrt(((pixels[y, x].astype(float) - pixels[n].astype(float)) ** 2).sum()) for n in near)


def reference_map(guess: np.ndarray) -> np.ndarray:
    """The dither map as the module's docstring describes it: each pixel's
    1 - 20 / (20 + n) from the run of one undithered entry it lies in."""
    h, w = guess.shape
    share = np.ones((h, w))
    for y in range(h):
        x0 = 0
        while x0 < w:
            x1 = x0
            while x1 < w and guess[y, x1] == guess[y, x0]:
                x1 += 1
            n = 10 * (x1 - x0) + 15 * sum(int(guess[yy, x] == guess[y, x0])
                                          for x in range(x0, x1) for yy in (y - 1, y + 1) if 0 <= yy < h)
            share[y, x0:x1] = 1 - 20 / (20 + n)
            x0 = x1
    return share


def reference_fs(pixels: np.ndarray, palette: np.ndarray, level: float, selective: bool = False,
                 rate: float = 0.0, band: int = 10**9, fine: float = 5.1, cap: float = 0.5,
                 guess: np.ndarray | None = None) -> np.ndarray:
    """Floyd-Steinberg as the module's docstring describes it, in RGB, one pixel at a time.

    ``rate``: the rate-aware choice's weight.  ``band``: rows per band; a
    band starts without error and its rate-aware choice looks at no row
    above it.  ``fine`` and ``cap``: the docstring's :data:`FINE` and the
    cap on the activity term, as a share of the spacing.  ``guess``: the
    undithered entries, whose dither map then scales every share.
    """
    h, w, _ = pixels.shape
    points = pixels.astype(float)
    pal = palette.astype(float)
    apart = np.sqrt(((pal[:, None] - pal[None]) ** 2).sum(-1)) + np.diag(np.full(len(pal), np.inf))
    spacing = float(np.median(apart.min(1))) if len(pal) > 1 else 0.0
    level *= min(1.0, spacing / fine)  # a palette too fine for bands to show is dithered less
    lo, hi = pal.min(0), pal.max(0)
    mapped = np.ones((h, w)) if guess is None else reference_map(guess)
    err = np.zeros((h + 1, w + 2, 3))
    out = np.zeros((h, w), int)
    for y in range(h):
        top = y - y % band
        if y == top:
            err[y] = 0.0
        step = 1 if y % 2 == 0 else -1
        for x in range(w) if step == 1 else range(w - 1, -1, -1):
            t = [min(max(points[y, x, c] + min(max(err[y, x + 1, c], -LIMIT), LIMIT), lo[c]), hi[c])
                 for c in range(3)]
            dists = [math.sqrt(sum((t[c] - pal[j, c]) ** 2 for c in range(3))) for j in range(len(pal))]
            j = int(np.argmin(dists))  # ties: the lower index
            if rate:
                held = [(y, x - step), (y - 1, x), (y - 1, x - 1), (y - 1, x + 1)]
                held_entries = [out[n] for n in held if n[0] >= top and 0 <= n[1] < w]
                if j not in held_entries:
                    best = (dists[j] + rate * 0.05 * spacing
                            + min(rate * 0.12 * _activity(pixels, y, x), rate * cap * spacing))
                    for e in held_entries:
                        if dists[e] < best:
                            best, j = dists[e], e
            out[y, x] = j
            share = level
            if selective:
                contrast = _contrast(pixels, y, x)
                share = 0.0 if contrast >= 32 else level if contrast <= 8 else level * (32 - contrast) / (32 - 8)
            share *= mapped[y, x]
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


@pytest.mark.parametrize(("seed", "k", "rate"), [(0, 2, 0.5), (1, 5, 1.0), (2, 16, 2.0), (3, 40, 4.0)])
@pytest.mark.parametrize("method", ["fs", "selective"])
def test_the_rate_aware_choice_matches_the_reference(seed, k, rate, method):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:9, 0:13]
    noise = rng.integers(-8, 8, (9, 13, 3)) * (1 + (x > 6)[..., None] * 3)
    pixels = np.clip(np.stack([x * 3, y * 4, (x + y) * 2], -1) + 100 + noise, 0, 255).astype(np.uint8)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    guess = rng.integers(0, k, (9, 13))
    expected = reference_fs(pixels, palette, 1.0, method == "selective", rate)
    assert np.array_equal(remap(pixels, palette, guess, method, 1.0, "rgb", rate), expected)
    assert not np.array_equal(expected, reference_fs(pixels, palette, 1.0, method == "selective"))


def test_the_dither_map_by_hand():
    from kmcodec import _dither_jit

    guess = np.array([[0, 0, 7, 7, 2, 2],
                      [0, 0, 1, 1, 1, 2],
                      [0, 0, 1, 8, 8, 9]])
    shares = np.full(6, 0.5)
    _dither_jit._run_shares(guess, 1, 20.0, shares)
    # Runs of row 1: (0, 0) with 2 + 2 equal pixels above and below (n = 20 + 60);
    # (1, 1, 1) with one below (n = 30 + 15); (2) with one above (n = 10 + 15).
    np.testing.assert_allclose(shares, 0.5 * np.array([80 / 100] * 2 + [45 / 65] * 3 + [25 / 45]), rtol=1e-15)
    shares = np.ones(6)
    _dither_jit._run_shares(guess, 0, 20.0, shares)  # no row above
    np.testing.assert_allclose(shares, [50 / 70] * 2 + [20 / 40] * 2 + [35 / 55] * 2, rtol=1e-15)
    np.testing.assert_allclose(reference_map(guess)[:2], [[50 / 70] * 2 + [20 / 40] * 2 + [35 / 55] * 2,
                                                          [80 / 100] * 2 + [45 / 65] * 3 + [25 / 45]])


@pytest.mark.parametrize(("seed", "k", "level", "rate"), [(0, 6, 1.0, 0.0), (1, 5, 0.75, 1.0), (2, 40, 0.6, 2.0)])
@pytest.mark.parametrize("method", ["fs", "selective"])
@pytest.mark.parametrize("cells", [True, False], ids=["opaque-kernel", "general-kernel"])
def test_the_dither_map_matches_the_reference(monkeypatch, seed, k, level, rate, method, cells):
    from kmcodec import dither

    if not cells:
        monkeypatch.setattr(dither, "_CELL_COLORS", 0)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:20, 0:30]
    noise = rng.integers(-8, 8, (20, 30, 3)) * (1 + (x > 14)[..., None] * 3)  # smooth left, rough right
    pixels = np.clip(np.stack([x * 3, y * 4, (x + y) * 2], -1) + 60 + noise, 0, 255).astype(np.uint8)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    guess = np.argmin(((pixels[:, :, None, :].astype(int) - palette) ** 2).sum(-1), -1)  # runs and texture
    expected = reference_fs(pixels, palette, level, method == "selective", rate, guess=guess)
    got = remap(pixels, palette, guess, method, level, "rgb", rate, mapped=True)
    assert np.array_equal(got, expected)
    assert not np.array_equal(expected, reference_fs(pixels, palette, level, method == "selective", rate))


@pytest.mark.parametrize("method", ["fs", "selective"])
@pytest.mark.parametrize("cells", [True, False], ids=["opaque-kernel", "general-kernel"])
def test_the_dither_map_in_bands_matches_the_reference(monkeypatch, method, cells):
    # The map reads only the undithered entries, above and below a band's edge too.
    from kmcodec import dither

    monkeypatch.setattr(dither, "BAND_ROWS", 7)
    monkeypatch.setattr(dither, "_threads", lambda: 2)
    if not cells:
        monkeypatch.setattr(dither, "_CELL_COLORS", 0)
    rng = np.random.default_rng(9)
    y, x = np.mgrid[0:41, 0:30]
    noise = rng.integers(-8, 8, (41, 30, 3)) * (1 + (x > 14)[..., None] * 3)
    pixels = np.clip(np.stack([x * 3, y * 4, (x + y) * 2], -1) + 40 + noise, 0, 255).astype(np.uint8)
    palette = rng.integers(0, 256, (12, 3), dtype=np.uint8)
    guess = np.argmin(((pixels[:, :, None, :].astype(int) - palette) ** 2).sum(-1), -1)
    expected = reference_fs(pixels, palette, 0.8, method == "selective", 1.0, band=7, guess=guess)
    assert np.array_equal(remap(pixels, palette, guess, method, 0.8, "rgb", 1.0, mapped=True), expected)
    assert not np.array_equal(expected, reference_fs(pixels, palette, 0.8, method == "selective", 1.0, band=7))


def test_the_dither_map_leaves_texture_alone_and_keeps_a_gradients_mean_colour():
    rng = np.random.default_rng(11)
    smooth = _gradient()
    rough = np.clip(smooth.astype(int) + rng.integers(-60, 61, smooth.shape), 0, 255).astype(np.uint8)
    q = kmcodec.quantize(rough, 8)
    changed = [(remap(rough, q.palette, q.indices, "fs", 1.0, "rgb", mapped=m) != q.indices).mean()
               for m in (False, True)]
    assert changed[1] < 0.8 * changed[0]  # fewer pixels leave their nearest entry in texture
    # A gradient's long runs are dithered as much as without the map (4.98 undithered, 1.28 and 1.27).
    errors = [np.abs(_block_means(kmcodec.decode(kmcodec.encode(smooth, 6, **settings))) - _block_means(smooth)).mean()
              for settings in ({}, {"dither": "fs"}, {"dither": "fs", "dither_map": True})]
    assert errors[2] < errors[0] / 3 and errors[2] < 1.05 * errors[1]


def test_dither_map_auto_follows_the_smaller_side():
    on, off, auto = (kmcodec.EncodeOptions(dither="fs", dither_map=v) for v in (True, False, "auto"))
    assert [auto.mapped(h, w) for h, w in ((224, 5000), (4000, 224), (225, 225), (3000, 4000))] == [
        True, True, False, False]
    assert on.mapped(3000, 4000) and not off.mapped(10, 10)
    assert kmcodec.EncodeOptions(perceptual=True).dither_map == "auto"
    assert kmcodec.EncodeOptions().dither_map is False
    image = _gradient()  # 64 x 256: auto maps it
    assert kmcodec.encode(image, 6, dither="fs", dither_map="auto") == kmcodec.encode(image, 6, dither="fs",
                                                                                       dither_map=True)
    assert kmcodec.encode(image, 6, dither="fs", dither_map=True) != kmcodec.encode(image, 6, dither="fs")


@pytest.mark.parametrize("cells", [True, False], ids=["opaque-kernel", "general-kernel"])
@pytest.mark.parametrize("method", ["fs", "selective"])
def test_a_fine_palette_is_dithered_less_and_caps_the_rate_allowance(method, cells, monkeypatch):
    from kmcodec import dither

    if not cells:
        monkeypatch.setattr(dither, "_CELL_COLORS", 0)
    # Greys two to three levels apart over a textured grey ramp: the
    # palette's median spacing is below FINE, and 12% of the texture's
    # activity is above half that spacing.
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:12, 0:16]
    grey = 90 + x * 2 + y + rng.integers(-12, 13, (12, 16)) * (x > 7)
    pixels = np.clip(np.stack([grey, grey + 1, grey - 1], -1), 0, 255).astype(np.uint8)
    levels = np.cumsum(rng.integers(2, 4, 40)) + 80
    palette = np.stack([levels, levels, levels], -1).astype(np.uint8)
    guess = np.zeros((12, 16), int)
    expected = reference_fs(pixels, palette, 1.0, method == "selective", 2.0)
    assert np.array_equal(remap(pixels, palette, guess, method, 1.0, "rgb", 2.0), expected)
    # Both rules change which entries pixels take.
    assert not np.array_equal(expected, reference_fs(pixels, palette, 1.0, method == "selective", 2.0, fine=1e-9))
    assert not np.array_equal(expected, reference_fs(pixels, palette, 1.0, method == "selective", 2.0, cap=1e9))


@pytest.mark.parametrize(("seed", "k"), [(0, 1), (1, 2), (2, 17), (3, 256), (4, 1024)])
def test_the_cell_lists_give_the_exact_nearest_entry(seed, k):
    from kmcodec import _dither_jit

    rng = np.random.default_rng(seed)
    pal = rng.uniform(0, 255, (k, 3))
    if seed == 2:
        pal[:, 2] = 77.0  # a channel with no range
    if seed == 3:
        pal = np.round(pal / 32) * 32  # ties
    lo, hi = pal.min(0), pal.max(0)
    entries, start, scale = _dither_jit.cells(pal, lo, hi, 16, 64)
    points = rng.uniform(lo, hi, (3000, 3))
    points[:50] = pal[rng.integers(0, k, 50)]  # on entries and on the box's faces
    points[50:60] = lo
    points[60:70] = hi
    checked = 0
    for t in points:
        d2 = ((pal - t) ** 2).sum(1)
        expected = int(np.flatnonzero(d2 == d2.min())[0])
        cell = _dither_jit._cell_of.py_func(t, lo, 16, scale)
        if start[cell + 1] == start[cell]:  # a list longer than 64: searched otherwise
            assert k > 64
            continue
        assert _dither_jit._nearest_in_cell.py_func(t, pal, entries, start, cell) == expected
        checked += 1
    assert checked > 1500


@pytest.mark.parametrize(("space", "method", "rate", "k"),
                         [("rgb", "fs", 0.0, 7), ("oklab", "fs", 1.0, 64), ("rgb", "selective", 2.0, 300),
                          ("oklab", "selective", 0.5, 1024), ("rgb", "fs", 0.0, 0)])
def test_the_opaque_kernel_gives_the_general_kernels_entries(monkeypatch, space, method, rate, k):
    from kmcodec import dither

    rng = np.random.default_rng(k)
    y, x = np.mgrid[0:40, 0:50]
    pixels = np.clip(np.stack([x * 5, y * 6, (x + y) * 3], -1) + rng.integers(-30, 30, (40, 50, 3)),
                     0, 255).astype(np.uint8)
    palette = np.unique(rng.integers(0, 256, (k, 3), dtype=np.uint8), axis=0)
    if k == 0:  # ties: grey 32 lies halfway between entries 0 and 1, and every band starts on it
        pixels[:] = 32
        palette = np.array([[0, 0, 0], [64, 64, 64], [255, 0, 0]], np.uint8)
    guess = np.zeros((40, 50), int)
    monkeypatch.setattr(dither, "_CELL_LIST", 4)  # long lists: some cells fall back to the walk
    fast = dither._remap(pixels, palette, guess, method, 0.8, space, rate)
    monkeypatch.setattr(dither, "_CELL_COLORS", 0)  # the general kernel, walking every time
    slow = dither._remap(pixels, palette, guess, method, 0.8, space, rate)
    assert np.array_equal(fast[0], slow[0])
    assert fast[1] == slow[1]


def test_the_opaque_kernel_rounds_the_rate_aware_reach_as_the_general_kernel(monkeypatch):
    # Found in review: the entry (114, 114, 100) lies exactly at the allowance
    # (reach squared = 162) from the second pixel, so a sum taken in another
    # order chose differently.
    from kmcodec import dither

    palette = np.array([[100, 100, 100], [114, 114, 100]] + [[32 * k, 32 * k, 200] for k in range(5)], np.uint8)
    pixels = np.array([[[125, 125, 100], [105, 105, 100]]], np.uint8)
    guess = np.array([[1, 0]])
    fast = dither._remap(pixels, palette, guess, "selective", 0.75, "rgb", 1.0)
    monkeypatch.setattr(dither, "_CELL_COLORS", 0)
    slow = dither._remap(pixels, palette, guess, "selective", 0.75, "rgb", 1.0)
    assert slow[0].tolist() == [[1, 1]] and slow[1] == 404
    assert fast[0].tolist() == slow[0].tolist() and fast[1] == slow[1]


def test_a_read_only_image_and_a_writable_one_share_the_compiled_kernels():
    # Numba compiles once per argument type, and Pillow's arrays are
    # read-only: the kernels see read-only pixels either way.
    from kmcodec import _dither_jit

    kernels = (_dither_jit.floyd_steinberg, _dither_jit.floyd_steinberg3)
    rng = np.random.default_rng(2)
    for rgba in (False, True):
        image = rng.integers(0, 256, (20, 30, 4 if rgba else 3), dtype=np.uint8)
        if rgba:
            image[::3, :, 3] = 0
        kmcodec.encode(image, 8, dither="fs")
        image.flags.writeable = False
        kmcodec.encode(image, 8, dither="fs")
    assert all(f.signatures for f in kernels)
    assert not any(signature[0].mutable for f in kernels for signature in f.signatures)


def test_bands_start_afresh_whatever_the_threads(monkeypatch):
    from kmcodec import dither

    rng = np.random.default_rng(9)
    y, x = np.mgrid[0:15, 0:11]
    pixels = np.clip(np.stack([x * 9, y * 7, (x + y) * 4], -1) + 60 + rng.integers(-20, 20, (15, 11, 3)),
                     0, 255).astype(np.uint8)
    palette = rng.integers(0, 256, (7, 3), dtype=np.uint8)
    guess = np.zeros((15, 11), int)
    monkeypatch.setattr(dither, "BAND_ROWS", 4)
    expected = reference_fs(pixels, palette, 1.0, True, 1.0, band=4)
    assert np.array_equal(remap(pixels, palette, guess, "selective", 1.0, "rgb", 1.0), expected)
    assert not np.array_equal(expected, reference_fs(pixels, palette, 1.0, True, 1.0))
    monkeypatch.setattr(dither, "_threads", lambda: 1)
    assert np.array_equal(remap(pixels, palette, guess, "selective", 1.0, "rgb", 1.0), expected)


def test_rate_aware_dithering_makes_smaller_files_that_keep_the_mean_colour():
    rng = np.random.default_rng(7)
    image = np.clip(_gradient().astype(int) + rng.integers(-6, 7, (64, 256, 3)), 0, 255).astype(np.uint8)
    sizes, errors = [], []
    for rate in (0.0, 1.0, 4.0):
        data = kmcodec.encode(image, 12, coder="entropy", dither="fs", dither_rate=rate)
        sizes.append(len(data))
        errors.append(np.abs(_block_means(kmcodec.decode(data)) - _block_means(image)).mean())
    assert sizes[0] > sizes[1] > sizes[2]
    plain = kmcodec.decode(kmcodec.encode(image, 12))
    assert max(errors) < np.abs(_block_means(plain) - _block_means(image)).mean() / 2


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
    a = rgba[..., 3]
    for dither_map in (False, True):
        out = kmcodec.quantize(rgba, 8, dither="fs", dither_map=dither_map).to_rgb()
        assert np.all(out[a == 0] == 0) and np.all(out[a == 255][:, 3] == 255)


def test_bad_settings_are_refused():
    with pytest.raises(ParameterError, match=r"dither is 'atkinson'; it must be one of \('none', 'fs', 'selective'\)"):
        kmcodec.EncodeOptions(dither="atkinson")
    with pytest.raises(ParameterError, match="dither_level is 1.5; it must be a number from 0 to 1"):
        kmcodec.EncodeOptions(dither_level=1.5)
    with pytest.raises(ParameterError, match="dither_rate is 5; it must be a number from 0 to 4"):
        kmcodec.EncodeOptions(dither_rate=5)
    with pytest.raises(ParameterError, match="smooth_weight is -1; it must be a number from 0 to 100"):
        kmcodec.EncodeOptions(smooth_weight=-1)
    with pytest.raises(ParameterError, match="dither_rate is True; it must be a number from 0 to 4"):
        kmcodec.EncodeOptions(dither_rate=True)
    for bad in (1, 0.0, "on", None):
        with pytest.raises(ParameterError, match=rf"dither_map is {bad!r}; it must be True, False or 'auto'"):
            kmcodec.EncodeOptions(dither="fs", dither_map=bad)
    with pytest.raises(ParameterError, match="perceptual sets dither_map to 'auto' but dither_map is True"):
        kmcodec.EncodeOptions(perceptual=True, dither_map=True)


def test_command_line(tmp_path, samples, capsys):
    from kmcodec.cli import main

    out = tmp_path / "c.kmc"
    assert main(["encode", str(samples / "chelsea.png"), "-k", "8", "--dither", "fs", "--dither-level", "0.5",
                 "-o", str(out)]) == 0
    assert out.read_bytes() == kmcodec.encode(samples / "chelsea.png", 8, dither="fs", dither_level=0.5)
    capsys.readouterr()
    assert main(["encode", str(samples / "chelsea.png"), "--dither-level", "2"]) == 2
    assert "--dither-level is 2; it must be from 0 to 1" in capsys.readouterr().err


def test_perceptual_is_oklab_with_rate_aware_dithering_at_three_quarters_and_smooth_weighting():
    image = _gradient()
    options = kmcodec.EncodeOptions(perceptual=True)
    assert (options.space, options.dither, options.dither_level, options.dither_rate, options.dither_map,
            options.smooth_weight, options.chroma_weight) == ("oklab", "fs", 0.75, 1.0, "auto", 1.0, "auto")
    expected = kmcodec.encode(image, 6, space="oklab", dither="fs", dither_level=0.75, dither_rate=1,
                              dither_map="auto", smooth_weight=1, chroma_weight="auto")
    # A small image: auto is not 1, and the dither map is on.
    assert expected != kmcodec.encode(image, 6, space="oklab", dither="fs", dither_level=0.75, dither_rate=1,
                                      dither_map="auto", smooth_weight=1)
    assert expected != kmcodec.encode(image, 6, space="oklab", dither="fs", dither_level=0.75, dither_rate=1,
                                      smooth_weight=1, chroma_weight="auto")
    assert kmcodec.encode(image, 6, perceptual=True) == expected
    assert kmcodec.encode(image, 6, perceptual=True, dither="fs") == expected
    with pytest.raises(ParameterError, match="perceptual sets dither to 'fs' but dither is 'selective'"):
        kmcodec.EncodeOptions(perceptual=True, dither="selective")
    with pytest.raises(ParameterError, match="perceptual sets dither_level to 0.75 but dither_level is 0.5"):
        kmcodec.EncodeOptions(perceptual=True, dither_level=0.5)
    with pytest.raises(ParameterError, match="perceptual sets dither_rate to 1.0 but dither_rate is 2;"):
        kmcodec.EncodeOptions(perceptual=True, dither_rate=2)
    with pytest.raises(ParameterError, match="perceptual is 1; it must be True or False"):
        kmcodec.EncodeOptions(perceptual=1)


def test_a_field_given_its_plain_default_still_conflicts_with_perceptual():
    # Left out, a field takes perceptual's value; given, even at the plain
    # default, it is the caller's choice and perceptual cannot override it.
    with pytest.raises(ParameterError, match="perceptual sets dither_level to 0.75 but dither_level is 1.0"):
        kmcodec.EncodeOptions(perceptual=True, dither_level=1.0)
    with pytest.raises(ParameterError, match="perceptual sets space to 'oklab' but space is 'rgb'"):
        kmcodec.EncodeOptions(space="rgb").replace(perceptual=True)
    assert kmcodec.EncodeOptions(k=4).replace(perceptual=True) == kmcodec.EncodeOptions(k=4, perceptual=True)
    # Fields perceptual set, but the caller did not, go back to the plain defaults without it.
    assert kmcodec.EncodeOptions(perceptual=True).replace(perceptual=False) == kmcodec.EncodeOptions()
    kept = kmcodec.EncodeOptions(perceptual=True, smooth_weight=1.0).replace(perceptual=False)
    assert (kept.space, kept.smooth_weight) == ("rgb", 1.0)
    with pytest.raises(ParameterError, match="perceptual sets dither to 'fs' but dither is 'none'"):
        kmcodec.quantize(_gradient(), 4, dither="none", perceptual=True)


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
    assert main(["encode", str(samples / "chelsea.png"), "--dither-rate", "1"]) == 2
    assert "--dither-rate needs --dither fs or selective" in capsys.readouterr().err
    assert main(["encode", str(samples / "chelsea.png"), "--dither-map", "on"]) == 2
    assert "--dither-map needs --dither fs or selective" in capsys.readouterr().err


def test_the_dither_map_flag(tmp_path, samples, capsys):
    from kmcodec.cli import main

    out = tmp_path / "c.kmc"
    for word, value in (("on", True), ("off", False), ("auto", "auto")):
        assert main(["encode", str(samples / "chelsea.png"), "-k", "8", "--dither", "fs", "--dither-map", word,
                     "-f", "-o", str(out)]) == 0
        assert out.read_bytes() == kmcodec.encode(samples / "chelsea.png", 8, dither="fs", dither_map=value)
    capsys.readouterr()
    assert main(["encode", str(samples / "chelsea.png"), "--perceptual", "--dither-map", "off"]) == 2
    assert "--perceptual sets --dither-map to auto but --dither-map is off" in capsys.readouterr().err
    assert main(["encode", str(samples / "chelsea.png"), "--dither", "fs", "--dither-map", "yes"]) == 2
    assert "--dither-map: invalid choice: 'yes'" in capsys.readouterr().err


def test_rate_and_weight_flags(tmp_path, samples, capsys):
    from kmcodec.cli import main

    out = tmp_path / "c.kmc"
    assert main(["encode", str(samples / "chelsea.png"), "-k", "8", "--dither", "fs", "--dither-rate", "1.5",
                 "--smooth-weight", "4", "--coder", "entropy", "-o", str(out)]) == 0
    assert out.read_bytes() == kmcodec.encode(samples / "chelsea.png", 8, dither="fs", dither_rate=1.5,
                                              smooth_weight=4, coder="entropy")
    capsys.readouterr()
    assert main(["encode", str(samples / "chelsea.png"), "--smooth-weight", "101"]) == 2
    assert "--smooth-weight is 101; it must be from 0 to 100" in capsys.readouterr().err
    # Given its default value, a flag still conflicts with --perceptual.
    assert main(["encode", str(samples / "chelsea.png"), "--perceptual", "--dither-rate", "0"]) == 2
    assert "--perceptual sets --dither-rate to 1.0 but --dither-rate is 0.0" in capsys.readouterr().err
    assert main(["encode", str(samples / "chelsea.png"), "--perceptual", "--space", "rgb"]) == 2
    assert "--perceptual sets --space to oklab but --space is rgb" in capsys.readouterr().err



def test_help_names_the_plain_defaults_of_the_fields_perceptual_sets(capsys):
    from kmcodec.cli import main

    assert main(["encode", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "<default>" not in text
    for shown in ("(default rgb)", "(default none)", "(default 1.0)", "(default 0.0)"):
        assert shown in text


def test_the_spacing_is_measured_among_the_entries_opaque_pixels_may_take():
    from kmcodec.clustering import _Table
    from kmcodec.dither import FINE, _spacing

    # Ten faint entries 2 apart and four opaque ones 40 apart, on a line.
    pts = np.array([[2.0 * i, 0, 0] for i in range(10)] + [[100.0 + 40 * i, 0, 0] for i in range(4)])
    order, dist = _Table().of(pts)
    opaque = np.arange(14) >= 10
    assert _spacing(order, dist, np.ones(14, bool)) == 2.0 < FINE  # every entry
    assert _spacing(order, dist, opaque) == 40.0  # opaque pixels' entries: no scaling
    assert _spacing(order, dist, np.arange(14) == 3) == 0.0  # one entry has no neighbour
