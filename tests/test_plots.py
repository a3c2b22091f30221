"""The figures of kmcodec.plots, checked on the rendered pixels."""

from __future__ import annotations

import io
import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import proj3d

from kmcodec import clustering, plots
from kmcodec.codec import quantize
from kmcodec.errors import ParameterError


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
        plt.close(fig)
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


def test_a_moved_frame_is_the_frame_drawn_afresh(cloud):
    """The animation draws its axes once and then moves the markers,
    recolours the thumbnail and renews the titles: the pixels are those of
    the frame drawn from scratch."""
    colors, counts = clustering.color_histogram(cloud.reshape(-1, 3))
    start = clustering.seeds(colors, counts, 5, 0)
    steps = [start, *clustering.lloyd_steps(colors, counts, start, 3)]
    sample, small = cloud.reshape(-1, 3).astype(float), plots.thumbnail(cloud, 40)
    moved, fresh = Figure(figsize=(10, 4.5)), Figure(figsize=(10, 4.5))
    plots._iteration_frame(moved, sample, small, steps[0], 0, " (seeds)")

    def pixels(fig):
        FigureCanvasAgg(fig).draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()

    first = pixels(moved)
    for i in range(1, len(steps)):
        plots._move_frame(moved, small, steps[i], i)
        plots._iteration_frame(fresh, sample, small, steps[i], i)
        frame = pixels(moved)
        assert np.array_equal(frame, pixels(fresh))
        assert not np.array_equal(frame, first)


def test_colors_figure_and_animation_write_their_formats(cloud):
    small = cloud[:30, :30]
    buf = io.BytesIO()
    plots.colors_figure(small, quantize(small, 4, 0), buf, fmt="svg")
    assert b"<svg" in buf.getvalue()[:1000]
    buf = io.BytesIO()
    assert plots.iterations_animation(small, 3, buf, max_frames=2, fmt="PNG") == 2
    assert Image.open(buf).n_frames == 2


# The comparison figure, on stand-in rows: kmcodec.compare.Row is gaining
# attributes (ssimulacra2, against), and the figure reads them with getattr.

_PIXELS = 12 * 16


def _row(image, k, method, nbytes, psnr, ssimulacra2=None, lossless=None, against=None, extra=None):
    return SimpleNamespace(image=image, k=k, method=method, bytes=nbytes, bpp=8 * nbytes / _PIXELS, psnr=psnr,
                           ssim=None, ssimulacra2=ssimulacra2, lossless=lossless, extra=extra or {},
                           against=against)


