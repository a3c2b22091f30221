"""Smooth-area weighting of the palette search (kmcodec.importance)."""

from __future__ import annotations

import numpy as np
import pytest

import kmcodec
from kmcodec import importance
from kmcodec.importance import colour_weights


def _weights(ranks: np.ndarray, points: np.ndarray, weight: float) -> np.ndarray:
    h, w = ranks.shape
    return colour_weights(lambda y0, y1: ranks[y0:y1], points, h, w, weight)


def test_a_hand_computed_row():
    # Colours 0, 1, 2 at (0,0,0), (0,0,1), (0,0,5), (0,0,20); one row of four pixels.
    points = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 5], [0, 0, 20]], float)
    ranks = np.array([[0, 1, 2, 3]])
    # Largest distance to a neighbour: 1, 4, 15, 15.  Smooth share:
    # (8 - d) / (8 - 2) clipped: 1, 2/3, 0, 0.  Weight 3: 16 * (1 + 3 s).
    expected = np.rint(16 * (1 + 3 * np.array([1, 2 / 3, 0, 0])))
    assert np.array_equal(_weights(ranks, points, 3.0), expected)
    assert np.array_equal(_weights(ranks, points, 0.0), np.full(4, 16.0))


def test_weights_sum_over_each_colours_pixels_and_columns_count():
    points = np.array([[0, 0, 0], [100, 0, 0]], float)
    ranks = np.array([[0, 0, 0], [0, 0, 1]])  # the pixels beside colour 1 are not smooth
    # Pixels (0,0), (0,1), (1,0) are 0 away from every neighbour; (0,2) and
    # (1,1) touch colour 1, as does colour 1's own pixel.
    assert np.array_equal(_weights(ranks, points, 1.0), [3 * 32 + 2 * 16, 16])


def test_bands_give_the_same_weights(monkeypatch):
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 20, (30, 3))
    ranks = rng.integers(0, 30, (37, 11))
    whole = _weights(ranks, points, 5.0)
    monkeypatch.setattr(importance, "_BAND", 23)  # two rows per band
    assert np.array_equal(_weights(ranks, points, 5.0), whole)


def _sky_and_grass() -> np.ndarray:
    """A smooth blue gradient over a noisy green field."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:64, 0:96]
    image = np.zeros((64, 96, 3))
    image[..., 0] = 90 + x * 0.6
    image[..., 1] = 140 + y * 0.5
    image[..., 2] = 230 - x * 0.3
    image[32:] = np.array([60, 150, 50]) + rng.normal(0, 30, (32, 96, 3))
    return np.clip(image, 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize("space", ["rgb", "oklab"])
def test_weighting_smooth_areas_moves_entries_there(space):
    image = _sky_and_grass()
    sky_error, grass_error = [], []
    for weight in (0.0, 20.0):
        out = kmcodec.quantize(image, 8, space=space, smooth_weight=weight).to_rgb().astype(int)
        sky_error.append(((out[:32] - image[:32]) ** 2).mean())
        grass_error.append(((out[32:] - image[32:]) ** 2).mean())
    assert sky_error[1] < 0.6 * sky_error[0]
    assert grass_error[1] > grass_error[0]


def test_weighting_is_repeatable_and_works_with_alpha():
    image = _sky_and_grass()
    assert kmcodec.encode(image, 8, smooth_weight=10) == kmcodec.encode(image, 8, smooth_weight=10)
    assert kmcodec.encode(image, 8, smooth_weight=10) != kmcodec.encode(image, 8)
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    rgba[:4, :4, 3] = 0
    plain = kmcodec.quantize(rgba, 8).to_rgb()
    out = kmcodec.quantize(rgba, 8, smooth_weight=20).to_rgb()
    assert np.all(out[:4, :4] == 0) and np.all(out[4:, :, 3] == 255)
    sky = (slice(4, 32), slice(None))
    assert (((out[sky][..., :3].astype(int) - image[sky]) ** 2).mean()
            < 0.6 * ((plain[sky][..., :3].astype(int) - image[sky]) ** 2).mean())


def test_an_image_of_exactly_2_24_pixels_is_weighted_by_its_pixels(monkeypatch):
    # The colour table has 2**24 entries too: the path must not be told by
    # length (found in review: 4096 x 4096 images were weighted wrongly).
    from kmcodec import clustering

    image = np.zeros((4096, 4096, 3), np.uint8)
    image[:, 2048:] = 200
    image[::2, ::2, 0] += 7  # a fine checker: not smooth
    image[:1024, :1024] = [30, 60, 90]
    seen = {}

    def kmeans(x, w, k, *args, **kwargs):
        seen["w"] = w
        return x[:k].copy(), np.arange(len(x)) % k, 1

    monkeypatch.setattr(clustering, "_kmeans", kmeans)
    kmcodec.quantize(image, 3, smooth_weight=10)
    colors, _ = clustering.color_histogram(image.reshape(-1, 3))
    block = int(np.flatnonzero((colors == [30, 60, 90]).all(1))[0])
    # Inside the block every neighbour is the same colour (16 * 11 each);
    # on its right and bottom edges a neighbour is far (16 each).
    assert seen["w"][block] == 16 * 11 * 1023 * 1023 + 16 * (1024 + 1023)


def test_large_images_take_the_table_path(monkeypatch):
    from kmcodec import clustering

    image = _sky_and_grass()
    small = kmcodec.encode(image, 8, smooth_weight=10)
    monkeypatch.setattr(clustering, "_LUT_THRESHOLD", 1)  # the colour table, as for huge images
    assert kmcodec.encode(image, 8, smooth_weight=10) == small
