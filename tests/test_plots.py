"""The figures of kmcodec.plots, checked on the rendered pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import proj3d

from kmcodec import clustering, plots
from kmcodec.codec import quantize


def _render(fig: Figure) -> np.ndarray:
    """The figure as the RGB rows of the PNG it writes, at its own dpi."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return np.asarray(Image.open(buf).convert("RGB")).astype(int)


def _on_screen(ax, points: np.ndarray, height: int) -> np.ndarray:
    """(column, row) in the rendered image of each 3-D point of ``ax``."""
    x, y, _ = proj3d.proj_transform(points[:, 0], points[:, 1], points[:, 2], ax.get_proj())
    xy = ax.transData.transform(np.column_stack([x, y]))
    # Display coordinates count from the bottom, image rows from the top.
    return np.column_stack([xy[:, 0], height - xy[:, 1]])


def _assert_markers_on_top(fig: Figure, ax, points: np.ndarray, size: float) -> int:
    """Every marker of area ``size`` at ``points`` shows its own colour and a dark edge.

    Markers that another marker may cover on screen are left out; returns
    how many were checked.
    """
    image = _render(fig)
    where = _on_screen(ax, points, image.shape[0])
    radius = np.sqrt(size) / 2 * fig.dpi / 72  # marker radius in pixels
    colours = np.rint(np.clip(points, 0, 255)).astype(int)
    checked = 0
    for i, ((col, row), colour) in enumerate(zip(where, colours)):
        others = np.delete(where, i, axis=0)
        if len(others) and np.hypot(*(others - (col, row)).T).min() < 2 * radius + 8:
            continue
        # The middle half of the disc is the marker's colour, not the cloud's.
        ys, xs = np.mgrid[-radius:radius:0.5, -radius:radius:0.5]
        inner = np.hypot(xs, ys) <= radius / 2
        rows = np.rint(row + ys[inner]).astype(int)
        cols = np.rint(col + xs[inner]).astype(int)
        assert np.abs(image[rows, cols] - colour).max() <= 3, f"marker {i} {colour} is hidden"
        # Its rim is drawn: each way out from the centre crosses a dark pixel.
        rays = 0
        for angle in np.linspace(0, 2 * np.pi, 12, endpoint=False):
            r = np.arange(radius * 0.6, radius + 3, 0.25)
            ring = image[np.rint(row + r * np.sin(angle)).astype(int), np.rint(col + r * np.cos(angle)).astype(int)]
            rays += bool((ring.max(axis=1) < 60).any())
        assert rays == 12, f"marker {i} has no edge on {12 - rays} of 12 rays"
        checked += 1
    return checked


@pytest.fixture
def cloud() -> np.ndarray:
    """Random pixels: every centroid lies deep inside the cloud of colours."""
    return np.random.default_rng(1).integers(0, 256, size=(150, 150, 3), dtype=np.uint8)


def test_palette_markers_are_drawn_over_the_pixel_cloud(cloud):
    q = quantize(cloud, 8, 0)
    fig = plots._colors_figure(cloud, q, seed=0)
    try:
        checked = _assert_markers_on_top(fig, fig.axes[1], q.palette.astype(float), plots._PALETTE_SIZE)
    finally:
        fig.clf()
    assert checked >= 4


def test_centroid_markers_are_drawn_over_the_pixel_cloud(cloud):
    colors, counts = clustering.color_histogram(cloud.reshape(-1, 3))
    centers = clustering.seeds(colors, counts, 6, 0)
    step = next(clustering.lloyd_steps(colors, counts, centers, 1))
    fig = Figure(figsize=(10, 4.5))
    checked = 0
    for i, c in enumerate([centers, step]):
        plots._iteration_frame(fig, cloud.reshape(-1, 3).astype(float), plots.thumbnail(cloud, 40), c, i)
        checked += _assert_markers_on_top(fig, fig.axes[0], c, plots._CENTROID_SIZE)
    assert checked >= 6


def test_colors_figure_and_animation_write_their_formats(cloud):
    small = cloud[:30, :30]
    buf = io.BytesIO()
    plots.colors_figure(small, quantize(small, 4, 0), buf, fmt="svg")
    assert b"<svg" in buf.getvalue()[:1000]
    buf = io.BytesIO()
    assert plots.iterations_animation(small, 3, buf, max_frames=2, fmt="PNG") == 2
    assert Image.open(buf).n_frames == 2