def _rows(image: str, ks: list[int]) -> list:
    """A png row, then per K: kmc (lossless at the largest K), kmc-entropy, png8 and
    jpeg@size matched to each of the two .kmc rows."""
    rows = [_row(image, None, "png", 300, None, 100.0, lossless="original")]
    for i, k in enumerate(ks):
        last = i == len(ks) - 1 and len(ks) > 1
        psnr, s2 = (None, 100.0) if last else (20.0 + 3 * i, 40.0 + 5 * i)
        lossless = "original" if last else None
        kmc = 100 + 40 * i
        rows += [
            _row(image, k, "kmc", kmc, psnr, s2, lossless, extra={"colors": k, "elbow": i == 1}),
            _row(image, k, "kmc-entropy", kmc // 2, psnr, s2, lossless),
            _row(image, k, "png8", kmc // 2 + 10, psnr, s2, "quantized" if not last else "original"),
            _row(image, k, "jpeg@size", kmc, 25.0 + 2 * i, 50.0 + 4 * i, against="kmc"),
            _row(image, k, "jpeg@size", kmc // 2, 22.0 + 2 * i, 45.0 + 4 * i, against="kmc-entropy"),
        ]
    return rows


def _thumbs(images: list[str], ks: list[int]) -> dict:
    rng = np.random.default_rng(0)
    return {(image, k): rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            for image in images for k in [None, *ks]}


def _figure(ks: list[int], metric: str = "psnr", images: tuple[str, ...] = ("a/pic.png",)):
    rows = [r for image in images for r in _rows(image, ks)]
    fig = plots._comparison_figure(rows, _thumbs(list(images), ks), metric)
    fig.canvas.draw()  # positions after drawing: what the written file shows
    return fig, rows


def _chart(fig):
    return next(ax for ax in fig.axes if ax.get_xlabel() == "bits per pixel")


def _series(ax) -> dict:
    return {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_thumbnails_touch_and_every_axes_has_content(n):
    ks = [2 ** (i + 1) for i in range(n)]
    fig, _ = _figure(ks)
    try:
        thumbs = sorted((ax for ax in fig.axes if ax.images), key=lambda ax: ax.get_position().x0)
        assert len(thumbs) == n + 1 and all(len(ax.images) == 1 for ax in thumbs)
        boxes = [ax.get_position() for ax in thumbs]
        for left, right in itertools.pairwise(boxes):
            assert right.x0 == pytest.approx(left.x1, abs=1e-9)
            assert (right.y0, right.y1) == pytest.approx((left.y0, left.y1), abs=1e-9)
        # Besides the thumbnails: the chart and the size table, nothing empty.
        others = [ax for ax in fig.axes if not ax.images]
        assert len(others) == 2
        assert sum(bool(ax.tables) for ax in others) == 1 and len(_series(_chart(fig))) == 6
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert Image.open(buf).size[0] > 0
    finally:
        plt.close(fig)


def test_lossless_points_sit_on_a_marked_ceiling():
    fig, rows = _figure([2, 4, 8])
    try:
        ax = _chart(fig)
        finite = [r.psnr for r in rows if r.psnr is not None]
        dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert len(dashed) == 1
        ceiling = dashed[0].get_ydata()[0]
        assert ceiling > max(finite) and ax.get_ylim()[1] >= ceiling
        assert any(t.get_text() == "lossless" for t in ax.texts)
        lines = _series(ax)
        assert list(lines["png"].get_ydata()) == [ceiling]
        # kmc, lossless at K = 8, ends on the ceiling; its finite points stay.
        assert list(lines["kmc"].get_ydata()) == [20.0, 23.0, ceiling]
        assert list(lines["png8"].get_ydata()) == [20.0, 23.0, ceiling]
    finally:
        plt.close(fig)


def test_ssimulacra2_plots_exact_copies_at_100_without_a_ceiling():
    fig, _ = _figure([2, 4, 8], metric="ssimulacra2")
    try:
        ax = _chart(fig)
        assert ax.get_ylabel() == "SSIMULACRA2"
        assert not [line for line in ax.lines if line.get_linestyle() == "--"]
        lines = _series(ax)
        assert list(lines["kmc"].get_ydata()) == [40.0, 45.0, 100.0]
        assert list(lines["png"].get_ydata()) == [100.0]
    finally:
        plt.close(fig)


def test_matched_rows_are_one_series_per_kmc_row():
    fig, _ = _figure([2, 4])
    try:
        labels = set(_series(_chart(fig)))
        assert {"jpeg@size (vs kmc)", "jpeg@size (vs kmc-entropy)"} <= labels and "jpeg@size" not in labels
        table = next(ax for ax in fig.axes if ax.tables).tables[0]
        texts = {cell.get_text().get_text() for cell in table.get_celld().values()}
        assert {"jpeg@size (vs kmc)", "jpeg@size (vs kmc-entropy)"} <= texts
    finally:
        plt.close(fig)


@pytest.mark.parametrize("metric, shown", [("psnr", ["20.0 dB", "23.0 dB", "lossless"]),
                                           ("ssimulacra2", ["SSIMULACRA2 40.0", "SSIMULACRA2 45.0", "lossless"])])
def test_thumbnail_titles_name_k_size_and_quality(metric, shown):
    fig, _ = _figure([2, 4, 8], metric=metric)
    try:
        titles = [ax.get_title() for ax in sorted((ax for ax in fig.axes if ax.images),
                                                  key=lambda ax: ax.get_position().x0)]
        assert "pic.png: original" in titles[0] and "300 B" in titles[0] and "PNG" in titles[0]
        for title, k, size, quality in zip(titles[1:], [2, 4, 8], ["100 B", "140 B", "180 B"], shown):
            assert f"K = {k}" in title and size in title and quality in title, title
    finally:
        plt.close(fig)


def test_titles_fit_over_narrow_thumbnails():
    # Tall thumbnails, many Ks, long labels and a long name: no title may
    # spill over its neighbours'.
    ks = [2 ** (i + 1) for i in range(9)]
    image = "a/a_rather_long_name_for_a_tall_picture.png"
    rows = _rows(image, ks)
    for r in rows:
        r.bytes *= 1000
    thumbs = {(image, k): np.zeros((48, 16, 3), np.uint8) for k in [None, *ks]}
    fig = plots._comparison_figure(rows, thumbs, "ssimulacra2")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        thumbs_axes = [ax for ax in fig.axes if ax.images]
        assert len(thumbs_axes) == 10
        for ax in thumbs_axes:
            assert ax.title.get_window_extent(renderer).width <= ax.get_window_extent(renderer).width, ax.get_title()
        original = min(thumbs_axes, key=lambda ax: ax.get_position().x0).get_title()
        assert "…" in original and original.split("\n")[0].endswith(": original")
    finally:
        plt.close(fig)


def test_each_image_gets_its_own_row_of_thumbnails():
    fig, _ = _figure([2, 4], images=("a.png", "b.png"))
    try:
        thumbs = [ax for ax in fig.axes if ax.images]
        assert len(thumbs) == 6 and len({round(ax.get_position().y0, 6) for ax in thumbs}) == 2
        assert sum(bool(ax.tables) for ax in fig.axes) == 2
    finally:
        plt.close(fig)


def test_an_unmeasured_metric_says_so():
    fig, _ = _figure([2, 4], metric="ssim")
    try:
        ax = _chart(fig)
        assert any(t.get_text() == "SSIM was not measured" for t in ax.texts)
    finally:
        plt.close(fig)


def test_comparison_figure_writes_the_format_and_checks_the_metric():
    rows = _rows("pic.png", [2, 4])
    buf = io.BytesIO()
    plots.comparison_figure(rows, _thumbs(["pic.png"], [2, 4]), buf, "png", metric="ssimulacra2")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="no metric 'butteraugli'"):
        plots.comparison_figure(rows, {}, io.BytesIO(), metric="butteraugli")


def test_an_undefined_score_is_not_drawn_as_perfect():
    # SSIMULACRA2 is NaN below 8x8 pixels: such a point is left out, not put at 100.
    rows = _rows("pic.png", [2, 4])
    for r in rows:
        if r.k == 2:
            r.ssimulacra2 = float("nan")
    assert plots._metric_value(rows[1], "ssimulacra2") is None
    fig = plots._comparison_figure(rows, _thumbs(["pic.png"], [2, 4]), "ssimulacra2")
    try:
        fig.canvas.draw()
        ys = [y for line in _chart(fig).get_lines() for y in line.get_ydata()]
        assert 100.0 in ys  # the lossless K = 4 files
        assert not any(math.isnan(y) for y in ys)
        assert sum(1 for y in ys if y == 100.0) == sum(1 for r in rows if r.k != 2 and r.ssimulacra2 == 100.0)
    finally:
        plt.close(fig)
