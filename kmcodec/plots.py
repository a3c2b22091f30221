"""Figures: the comparison, the colour space, k-means at work (matplotlib).

matplotlib is an optional extra: ``pip install "kmcodec[plot]"``.  Figures
are written with the non-interactive Agg backend, so no display is needed.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ParameterError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["comparison_figure", "colors_figure", "iterations_animation", "thumbnail",
           "figure_format", "animation_format", "ANIMATION_FORMATS", "METRICS"]

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


#: The metrics a comparison chart can plot, with their axis labels.
METRICS = {"psnr": "PSNR (dB)", "ssimulacra2": "SSIMULACRA2", "ssim": "SSIM"}
# What an exact copy scores; PSNR has no such number (it is infinite), so
# exact copies are drawn on a ceiling above the chart's finite values.
_PERFECT = {"ssimulacra2": 100.0, "ssim": 1.0}

# Comparison figure geometry, inches.
_THUMB_HEIGHT = 2.6  # a thumbnail row's height, unless its titles need more width
_NAME_MIN = 8  # characters of a file name a title keeps, however narrow its thumbnail
_TITLE_SPACE = 0.5  # above the thumbnails, for titles of up to three lines
_CHART_HEIGHT = 4.4  # with its title and axis labels
_CHART_MIN_WIDTH = 5.5
_CHART_LEFT = 0.85  # room for the y label
_K_COLUMN = 0.5
_MARGIN = 0.3
_GAP = 0.35  # between the thumbnails and the chart, and between images
_TITLE_FONT = 8
_LEGEND_FONT = 7.5
_TABLE_FONT = 7


def _metric_value(row, metric: str) -> float | None:
    """``row``'s ``metric``; an exact copy's score (inf for PSNR); None if not measured.

    A PSNR of None means the file reproduces the original exactly (see
    :class:`kmcodec.compare.Row`); another metric's None means it was not
    measured, unless the row says it is lossless of the original.
    """
    value = getattr(row, metric, None)
    if value is not None and math.isfinite(value):
        return float(value)
    if value is not None and math.isnan(value):
        return None  # undefined (SSIMULACRA2 below 8x8 pixels), not perfect
    exact = value is not None or metric == "psnr" or getattr(row, "lossless", None) == "original"
    return _PERFECT.get(metric, math.inf) if exact else None


def _shown(value: float | None, metric: str) -> str:
    """A metric value as a thumbnail title shows it ("" if not measured)."""
    if value is None:
        return ""
    if math.isinf(value):
        return "lossless"
    if metric == "psnr":
        return f"{value:.1f} dB"
    return f"{METRICS[metric]} {value:.3f}" if metric == "ssim" else f"{METRICS[metric]} {value:.1f}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.2f} MiB"


def _series(row) -> str:
    """The legend and table label of ``row``'s method.

    Matched rows (``jpeg@size`` ...) may be matched to several .kmc rows;
    each is its own series, named after the one it was matched to.
    """
    against = getattr(row, "against", None)
    return row.method if against is None else f"{row.method} (vs {against})"


def _text_width(text: str, fontsize: float) -> float:
    """Roughly how many inches ``text`` takes: an average character is about 0.55 em."""
    return len(text) * 0.55 * fontsize / 72


def _short(name: str, chars: int) -> str:
    """``name`` in at most ``chars`` characters, its middle elided."""
    if len(name) <= chars:
        return name
    front = chars // 2
    return name[:front] + "…" + name[len(name) - (chars - 1 - front):]


def _thumbnail_label(k: int | None, mine: list, metric: str) -> list[str]:
    """A thumbnail's title: its first line, then the parts of the second (maybe none).

    The original's first line is also preceded by the image's name (see :func:`_title`).
    """
    if k is None:
        png = next((r for r in mine if r.k is None and r.method == "png"), None)
        return ["original", *(["PNG", _size(png.bytes)] if png else [])]
    kmc = next((r for r in mine if r.k == k and r.method == "kmc" and getattr(r, "against", None) is None), None)
    if kmc is None:
        return [f"K = {k}"]
    colours = kmc.extra.get("colors")
    head = f"K = {k}" if colours is None or colours >= k else f"K = {k} ({colours} colours)"
    # SSIMULACRA2's 100 says "identical" less plainly than this.
    quality = "lossless" if kmc.lossless == "original" else _shown(_metric_value(kmc, metric), metric)
    return [head, _size(kmc.bytes), *([quality] if quality else [])]


def _label_width(label: list[str], name: str | None = None) -> float:
    """The width, inches, a thumbnail needs for ``label`` with one part a line.

    A ``name`` before the first line counts for no more than :data:`_NAME_MIN`
    characters: a longer one is shortened to fit (:func:`_title`), rather than
    widening every thumbnail of the row.
    """
    lines = list(label)
    if name is not None:
        lines[0] = f"{_short(name, _NAME_MIN)}: {label[0]}"
    return max(_text_width(line, _TITLE_FONT) for line in lines) + 0.1


def _title(label: list[str], width: float, name: str | None = None) -> str:
    """``label`` in two lines, or one part a line when the second is wider than ``width`` inches."""
    head, parts = label[0], label[1:]
    if name is not None:
        room = (width - 0.1 - _text_width(f": {head}", _TITLE_FONT)) / _text_width("x", _TITLE_FONT)
        head = f"{_short(name, max(int(room), _NAME_MIN))}: {head}"
    line = " · ".join(parts)
    if _text_width(line, _TITLE_FONT) + 0.1 <= width:
        return f"{head}\n{line}" if line else head
    return "\n".join([head, *parts])


def _rd_chart(ax, mine: list, metric: str, name: str) -> None:
    """``metric`` against bits per pixel, one series per method, exact copies on a ceiling."""
    import matplotlib as mpl

    # A metric nobody measured (compare --no-ssim) would show only the
    # lossless rows, at their top score: show nothing rather than that.
    measured = metric == "psnr" or any(getattr(r, metric, None) is not None for r in mine)
    values = {id(r): _metric_value(r, metric) if measured else None for r in mine}
    finite = [v for v in values.values() if v is not None and math.isfinite(v)]
    exact = any(v is not None and math.isinf(v) for v in values.values())
    ceiling = math.inf
    if exact:
        top, bottom = (max(finite), min(finite)) if finite else (50.0, 50.0)
        ceiling = top + max(2.0, 0.08 * (top - bottom))
        ax.axhline(ceiling, linestyle="--", color="0.35", linewidth=1, zorder=1)
        ax.annotate("lossless", (0, ceiling), xycoords=ax.get_yaxis_transform(), xytext=(4, 3),
                    textcoords="offset points", fontsize=8, color="0.35")
        if not finite:
            ax.set_yticks([])  # the ceiling's height is arbitrary: no number to read

    def y(row) -> float | None:
        v = values[id(row)]
        return ceiling if v is not None and math.isinf(v) else v

    series = list(dict.fromkeys(_series(r) for r in mine))
    cmap = mpl.colormaps["tab10" if len(series) <= 10 else "tab20"]
    colours = [cmap(i) for i in range(cmap.N)]
    plotted = False
    for i, label in enumerate(series):
        rows = [r for r in mine if _series(r) == label]
        pts = sorted((r.bpp, y(r)) for r in rows if y(r) is not None)
        if not pts:
            continue
        once = all(r.k is None for r in rows)  # the original stored once per image: a point, no curve
        ax.plot(*zip(*pts), marker="*" if once else "o", ms=10 if once else 3.5,
                linestyle="none" if once else "-", linewidth=2 if label.startswith("kmc") else 1.2,
                color=colours[i % len(colours)], label=label, zorder=3)
        plotted = True
    for r in mine:
        if r.method == "kmc" and r.extra.get("elbow") and y(r) is not None:
            ax.annotate(f"elbow K={r.k}", (r.bpp, y(r)), xytext=(12, -18), textcoords="offset points",
                        arrowprops={"arrowstyle": "->"}, fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel(METRICS[metric])
    ax.set_title(f"{name}: size and quality", fontsize=10)
    ax.grid(True, alpha=0.3)
    if plotted:
        ax.legend(fontsize=_LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, f"{METRICS[metric]} was not measured", transform=ax.transAxes, ha="center")


def _size_table(ax, mine: list, ks: list[int]) -> None:
    ax.set_axis_off()
    series = list(dict.fromkeys(_series(r) for r in mine if r.k is not None))
    cells = []
    for label in series:
        by_k = {r.k: r.bytes for r in mine if _series(r) == label}
        cells.append([f"{by_k[k] / 1024:.1f}" if k in by_k else "-" for k in ks])
    # The K columns get _K_COLUMN inches each of the axes; the labels' column
    # is sized to its text, to their left.
    table = ax.table(cellText=cells, rowLabels=series, colLabels=[f"K={k}" for k in ks], loc="upper right",
                     colWidths=[1 / len(ks)] * len(ks))
    table.auto_set_font_size(False)
    table.set_fontsize(_TABLE_FONT)
    table.auto_set_column_width(-1)
    ax.set_title("file size, KiB", fontsize=10, loc="right")  # its axes are the K columns only


def _comparison_figure(rows, thumbs: dict, metric: str = "psnr") -> Figure:
    """The figure :func:`comparison_figure` writes.

    Axes are placed by hand, in inches: the thumbnails of an image must
    touch each other, which a grid (one slot per K, gaps between slots,
    images letterboxed in slots of another shape) does not give.
    """
    if metric not in METRICS:
        raise ParameterError(f"no metric {metric!r}; use one of {', '.join(METRICS)}")
    plt = _pyplot()
    images = list(dict.fromkeys(r.image for r in rows))
    ks = sorted({r.k for r in rows if r.k is not None})
    strips = {image: [(k, thumbs[(image, k)], _thumbnail_label(k, [r for r in rows if r.image == image], metric))
                      for k in [None, *ks] if (image, k) in thumbs]
              for image in images}
    labels = list(dict.fromkeys(_series(r) for r in rows))
    longest = max(labels, key=len, default="")
    legend_width = _text_width(longest, _LEGEND_FONT) + 0.6  # and the line sample
    # The table's K columns fill its axes; its label column sticks out to their left.
    label_column = _text_width(longest, _TABLE_FONT) + 0.15
    k_columns = _K_COLUMN * len(ks)
    width = max(14.0, _CHART_LEFT + _CHART_MIN_WIDTH + legend_width + label_column + k_columns + 2 * _MARGIN)
    heights = {}
    for image, strip in strips.items():
        aspects = [t.shape[1] / t.shape[0] for _, t, _ in strip]
        # The row fills the width at most _THUMB_HEIGHT high, and is made
        # taller (the figure wider) when a thumbnail is narrower than its title.
        fits = min(_THUMB_HEIGHT, (width - 2 * _MARGIN) / sum(aspects)) if strip else 0.0
        needs = [_label_width(label, None if k is not None else os.path.basename(image)) / a
                 for (k, _, label), a in zip(strip, aspects)]
        heights[image] = max([fits, *needs])
    width = max([width] + [2 * _MARGIN + heights[image] * sum(t.shape[1] / t.shape[0] for _, t, _ in strip)
                           for image, strip in strips.items()])
    chart_width = width - _CHART_LEFT - legend_width - label_column - k_columns - 2 * _MARGIN
    height = sum(_TITLE_SPACE + h + _GAP + _CHART_HEIGHT + _GAP for h in heights.values()) or 1.0
    fig = plt.figure(figsize=(width, height), dpi=_DPI)

    def place(left: float, top: float, w: float, h: float):
        return fig.add_axes((left / width, 1 - (top + h) / height, w / width, h / height))

    top = 0.0
    for image in images:
        mine = [r for r in rows if r.image == image]
        name = os.path.basename(image)
        strip, h = strips[image], heights[image]
        top += _TITLE_SPACE
        widths = [h * t.shape[1] / t.shape[0] for _, t, _ in strip]
        left = (width - sum(widths)) / 2
        for (k, thumb, label), w in zip(strip, widths):
            ax = place(left, top, w, h)
            # aspect="auto": the axes already have the thumbnail's shape, and
            # "equal" would shrink them by a rounding error, leaving a seam.
            ax.imshow(thumb, aspect="auto", interpolation="nearest")
            # A hairline frame instead of a gap tells touching thumbnails apart.
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_linewidth(0.6)
                spine.set_color("0.45")
            ax.set_title(_title(label, w, name if k is None else None), fontsize=_TITLE_FONT, pad=3)
            left += w
        top += h + _GAP
        # Title above, tick labels and x label below the plotting area.
        inner_top, inner_height = top + 0.3, _CHART_HEIGHT - 0.85
        _rd_chart(place(_CHART_LEFT, inner_top, chart_width, inner_height), mine, metric, name)
        if ks and any(r.k is not None for r in mine):
            _size_table(place(width - _MARGIN - k_columns, inner_top, k_columns, inner_height), mine, ks)
        top += _CHART_HEIGHT + _GAP
    return fig


def comparison_figure(rows, thumbs: dict, fh, fmt: str = "png", metric: str = "psnr") -> None:
    """Decoded images per K, a rate-distortion chart and a size table, per image.

    Parameters
    ----------
    rows : iterable of kmcodec.compare.Row
        The rows of one or more images.
    thumbs : dict
        Maps (image, None) to the original's thumbnail and (image, K) to
        the decoded image's; a missing thumbnail is left out of the row.
    fh : binary file
        Where the figure is written.
    fmt : str, default "png"
        matplotlib's format (:func:`figure_format`).
    metric : {"psnr", "ssimulacra2", "ssim"}, default "psnr"
        The quality the chart plots against bits per pixel and the
        thumbnails are labelled with.  Files that reproduce the original
        exactly are drawn on a dashed "lossless" line above the finite
        PSNRs; SSIMULACRA2 and SSIM give them their top score (100, 1).

    Raises
    ------
    ParameterError
        For an unknown ``metric``.
    """
    plt = _pyplot()
    fig = _comparison_figure(list(rows), thumbs, metric)
    try:
        fig.savefig(fh, format=fmt, dpi=_DPI)
    finally:
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


def _iteration_frame(fig: Figure, sample: np.ndarray, small: np.ndarray, centers: np.ndarray, i: int,
                     note: str = "") -> None:
    """Draw frame ``i`` of :func:`iterations_animation` on ``fig``.

    Left, the ``sample`` of pixels in RGB space with ``centers`` over them;
    right, the thumbnail ``small`` recoloured by the nearest centre.
    """
    fig.clf()
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    _scatter(ax3, sample, sample, "")
    _markers(ax3, centers, _CENTROID_SIZE)
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.imshow(np.zeros_like(small))
    ax2.set_axis_off()
    _move_frame(fig, small, centers, i, note)  # the titles and the recoloured thumbnail


def _move_frame(fig: Figure, small: np.ndarray, centers: np.ndarray, i: int, note: str = "") -> None:
    """Turn the figure :func:`_iteration_frame` drew into frame ``i``: the
    centroid markers moved to ``centers``, the thumbnail recoloured and the
    titles renewed (building the axes again cost as much as drawing them)."""
    from . import clustering

    ax3, ax2 = fig.axes
    markers: Any = ax3.collections[-1]  # a Path3DCollection: its 3-D offsets are what Matplotlib's animations set
    markers._offsets3d = (centers[:, 0], centers[:, 1], centers[:, 2])
    markers.set_facecolor(np.clip(centers, 0, 255) / 255.0)
    ax3.set_title(f"iteration {i}{note}: {len(centers)} centroids", fontsize=10)
    palette = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
    ax2.images[0].set_data(palette[clustering.nearest(small.reshape(-1, 3).astype(float), centers)]
                           .reshape(small.shape))
    ax2.set_title(f"recoloured, iteration {i}")


def iterations_animation(rgb: np.ndarray, k: int, fh, seed: int = 0, max_frames: int = 30,
                         fmt: str = "GIF", init: str = "kmeans++", max_iter: int = 300) -> int:
    """Animate plain k-means step by step: seeding, then Lloyd's iterations.

    Left, the colours in RGB space with the centroids moving among them;
    right, the image recoloured by the current centroids.  The run is the
    textbook one, ``quantize(rgb, k, seed, init=init, refine="none",
    n_init=1)`` in RGB (:func:`kmcodec.clustering.seeds`, then
    :func:`kmcodec.clustering.lloyd_steps`); when it takes more than
    ``max_frames - 1`` iterations, the frames show the first ones and the
    last frame shows where it converged, titled with its iteration.
    Writes to the binary file ``fh`` as ``fmt``, one of
    :data:`ANIMATION_FORMATS`' values (GIF frames are reduced to 255
    colours; PNG and WebP keep RGB); returns the number of frames.
    """
    plt = _pyplot()
    from PIL import Image

    from . import clustering

    colors, counts = clustering.color_histogram(rgb.reshape(-1, 3))
    centers = clustering.seeds(colors, counts, k, seed, init)
    history = [centers, *clustering.lloyd_steps(colors, counts, centers, max_iter)]
    shown = list(enumerate(history))
    if len(shown) > max_frames:
        shown = shown[: max_frames - 1] + shown[-1:]
    last = len(history) - 1
    small = thumbnail(rgb, 240)
    sample = _sample(rgb, seed).astype(float)
    fig = plt.figure(figsize=(10, 4.5))
    frames: list[Image.Image] = []
    try:
        for i, c in shown:
            note = f" ({init} seeds)" if i == 0 else " (converged)" if i == last and last < max_iter else ""
            if frames:  # the same axes, cloud and image: only what moves changes
                _move_frame(fig, small, c, i, note)
            else:
                _iteration_frame(fig, sample, small, c, i, note)
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())
            frame = Image.fromarray(np.ascontiguousarray(rgba[:, :, :3]))
            frames.append(frame.quantize(255) if fmt == "GIF" else frame)
    finally:
        plt.close(fig)
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(fh, format=fmt, save_all=True, append_images=frames[1:], duration=600, loop=0, **extra)
    return len(frames)
