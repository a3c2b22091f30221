"""Colour quantisation by k-means: kmcodec's own engine and scikit-learn's.

Both engines cluster the image's *distinct* colours, each weighted by how
many pixels have it.  The weighted objective is exactly the per-pixel
objective of the tutorials' ``KMeans(n_clusters=K).fit(pixels)``, but a
repeated colour costs nothing: a 12-megapixel photograph rarely has more than
a million distinct colours, a graphic a few hundred.

Our engine: greedy k-means++ seeding (as scikit-learn's, weighted), or a
weighted median cut when K is so large that k-means++ would cost K passes
over the colours; Lloyd iterations with scikit-learn's tolerance rule and an
iteration cap; empty clusters moved to the worst-served colours; ``n_init``
restarts keeping the lowest inertia.  Every random draw comes from a
``numpy.random.Generator`` seeded by ``seed``, so results are reproducible.

The finish is shared by both engines: centres are rounded to the uint8
palette, every colour is reassigned to its nearest palette entry (exact in
integer arithmetic), unused entries are dropped and the palette is sorted, so
that the file holds only colours pixels use, in a canonical order.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ENGINES", "Quantization", "quantize", "color_histogram"]

ENGINES = ("kmeans", "sklearn")
_LUT_THRESHOLD = 1 << 18  # pixels; above this a 2**24 table beats sorting
_DIST_BLOCK = 1 << 22  # entries of one (colours x centres) distance block
_KDTREE_MIN_K = 64  # centres; from here a k-d tree beats the dense distances
_PLUSPLUS_BUDGET = 3 * 10**8  # distance evaluations k-means++ may spend


@dataclass(frozen=True)
class Quantization:
    """Result of :func:`quantize`.

    Attributes
    ----------
    palette : ndarray of shape (K, 3), uint8
        Distinct colours, sorted by 24-bit value ``R<<16 | G<<8 | B``; every
        entry is used by at least one pixel.
    indices : ndarray of shape (N,), uint8 when K <= 256 else uint16
        Palette index of each pixel, in the order of the input pixels.
    iterations : int
        Lloyd iterations of the best run (0 when no clustering was needed).
    """

    palette: np.ndarray
    indices: np.ndarray
    iterations: int


def _keys(pixels: np.ndarray) -> np.ndarray:
    p = pixels.astype(np.uint32)
    return (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]


def _colors_of(keys: np.ndarray) -> np.ndarray:
    keys = keys.astype(np.uint32)
    return np.stack(((keys >> 16) & 255, (keys >> 8) & 255, keys & 255), 1).astype(
        np.uint8
    )


def color_histogram(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours of ``pixels`` and how many pixels have each.

    Parameters
    ----------
    pixels : ndarray of shape (N, 3), uint8

    Returns
    -------
    colors : ndarray of shape (U, 3), uint8, sorted by 24-bit value
    counts : ndarray of shape (U,), int64
    """
    keys, counts = _histogram(_keys(pixels))
    return _colors_of(keys), counts


