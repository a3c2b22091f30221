"""Figures: the comparison, the colour space, k-means at work (matplotlib).

matplotlib is an optional extra: ``pip install "kmcodec[plot]"``.  Figures
are written with the non-interactive Agg backend, so no display is needed.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np

from .errors import ParameterError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["comparison_figure", "colors_figure", "iterations_animation", "thumbnail",
           "figure_format", "animation_format", "ANIMATION_FORMATS"]

#: Animation formats by suffix: Pillow writes each with every frame.
ANIMATION_FORMATS = {".gif": "GIF", ".png": "PNG", ".apng": "PNG", ".webp": "WEBP"}

_SAMPLE = 20_000  # pixels drawn in 3-D scatter plots (drawing millions is useless)
_DPI = 90  # figures are drawn and written at this resolution
_PALETTE_SIZE = 120  # marker areas (points squared) in the 3-D plots
_CENTROID_SIZE = 140
_EDGE = 1.5  # marker edge width, points
_HALO = 5.0  # the white stroke under the edge: (5 - 1.5) / 2 points show outside it
_MARKERS_ZORDER = 10  # above the pixel cloud's default of 1


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "kmcodec[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _suffix(path: str | os.PathLike) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def figure_format(path: str | os.PathLike) -> str:
    """The matplotlib format a figure written to ``path`` takes from its suffix.

    Raises
    ------
    ImportError
        Without matplotlib.
    ParameterError
        For a suffix matplotlib does not write, naming those it does.
    """
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    known = FigureCanvasBase.get_supported_filetypes()
    fmt = _suffix(path).lstrip(".")
    if fmt not in known:
        raise ParameterError(
            f"{os.fspath(path)}: the suffix {_suffix(path) or '(none)'!r} names no figure format;"
            f" use one of {', '.join('.' + k for k in sorted(known))}"
        )
    return fmt


def animation_format(path: str | os.PathLike) -> str:
    """The Pillow format of an animation written to ``path``, from its suffix.

    Raises
    ------
    ParameterError
        For a suffix other than those of :data:`ANIMATION_FORMATS`.
    """
    fmt = ANIMATION_FORMATS.get(_suffix(path))
    if fmt is None:
        raise ParameterError(
            f"{os.fspath(path)}: the suffix {_suffix(path) or '(none)'!r} names no animation format;"
            f" use one of {', '.join(ANIMATION_FORMATS)}"
        )
    return fmt


def thumbnail(rgb: np.ndarray, width: int = 320) -> np.ndarray:
    """Every n-th pixel, so that the result is at most ``width`` wide."""
    step = max(1, math.ceil(rgb.shape[1] / width))
    return np.ascontiguousarray(rgb[::step, ::step])


def comparison_figure(rows, thumbs: dict, fh, fmt: str = "png") -> None:
    """Decoded images per K, a rate-distortion chart and a size table, per image.

    ``thumbs`` maps (image, None) to the original's thumbnail and (image, k)
    to the decoded image's.
    """
    plt = _pyplot()
    images = list(dict.fromkeys(r.image for r in rows))
    ks = sorted({r.k for r in rows if r.k is not None})
    # At least 3 columns, so that the chart and the table each get one
    # even when a single K is compared.
    cols = max(len(ks) + 1, 3)
    fig = plt.figure(figsize=(max(12, 2.2 * cols), 7.5 * len(images)), constrained_layout=True)
    grid = fig.add_gridspec(2 * len(images), cols, height_ratios=[1, 2] * len(images))
    for i, image in enumerate(images):
        name = os.path.basename(image)
        for j, k in enumerate([None, *ks]):
            ax = fig.add_subplot(grid[2 * i, j])
            ax.imshow(thumbs[(image, k)])
            ax.set_axis_off()
            ax.set_title(f"{name}: original" if k is None else f"K = {k}", fontsize=9)
        mine = [r for r in rows if r.image == image]
        ax = fig.add_subplot(grid[2 * i + 1, : cols // 2 + 1])
        for method in dict.fromkeys(r.method for r in mine if r.k is not None):
            pts = sorted((r.bpp, r.psnr) for r in mine if r.method == method and r.psnr is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=method)
        for r in mine:
            if r.method == "kmc" and r.extra.get("elbow") and r.psnr is not None:
                ax.annotate(f"elbow K={r.k}", (r.bpp, r.psnr), xytext=(12, -18),
                            textcoords="offset points", arrowprops={"arrowstyle": "->"})
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"{name}: rate and distortion")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        table_ax = fig.add_subplot(grid[2 * i + 1, cols // 2 + 1 :])
        table_ax.set_axis_off()
        methods = list(dict.fromkeys(r.method for r in mine if r.k is not None))
        cells = []
        for method in methods:
            by_k = {r.k: r.bytes for r in mine if r.method == method}
            cells.append([f"{by_k[k] / 1024:.1f}" if k in by_k else "-" for k in ks])
        table = table_ax.table(cellText=cells, rowLabels=methods, colLabels=[f"K={k}" for k in ks],
                               loc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        table_ax.set_title("file size, KiB")
    fig.savefig(fh, format=fmt, dpi=90)
    plt.close(fig)


def _sample(rgb: np.ndarray, seed: int) -> np.ndarray:
    pixels = rgb.reshape(-1, 3)
    if len(pixels) <= _SAMPLE:
        return pixels
    rng = np.random.default_rng(seed)
    return pixels[np.sort(rng.choice(len(pixels), _SAMPLE, replace=False))]


def _scatter(ax, points, colours, title):
    ax.scatter(points[:, 0], points[:, 1], points[:, 2], c=colours / 255.0, s=2, depthshade=False)
    ax.set_xlabel("R")
    ax.set_ylabel("G")
    ax.set_zlabel("B")
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(0, 255)
    ax.set_title(title, fontsize=10)


def _markers(ax, points: np.ndarray, size: float) -> None:
    """Big markers at ``points`` (RGB, 0-255), each in its own colour, over the cloud.

    3-D axes sort their artists by depth, and the cloud of thousands of
    pixels is always partly nearer the viewer than a marker inside it, so
    the sort would hide every marker; the sort is switched off and the
    markers given a higher zorder.  The black edge shows a light marker on
    light pixels, the white halo a dark one on dark pixels.
    """
    from matplotlib import patheffects

    ax.computed_zorder = False
    ax.scatter(points[:, 0], points[:, 1], points[:, 2], c=np.clip(points, 0, 255) / 255.0, s=size,
               edgecolors="black", linewidths=_EDGE, depthshade=False, zorder=_MARKERS_ZORDER,
               path_effects=[patheffects.withStroke(linewidth=_HALO, foreground="white")])


def _colors_figure(rgb: np.ndarray, quantized, seed: int = 0) -> Figure:
    """The figure :func:`colors_figure` writes, drawn at :data:`_DPI`."""
    plt = _pyplot()
    pixels = rgb.reshape(-1, 3)
    idx = np.sort(np.random.default_rng(seed).choice(len(pixels), min(_SAMPLE, len(pixels)), replace=False))
    before = pixels[idx]
    after = quantized.palette[quantized.indices.reshape(-1)[idx]]
    fig = plt.figure(figsize=(12, 5.5), dpi=_DPI)
    shown = f"{len(idx):,} of {len(pixels):,} pixels"
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    _scatter(ax, before.astype(float), before.astype(float), f"before: {shown}")
    ax = fig.add_subplot(1, 2, 2, projection="3d")
    _scatter(ax, before.astype(float), after.astype(float), f"after, K = {len(quantized.palette)}")
    _markers(ax, quantized.palette.astype(float), _PALETTE_SIZE)
    return fig


def colors_figure(rgb: np.ndarray, quantized, fh, seed: int = 0, fmt: str = "png") -> None:
    """The pixels in RGB space before and after quantisation; palette as large markers.

    Written to the binary file ``fh`` in matplotlib's format ``fmt``
    (:func:`figure_format`).
    """
    plt = _pyplot()
    fig = _colors_figure(rgb, quantized, seed)
    try:
        fig.savefig(fh, format=fmt, dpi=_DPI)
    finally:
        plt.close(fig)


def _iteration_frame(fig: Figure, sample: np.ndarray, small: np.ndarray, centers: np.ndarray, i: int) -> None:
    """Draw frame ``i`` of :func:`iterations_animation` on ``fig``.

    Left, the ``sample`` of pixels in RGB space with ``centers`` over them;
    right, the thumbnail ``small`` recoloured by the nearest centre.
    """
    from . import clustering

    fig.clf()
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    _scatter(ax3, sample, sample, f"iteration {i}: {len(centers)} centroids")
    _markers(ax3, centers, _CENTROID_SIZE)
    ax2 = fig.add_subplot(1, 2, 2)
    palette = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
    ax2.imshow(palette[clustering.nearest(small.reshape(-1, 3).astype(float), centers)].reshape(small.shape))
    ax2.set_axis_off()
    ax2.set_title(f"recoloured, iteration {i}")


def iterations_animation(rgb: np.ndarray, k: int, fh, seed: int = 0, max_frames: int = 30,
                         fmt: str = "GIF") -> int:
    """Animate plain k-means (k-means++ seeding, then Lloyd) step by step.

    Left, the colours in RGB space with the centroids moving among them;
    right, the image recoloured by the current centroids.  Writes to the
    binary file ``fh`` as ``fmt``, one of :data:`ANIMATION_FORMATS`' values
    (GIF frames are reduced to 255 colours; PNG and WebP keep RGB); returns
    the number of frames.
    """
    plt = _pyplot()
    from PIL import Image

    from . import clustering

    colors, counts = clustering.color_histogram(rgb.reshape(-1, 3))
    centers = clustering.seeds(colors, counts, k, seed)
    history = [centers, *clustering.lloyd_steps(colors, counts, centers, max_frames - 1)]
    small = thumbnail(rgb, 240)
    sample = _sample(rgb, seed).astype(float)
    fig = plt.figure(figsize=(10, 4.5))
    frames = []
    try:
        for i, c in enumerate(history):
            _iteration_frame(fig, sample, small, c, i)
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())
            frame = Image.fromarray(np.ascontiguousarray(rgba[:, :, :3]))
            frames.append(frame.quantize(255) if fmt == "GIF" else frame)
    finally:
        plt.close(fig)
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(fh, format=fmt, save_all=True, append_images=frames[1:], duration=600, loop=0, **extra)
    return len(frames)
