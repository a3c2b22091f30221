"""Palettes for images with transparency (format version 2, spec section 12).

Clustering happens in premultiplied RGBA, (R*A/255, G*A/255, B*A/255, A),
where a colour difference under low alpha weighs as little as it shows,
and the error reported is the squared error summed over those four
values.  (With ``space="oklab"`` the colour is Oklab's L, a, b, scaled as
:mod:`kmcodec.colorspace` does, premultiplied the same way; the error
reported stays the RGBA one.)  Three kinds of pixel are kept apart, because what they decode to
must be exact:

- fully transparent pixels (A = 0) all take one entry, exactly (0, 0, 0, 0);
- opaque pixels (A = 255) take only opaque entries, so they decode opaque;
- translucent pixels (0 < A < 255) take the nearest entry of any kind.

The entries are shared out between opaque and translucent by one k-means
run over both kinds together, in premultiplied RGBA: a centre whose
pixels are mostly opaque (by weight) counts as opaque.  Then the opaque
colours are clustered alone in RGB (the engine of
:mod:`kmcodec.clustering`, grid stage and all) and the translucent ones
alone in premultiplied RGBA, and every colour goes to its nearest allowed
entry.  With K = 1 an image that has both transparent and opaque pixels
cannot keep both exact; its one entry is then the best single colour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _signals
from .alpha import premultiplied
from .colorspace import from_space, points
from .quantized import Quantized

if TYPE_CHECKING:
    from .options import EncodeOptions

__all__ = ["quantize_rgba"]


def _keys(pixels: np.ndarray) -> np.ndarray:
    """``A<<24 | R<<16 | G<<8 | B`` of each (N, 4) pixel, 0 for every A = 0."""
    px = pixels.astype(np.uint32)
    keys = px[:, 3] << 24 | px[:, 0] << 16 | px[:, 1] << 8 | px[:, 2]
    keys[px[:, 3] == 0] = 0
    return keys


def _entries(keys: np.ndarray) -> np.ndarray:
    """The (n, 4) RGBA entries of keys."""
    k = keys.astype(np.uint32)
    return np.stack([(k >> 16) & 255, (k >> 8) & 255, k & 255, k >> 24], 1).astype(np.uint8)


def quantize_rgba(rgba: np.ndarray, options: EncodeOptions) -> Quantized:
    """Cluster an image with alpha into at most ``options.k`` RGBA entries.

    Parameters
    ----------
    rgba : ndarray of shape (H, W, 4), uint8
        Straight (not premultiplied) alpha.
    options : EncodeOptions
        As for :func:`kmcodec.clustering.quantize`.

    Returns
    -------
    Quantized
        A (K, 4) palette in the canonical order of spec section 12.2, every
        entry used; ``error`` is the squared error over premultiplied RGBA.
    """
    from . import clustering

    height, width, _ = rgba.shape
    keys = _keys(np.ascontiguousarray(rgba, dtype=np.uint8).reshape(-1, 4))
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    colors = _entries(uniq)
    iterations = 0
    chroma = options.chroma(height, width)
    with clustering._engine():
        if len(uniq) <= options.k:
            palette, labels = colors, np.arange(len(uniq))
        else:
            w = counts.astype(np.float64)
            if options.smooth_weight > 0:
                from .importance import colour_weights

                w = colour_weights(lambda y0, y1: inverse[y0 * width : y1 * width].reshape(-1, width),
                                   points(colors, options.space, chroma), height, width, options.smooth_weight)
            palette, labels, iterations = _cluster(colors, w, options, counts.astype(np.float64), chroma)
    palette, labels = clustering._canonical(palette, labels, _keys)  # spec 12.2
    diff = premultiplied(colors) - premultiplied(palette)[labels]
    error = float(counts @ np.einsum("ij,ij->i", diff, diff))
    dtype = np.uint8 if len(palette) <= 256 else np.uint16
    indices = labels.astype(dtype)[inverse].reshape(height, width)
    return Quantized(np.ascontiguousarray(palette), indices, iterations, error)


def _cluster(colors: np.ndarray, w: np.ndarray, options: EncodeOptions, counts: np.ndarray, chroma: float = 1.0):
    """Entries and each colour's entry, for more colours than ``options.k``.

    ``w``: each colour's weight (its pixel count, times the smooth weighting);
    ``counts``: its pixel count, which ``init="random"`` draws by;
    ``chroma``: the Oklab chroma weight (:meth:`EncodeOptions.chroma`).
    """
    k = options.k
    alpha = colors[:, 3]
    kinds = alpha == 0, alpha == 255, (alpha > 0) & (alpha < 255)  # clear, opaque, translucent
    clear, opaque, translucent = kinds
    room = k - int(clear.any())
    space = options.space
    x = points(colors, space, chroma)
    if room < 1:
        centers, _, spent = _run(x, w, 1, options, counts=counts)  # K = 1: the best single entry
        entries = _straight(centers, space, chroma)
        return entries, np.zeros(len(colors), np.intp), spent
    k_opaque, k_clear, joint, spent = _share(x, w, opaque, translucent, room, options, counts)
    parts = [np.zeros((1, 4))] if clear.any() else []
    if k_opaque:
        centers, _, more = _run(x[opaque][:, :3], w[opaque], k_opaque, options, grid=colors[opaque][:, :3],
                                counts=counts[opaque])
        spent += more
        parts.append(np.column_stack([centers, np.full(len(centers), 255.0)]))
    if k_clear:
        centers, _, more = _run(x[translucent], w[translucent], k_clear, options, counts=counts[translucent])
        spent += more
        parts.append(centers)
    # Two starts, each settled under the rules: the kinds clustered apart,
    # and the joint run's centres (those mostly opaque made opaque).
    starts = [np.concatenate(parts)]
    if joint is not None:
        starts.append(np.concatenate([np.zeros((1, 4)), joint]) if clear.any() else joint)
    best = None
    for start in starts:
        centers, labels, more = _constrained_lloyd(x, w, kinds, start, options.max_iter)
        spent += more
        error = float(w @ ((x - centers[labels]) ** 2).sum(1))
        if best is None or error < best[0]:
            best = (error, centers)
    assert best is not None
    entries = np.unique(_straight(best[1], space, chroma), axis=0)
    return entries, _assign(x, kinds, points(entries, space, chroma)), spent


def _assign(x: np.ndarray, kinds, targets: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
    """Each colour's nearest allowed entry among ``targets`` (premultiplied):
    the transparent one for A = 0, opaque ones for A = 255, any for the rest."""
    from .clustering import _nearest

    labels = np.zeros(len(x), dtype=np.intp)
    everything = np.ones(len(targets), bool)
    for kind, allowed in zip(kinds, (targets[:, 3] == 0, targets[:, 3] == 255, everything), strict=True):
        if not kind.any():
            continue
        if not allowed.any():  # K = 1, or K = 2 with no room left for an opaque entry
            allowed = everything
        choice = np.flatnonzero(allowed)
        start = None
        if guess is not None:  # where each search starts: its last entry, if still allowed
            position = np.full(len(targets), 0, np.intp)
            position[choice] = np.arange(len(choice))
            start = position[guess[kind]]
        labels[kind] = choice[_nearest(x[kind], np.ascontiguousarray(targets[choice]), start)]
    return labels


def _constrained_lloyd(x, w, kinds, centers, max_iter):
    """Lloyd's algorithm under the three rules of :func:`_assign`.

    An entry that serves an opaque colour stays opaque: its alpha is held
    at 255 and its colour is the mean of its colours' premultiplied R, G, B
    (the best opaque entry for them); the transparent entry stays
    (0, 0, 0, 0); any other entry is the mean of its colours.  Each step
    can only lower the error, so the split found by :func:`_share` is
    settled jointly: translucent colours that an opaque entry serves best
    pull it, and entries move between the kinds where the error says so.

    Returns the centres (premultiplied, float), each colour's centre and
    the steps taken.
    """
    clear, opaque, _ = kinds
    labels = _assign(x, kinds, centers)
    for step in range(1, max_iter + 1):
        _signals.check()
        m = len(centers)
        weight = np.bincount(labels, weights=w, minlength=m)
        sums = np.stack([np.bincount(labels, weights=w * x[:, c], minlength=m) for c in range(4)], 1)
        solid = np.bincount(labels, weights=w * opaque, minlength=m) > 0
        held = np.bincount(labels, weights=w * clear, minlength=m) > 0
        full = weight > 0
        centers = centers.copy()
        centers[full] = sums[full] / weight[full, None]
        centers[solid, 3] = 255.0
        centers[held] = 0.0
        new = _assign(x, kinds, centers, labels)
        if np.array_equal(new, labels):
            return centers, labels, step
        labels = new
    return centers, labels, max_iter


def _share(x, w, opaque, translucent, room, options, counts):
    """How many of ``room`` entries go to opaque and to translucent colours,
    and the centres of the joint run that decided it (None without one)."""
    n_opaque, n_clear = int(opaque.sum()), int(translucent.sum())
    if not n_clear:
        return min(room, n_opaque), 0, None, 0
    if not n_opaque:
        return 0, min(room, n_clear), None, 0
    both = opaque | translucent
    if room == 1:
        return 1, 0, None, 0  # opaque pixels must stay opaque
    if n_opaque + n_clear <= room:
        return n_opaque, n_clear, None, 0
    centers, labels, spent = _run(x[both], w[both], room, options, counts=counts[both])
    weight = np.bincount(labels, weights=w[both], minlength=room)
    solid = np.bincount(labels, weights=(w * opaque)[both], minlength=room)
    mostly = solid * 2 >= weight
    k_opaque = min(max(int(np.count_nonzero(mostly)), 1), room - 1, n_opaque)
    k_clear = min(room - k_opaque, n_clear)
    joint = centers.copy()
    joint[mostly, 3] = 255.0
    if not mostly.any():
        joint[np.argmax(solid), 3] = 255.0  # somewhere for the opaque colours to go
    return k_opaque, k_clear, joint, spent


def _run(x, w, k, options, grid=None, counts=None):
    """The engine on weighted points (centres, labels, iterations); the
    points themselves when there are no more than ``k``.  ``grid``: the
    points' integer RGB colours, for the grid stage (see
    :func:`kmcodec.clustering._kmeans`); ``counts``: their pixel counts."""
    from .clustering import _kmeans, _sklearn_kmeans

    if len(x) <= k:
        return x.copy(), np.arange(len(x)), 0
    x = np.ascontiguousarray(x)
    if options.engine == "sklearn":
        return _sklearn_kmeans(x, w, k, options.seed, options.seedings, options.max_iter, options.tol,
                               options.init)
    return _kmeans(x, w, k, options.seed, options.seedings, options.max_iter, options.tol, grid=grid,
                   init=options.init, refine=options.refine, counts=counts)


def _round(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _straight(centers: np.ndarray, space: str = "rgb", chroma: float = 1.0) -> np.ndarray:
    """Premultiplied centres (k, 4) to straight RGBA entries; A = 0 is (0, 0, 0, 0)."""
    a = _round(centers[:, 3])
    colour = np.where(a[:, None] > 0, centers[:, :3] * 255.0 / np.maximum(a, 1)[:, None], 0.0)
    out = np.column_stack([from_space(colour, space, chroma), a])
    out[a == 0] = 0
    return out