def _histogram(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if keys.size >= _LUT_THRESHOLD:
        counts = np.bincount(keys, minlength=1 << 24)
        uniq = np.flatnonzero(counts).astype(np.uint32)
        return uniq, counts[uniq]
    uniq, counts = np.unique(keys, return_counts=True)
    return uniq, counts.astype(np.int64)


def _lookup(keys: np.ndarray, uniq: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Label of each pixel from the label of each distinct colour."""
    if keys.size >= _LUT_THRESHOLD:
        lut = np.zeros(1 << 24, dtype=labels.dtype)
        lut[uniq] = labels
        return lut[keys]
    return labels[np.searchsorted(uniq, keys)]


def quantize(
    pixels: np.ndarray,
    k: int,
    *,
    seed: int = 0,
    n_init: int = 1,
    engine: str = "kmeans",
    max_iter: int = 300,
    tol: float = 1e-4,
) -> Quantization:
    """Cluster pixels into at most ``k`` colours.

    Parameters are trusted: the codec API validates them.

    Parameters
    ----------
    pixels : ndarray of shape (N, 3), uint8
    k : int
        Largest palette size, 1 to 65536.  An image with ``k`` or fewer
        distinct colours is returned losslessly.
    seed : int, default 0
    n_init : int, default 1
        Independent runs; the one with the lowest inertia is kept.
    engine : {"kmeans", "sklearn"}, default "kmeans"
    max_iter : int, default 300
    tol : float, default 1e-4
        Relative tolerance on the squared movement of the centres, as in
        scikit-learn (scaled by the mean per-channel variance).

    Returns
    -------
    Quantization
    """
    keys = _keys(pixels)
    uniq, counts = _histogram(keys)
    colors = _colors_of(uniq)
    iterations = 0
    if len(uniq) <= k:
        labels = np.arange(len(uniq))
        palette = colors
    else:
        x = colors.astype(np.float64)
        w = counts.astype(np.float64)
        if engine == "sklearn":
            centers, iterations = _sklearn_kmeans(x, w, k, seed, n_init, max_iter, tol)
        else:
            centers, iterations = _kmeans(x, w, k, seed, n_init, max_iter, tol)
        palette = np.unique(np.clip(np.rint(centers), 0, 255).astype(np.uint8), axis=0)
        labels, _ = _assign(x, palette.astype(np.float64))
        used = np.bincount(labels, minlength=len(palette)) > 0
        if not used.all():
            remap = np.cumsum(used) - 1
            palette, labels = palette[used], remap[labels]
        # np.unique sorted the palette lexicographically by (R, G, B), which
        # is the order of the 24-bit value: the canonical order.
    dtype = np.uint8 if len(palette) <= 256 else np.uint16
    indices = _lookup(keys, uniq, labels.astype(dtype))
    return Quantization(np.ascontiguousarray(palette), indices, iterations)


# --- nearest centre ---------------------------------------------------------


def _assign(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre for each row of ``x``, and its squared distance."""
    k = len(centers)
    if k >= _KDTREE_MIN_K:
        from scipy.spatial import cKDTree

        dist, labels = cKDTree(centers).query(x, k=1, workers=-1)
        return labels.astype(np.intp), dist * dist
    labels = np.empty(len(x), dtype=np.intp)
    best = np.empty(len(x), dtype=np.float64)
    cc = np.einsum("ij,ij->i", centers, centers)
    step = max(1, _DIST_BLOCK // k)
    for start in range(0, len(x), step):
        block = x[start : start + step]
        d = cc - 2.0 * (block @ centers.T)
        d += np.einsum("ij,ij->i", block, block)[:, None]
        lab = np.argmin(d, axis=1)
        labels[start : start + step] = lab
        best[start : start + step] = np.maximum(d[np.arange(len(block)), lab], 0.0)
    return labels, best


def _sqdist_to(x: np.ndarray, point: np.ndarray) -> np.ndarray:
    diff = x - point
    return np.einsum("ij,ij->i", diff, diff)


# --- our engine -------------------------------------------------------------


def _kmeans(x, w, k, seed, n_init, max_iter, tol):
    rng = np.random.default_rng(seed)
    mean = np.average(x, axis=0, weights=w)
    variance = np.average((x - mean) ** 2, axis=0, weights=w)
    tol_abs = float(np.mean(variance)) * tol
    best = None
    for _ in range(n_init):
        if k * len(x) * (2 + math.log(k)) <= _PLUSPLUS_BUDGET:
            centers = _kmeans_plusplus(x, w, k, rng)
        else:
            centers = _median_cut(x, w, k)
        centers, inertia, iterations = _lloyd(x, w, centers, max_iter, tol_abs)
        centers, inertia, extra = _swap_refine(x, w, centers, inertia, rng, max_iter, tol_abs)
        iterations += extra
        if best is None or inertia < best[1]:
            best = (centers, inertia, iterations)
        if k * len(x) * (2 + math.log(k)) > _PLUSPLUS_BUDGET:
            break  # median cut is deterministic: further runs would repeat it
    return best[0], best[2]


def _kmeans_plusplus(x, w, k, rng):
    """Greedy k-means++ (Arthur & Vassilvitskii 2007), weighted as scikit-learn's."""
    n = len(x)
    trials = 2 + int(math.log(k))
    centers = np.empty((k, 3), dtype=np.float64)
    first = min(int(np.searchsorted(np.cumsum(w), rng.uniform() * w.sum())), n - 1)
    centers[0] = x[first]
    closest = _sqdist_to(x, x[first])
    for c in range(1, k):
        cumulative = np.cumsum(w * closest)
        targets = rng.uniform(size=trials) * cumulative[-1]
        cand = np.minimum(np.searchsorted(cumulative, targets), n - 1)
        d = np.stack([_sqdist_to(x, x[i]) for i in cand])
        np.minimum(d, closest, out=d)
        potentials = d @ w
        pick = int(np.argmin(potentials))
        closest = d[pick]
        centers[c] = x[cand[pick]]
    return centers


def _median_cut(x, w, k):
    """Deterministic weighted median cut: split the box of largest error.

    Used instead of k-means++ when K is so large (thousands) that K passes
    over the colours would dominate the run.
    """

    def box(idx):
        pts, wts = x[idx], w[idx]
        total = wts.sum()
        mean = (pts * wts[:, None]).sum(0) / total
        err = float((wts * ((pts - mean) ** 2).sum(1)).sum())
        return (-err, int(idx[0]), idx, mean)

    heap = [box(np.arange(len(x)))]
    done = []
    while heap and len(heap) + len(done) < k:
        neg_err, _, idx, mean = heapq.heappop(heap)
        if neg_err == 0 or len(idx) < 2:
            done.append(mean)
            continue
        pts = x[idx]
        axis = int(np.argmax(pts.max(0) - pts.min(0)))
        order = idx[np.argsort(pts[:, axis], kind="stable")]
        cum = np.cumsum(w[order])
        cut = int(np.searchsorted(cum, cum[-1] / 2))
        cut = min(max(cut, 1), len(order) - 1)
        heapq.heappush(heap, box(order[:cut]))
        heapq.heappush(heap, box(order[cut:]))
    return np.array(done + [item[3] for item in heap], dtype=np.float64)


def _two_nearest(x, centers):
    """Squared distances to the nearest and second-nearest centre, and the nearest."""
    if len(centers) >= _KDTREE_MIN_K:
        from scipy.spatial import cKDTree

        dist, idx = cKDTree(centers).query(x, k=2, workers=-1)
        return idx[:, 0], dist[:, 0] ** 2, dist[:, 1] ** 2
    labels = np.empty(len(x), dtype=np.intp)
    first = np.empty(len(x))
    second = np.empty(len(x))
    cc = np.einsum("ij,ij->i", centers, centers)
    step = max(1, _DIST_BLOCK // len(centers))
    for start in range(0, len(x), step):
        block = x[start : start + step]
        d = cc - 2.0 * (block @ centers.T)
        d += np.einsum("ij,ij->i", block, block)[:, None]
        two = np.argpartition(d, 1, axis=1)[:, :2]
        rows = np.arange(len(block))[:, None]
        pair = d[rows, two]
        order = np.argsort(pair, axis=1)
        labels[start : start + step] = np.take_along_axis(two, order[:, :1], 1)[:, 0]
        sorted_pair = np.maximum(np.take_along_axis(pair, order, 1), 0.0)
        first[start : start + step] = sorted_pair[:, 0]
        second[start : start + step] = sorted_pair[:, 1]
    return labels, first, second


def _swap_refine(x, w, centers, inertia, rng, max_iter, tol_abs, patience=4):
    """Escape Lloyd's local optimum by moving one centre at a time.

    Lloyd never moves a centre far, so k-means++ leaves some regions with too
    many centres and others with too few.  Each round takes the centre whose
    removal costs least (the colours it serves have a close second choice)
    and re-seeds it inside the cluster of largest error, k-means++ style;
    Lloyd then settles, and the move is kept only if the error fell
    (cf. Ismkhan, "I-k-means-+", Pattern Recognition 79, 2018).  After a
    rejected move the next-cheapest centre is tried; ``patience`` rejected
    moves in a row end the search.
    """
    k = len(centers)
    extra = 0
    failures = 0
    if k < 2:
        return centers, inertia, 0
    while failures < patience:
        labels, d1, d2 = _two_nearest(x, centers)
        error = np.bincount(labels, weights=w * d1, minlength=k)
        removal = np.bincount(labels, weights=w * (d2 - d1), minlength=k)
        target = int(np.argmax(error))
        removal[target] = np.inf
        # After a rejected move, try the next-cheapest centre to remove.
        victim = int(np.argsort(removal, kind="stable")[min(failures, k - 2)])
        members = np.flatnonzero(labels == target)
        mass = np.cumsum(w[members] * d1[members])
        pick = members[min(int(np.searchsorted(mass, rng.uniform() * mass[-1])), len(members) - 1)]
        trial = centers.copy()
        trial[victim] = x[pick]
        trial, trial_inertia, iterations = _lloyd(x, w, trial, max_iter, tol_abs)
        extra += iterations
        if trial_inertia < inertia * (1 - 1e-9):
            centers, inertia, failures = trial, trial_inertia, 0
        else:
            failures += 1
    return centers, inertia, extra


def _lloyd(x, w, centers, max_iter, tol_abs):
    k = len(centers)
    labels = None
    iterations = 0
    for iterations in range(1, max_iter + 1):
        new_labels, dist = _assign(x, centers)
        wsum = np.bincount(new_labels, weights=w, minlength=k)
        sums = np.stack(
            [np.bincount(new_labels, weights=w * x[:, c], minlength=k) for c in range(3)],
            1,
        )
        empty = np.flatnonzero(wsum == 0)
        new_centers = centers.copy()
        full = wsum > 0
        new_centers[full] = sums[full] / wsum[full, None]
        if empty.size:
            # Move each empty centre onto one of the colours that currently
            # cost the most, as scikit-learn does.
            worst = np.argsort(-(w * dist), kind="stable")[: empty.size]
            new_centers[empty] = x[worst]
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        stable = labels is not None and np.array_equal(labels, new_labels)
        labels = new_labels
        if (stable or shift <= tol_abs) and not empty.size:
            break
    labels, dist = _assign(x, centers)
    return centers, float(w @ dist), iterations


# --- scikit-learn -----------------------------------------------------------


def _sklearn_kmeans(x, w, k, seed, n_init, max_iter, tol):
    from sklearn.cluster import KMeans

    model = KMeans(
        n_clusters=k, n_init=n_init, random_state=seed, max_iter=max_iter, tol=tol
    )
    model.fit(x, sample_weight=w)
    return model.cluster_centers_, int(model.n_iter_)
