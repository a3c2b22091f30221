"""Colour quantisation by k-means: kmcodec's own engine and scikit-learn's.

Both engines cluster the image's *distinct* colours, each weighted by how
many pixels have it.  The weighted objective is exactly the per-pixel
objective of the tutorials' ``KMeans(n_clusters=K).fit(pixels)``, but a
repeated colour costs nothing: a 12-megapixel photograph has a few hundred
thousand to a few million distinct colours, a graphic a few hundred.

Our engine works coarse to fine, and never on a random sample:

1. Colours are merged into cells of a 64x64x64 grid (128x128x128 where
   pixels are dense), each represented by the weighted mean of its colours
   and their total weight.  For any centre c, a cell's colours cost
   ``W*|mean - c|**2`` plus a constant, so k-means on the cells optimises
   the true objective, except that a cell cannot be split between two
   clusters.
2. On the cells: greedy k-means++ seeding (weighted, as scikit-learn's), or
   a weighted median cut when K is in the thousands; Lloyd iterations; then
   a swap refinement that escapes Lloyd's local optimum.
3. On all distinct colours: up to ``_POLISH_ITER`` Lloyd steps from those
   centres, which lets the clusters split cells.

Lloyd uses Hamerly's bounds (an upper bound on each colour's distance to its
centre, a lower bound on the distance to any other), so late iterations only
look at the few colours near a cluster boundary; nearest centres come from a
k-d tree (pykdtree).  Every random draw comes from a ``numpy.random.Generator``
seeded by ``seed``, so results are reproducible.

The finish is shared by both engines: centres are rounded to the uint8
palette, every colour is reassigned to its nearest palette entry, unused
entries are dropped and the palette is sorted, so that the file holds only
colours pixels use, in a canonical order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .quantized import Quantized

if TYPE_CHECKING:
    from .options import EncodeOptions

__all__ = ["quantize", "color_histogram", "seeds", "lloyd_steps", "nearest"]
_LUT_THRESHOLD = 1 << 18  # pixels; above this a 2**24 table beats sorting
_CHUNK = 1 << 20  # pixels per chunk: bounds the temporaries of index arithmetic
_COARSE_SHIFT = 2  # grid cells of 4x4x4 colours
_DENSE_FACTOR = 16  # cells heavier than 1/16 of a cluster's average weight are halved
_COARSE_MIN_COLORS = 1 << 14  # below this many colours, work on them directly
_PLUSPLUS_BUDGET = 2 * 10**8  # distance evaluations k-means++ may spend
_SWAP_PATIENCE = 6  # rejected swaps in a row that end the refinement
_SWAP_PATIENCE_LARGE = 2  # the same for K >= _LARGE_K, where rounds cost most
_LARGE_K = 128
_SWAP_ITER = 3  # Lloyd iterations to judge one swap
_SWAP_BATCH_DIVISOR = 32  # the first rounds move K/32 centres at once,
_SWAP_BATCH_MAX = 64  # but never more than this: each costs a pass over the colours
_POLISH_ITER = 10  # Lloyd iterations on the full colours after the grid
_EXACT_MOVERS = 4  # centres per Lloyd step whose distances are computed exactly


# --- histogram ----------------------------------------------------------------


def _keys(pixels: np.ndarray) -> np.ndarray:
    """24-bit key ``R | G<<8 | B<<16`` of each pixel, as uint32.

    Reads each pixel's 3 bytes plus the next one as a little-endian uint32
    through an overlapping strided view, then masks the extra byte: one pass
    instead of three conversions and two shifts.
    """
    px = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1, 3)
    n = len(px)
    keys = np.empty(n, dtype=np.uint32)
    if n > 1:
        view = np.ndarray((n - 1,), dtype="<u4", buffer=px, strides=(3,))
        np.bitwise_and(view, np.uint32(0xFFFFFF), out=keys[:-1])
    if n:
        r, g, b = (int(v) for v in px[-1])
        keys[-1] = r | g << 8 | b << 16
    return keys


def _colors_of(keys: np.ndarray) -> np.ndarray:
    keys = keys.astype(np.uint32)
    return np.stack((keys & 255, (keys >> 8) & 255, keys >> 16), 1).astype(np.uint8)


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys and their counts; each key is replaced, in place, by the
    position of its value among the distinct keys.

    For large images: mark the keys seen in a 16 MiB table, rank them in a
    second table, and look the ranks up chunk by chunk.  This touches far
    less fresh memory than ``np.bincount`` over 2**24 int64 counters, and
    the ranks are what the final lookup needs anyway.
    """
    n = keys.size
    if n < _LUT_THRESHOLD:
        uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        keys[:] = inverse.reshape(-1)
        return uniq.astype(np.uint32), counts.astype(np.int64)
    seen = np.zeros(1 << 24, dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        seen[keys[start : start + _CHUNK]] = 1
    uniq = np.flatnonzero(seen).astype(np.uint32)
    del seen
    rank = np.empty(1 << 24, dtype=np.uint32)  # read only where written
    rank[uniq] = np.arange(len(uniq), dtype=np.uint32)
    counts = np.zeros(len(uniq), dtype=np.int64)
    for start in range(0, n, _CHUNK):
        chunk = keys[start : start + _CHUNK]
        chunk[:] = rank[chunk]
        counts += np.bincount(chunk, minlength=len(uniq))
    return uniq, counts


def color_histogram(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours of ``pixels`` and how many pixels have each.

    Parameters
    ----------
    pixels : ndarray of shape (N, 3), uint8

    Returns
    -------
    colors : ndarray of shape (U, 3), uint8, in a fixed but unspecified order
    counts : ndarray of shape (U,), int64
    """
    uniq, counts = _distinct(_keys(pixels))
    return _colors_of(uniq), counts


def _lookup(ranks: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Label of each pixel from its colour's rank and each colour's label."""
    out = np.empty(ranks.size, dtype=labels.dtype)
    for start in range(0, ranks.size, _CHUNK):
        out[start : start + _CHUNK] = labels[ranks[start : start + _CHUNK]]
    return out


# --- the public entry ---------------------------------------------------------


def quantize(rgb: np.ndarray, options: EncodeOptions) -> Quantized:
    """Cluster an image's pixels into at most ``options.k`` colours.

    Parameters are trusted: the codec API validates them.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), uint8
    options : EncodeOptions
        ``k`` (an image with ``k`` or fewer distinct colours is returned
        losslessly), ``seed``, ``n_init`` (the best of that many seedings
        is kept), ``engine``, ``max_iter`` (cap on Lloyd iterations of each
        stage) and ``tol`` (relative tolerance on the squared movement of
        the centres, as in scikit-learn: scaled by the mean per-channel
        variance).

    Returns
    -------
    Quantized
        The palette sorted by ``R<<16 | G<<8 | B``, every entry used.
    """
    height, width, _ = rgb.shape
    pixels = rgb.reshape(-1, 3)
    k, seed, n_init = options.k, options.seed, options.seedings
    max_iter, tol, engine = options.max_iter, options.tol, options.engine
    ranks = _keys(pixels)
    uniq, counts = _distinct(ranks)
    colors = _colors_of(uniq)
    iterations = 0
    if len(uniq) <= k:
        palette, labels = colors, np.arange(len(uniq))
    else:
        x = colors.astype(np.float64)
        w = counts.astype(np.float64)
        if engine == "sklearn":
            centers, iterations = _sklearn_kmeans(x, w, k, seed, n_init, max_iter, tol)
        else:
            centers, iterations = _kmeans(x, w, k, seed, n_init, max_iter, tol)
        palette = np.unique(np.clip(np.rint(centers), 0, 255).astype(np.uint8), axis=0)
        labels = _nearest(x, palette.astype(np.float64))
    palette, labels = _canonical(palette, labels)
    diff = colors.astype(np.int64) - palette[labels]
    error = int(counts @ np.einsum("ij,ij->i", diff, diff))
    dtype = np.uint8 if len(palette) <= 256 else np.uint16
    indices = _lookup(ranks, labels.astype(dtype))
    return Quantized(np.ascontiguousarray(palette), indices.reshape(height, width), iterations, error)


def _canonical(palette: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop unused entries and sort the palette by ``R<<16 | G<<8 | B``."""
    used = np.flatnonzero(np.bincount(labels, minlength=len(palette)))
    value = (palette[used].astype(np.int64) << np.array([16, 8, 0])).sum(1)
    order = used[np.argsort(value, kind="stable")]
    remap = np.zeros(len(palette), dtype=np.intp)
    remap[order] = np.arange(len(order))
    return palette[order], remap[labels]


# --- nearest centres ----------------------------------------------------------


def _tree(centers: np.ndarray):
    # pykdtree over SciPy's cKDTree: 2 to 4 times faster queries on these
    # sizes and a tenth of the import time (README).  The command line sets
    # OMP_WAIT_POLICY=PASSIVE (see kmcodec._process) so that its OpenMP
    # threads sleep between the many small queries.
    from pykdtree.kdtree import KDTree

    return KDTree(np.ascontiguousarray(centers, dtype=np.float64))


def _nearest(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each row of ``x``."""
    if len(centers) == 1:
        return np.zeros(len(x), dtype=np.intp)
    return _tree(centers).query(np.ascontiguousarray(x), k=1)[1].astype(np.intp)


def _two_nearest(x: np.ndarray, centers: np.ndarray, tree=None):
    """Nearest centre and the distances (not squared) to the nearest two."""
    if len(centers) == 1:
        d = np.sqrt(((x - centers[0]) ** 2).sum(1))
        return np.zeros(len(x), dtype=np.intp), d, np.full(len(x), np.inf)
    dist, idx = (tree or _tree(centers)).query(np.ascontiguousarray(x), k=2)
    return idx[:, 0].astype(np.intp), dist[:, 0], dist[:, 1]


# --- our engine ---------------------------------------------------------------


def _coarsen(x: np.ndarray, w: np.ndarray, shift: int, dense: float):
    """Merge colours into grid cells: weighted mean colour and total weight.

    Cells have side ``2**shift``, except that a cell heavier than ``dense``
    is replaced by its eight half-size cells: fine where many pixels are,
    where k-means wants several centres close together (a dark sky at
    K=256 lost 2% of MSE to scikit-learn on uniform cells, and gains 0.8%
    on these).  For any centre c, a cell's colours cost ``W*|mean - c|**2``
    plus a constant, so k-means on the cells optimises the true objective,
    except that a cell cannot be split between clusters.
    """
    q = x.astype(np.intp) >> (shift - 1)
    side = 256 >> (shift - 1)
    fine = (q[:, 0] * side + q[:, 1]) * side + q[:, 2]
    q >>= 1
    half = side >> 1
    coarse = (q[:, 0] * half + q[:, 1]) * half + q[:, 2]
    weight = np.bincount(coarse, weights=w, minlength=half**3)
    cell = np.where(weight[coarse] > dense, fine + half**3, coarse)
    size = half**3 + side**3
    total = np.bincount(cell, weights=w, minlength=size)
    occupied = np.flatnonzero(total)
    sums = np.stack(
        [np.bincount(cell, weights=w * x[:, c], minlength=size)[occupied] for c in range(3)], 1
    )
    return sums / total[occupied, None], total[occupied]


def _kmeans(x, w, k, seed, n_init, max_iter, tol):
    rng = np.random.default_rng(seed)
    mean = np.average(x, axis=0, weights=w)
    variance = np.average((x - mean) ** 2, axis=0, weights=w)
    tol_abs = float(np.mean(variance)) * tol
    if len(x) >= _COARSE_MIN_COLORS:
        xc, wc = _coarsen(x, w, _COARSE_SHIFT, w.sum() / (_DENSE_FACTOR * k))
        if len(xc) > 4 * k:
            centers, iterations = _kmeans_on(xc, wc, k, rng, n_init, max_iter, tol_abs)
            polish = min(max_iter, _POLISH_ITER)
            centers, _, _, more = _lloyd(x, w, centers, polish, tol_abs)
            return centers, iterations + more
    return _kmeans_on(x, w, k, rng, n_init, max_iter, tol_abs)


def _kmeans_on(x, w, k, rng, n_init, max_iter, tol_abs):
    """Seed, Lloyd and swap refinement on one set of weighted points."""
    plusplus = k * len(x) * (2 + math.log(k)) <= _PLUSPLUS_BUDGET
    best = None
    for _ in range(n_init if plusplus else 1):  # median cut is deterministic
        centers = _kmeans_plusplus(x, w, k, rng) if plusplus else _median_cut(x, w, k)
        centers, inertia, _, iterations = _lloyd(x, w, centers, max_iter, tol_abs)
        extra = 0
        if plusplus:
            # With K in the thousands every swap round costs passes over K
            # centres for gains too small to see; median cut seeds well there.
            centers, inertia, extra = _swap_refine(x, w, centers, inertia, rng, tol_abs)
        if best is None or inertia < best[1]:
            best = (centers, inertia, iterations + extra)
    assert best is not None  # n_init >= 1
    return best[0], best[2]


def _kmeans_plusplus(x, w, k, rng):
    """Greedy k-means++ (Arthur & Vassilvitskii 2007), weighted as scikit-learn's."""
    n = len(x)
    trials = 2 + int(math.log(k))
    # Distances by |x|^2 - 2 x.c + |c|^2: one small matrix product per step.
    xf = np.ascontiguousarray(x, dtype=np.float32)
    xt = np.ascontiguousarray(xf.T)
    norms = np.einsum("ij,ij->i", xf, xf)
    centers = np.empty((k, 3), dtype=np.float64)
    first = min(int(np.searchsorted(np.cumsum(w), rng.uniform() * w.sum())), n - 1)
    centers[0] = x[first]
    closest = np.maximum(norms - 2 * (xf[first] @ xt) + norms[first], 0)
    wf = w.astype(np.float32)
    for c in range(1, k):
        cumulative = np.cumsum(w * closest)
        targets = rng.uniform(size=trials) * cumulative[-1]
        cand = np.minimum(np.searchsorted(cumulative, targets), n - 1)
        d = norms[cand][:, None] - 2 * (xf[cand] @ xt)
        d += norms
        np.maximum(d, 0, out=d)
        np.minimum(d, closest, out=d)
        pick = int(np.argmin(d @ wf))
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
        mean = (pts * wts[:, None]).sum(0) / wts.sum()
        err = float((wts * ((pts - mean) ** 2).sum(1)).sum())
        return (-err, int(idx[0]), idx, mean)

    heap = [box(np.arange(len(x)))]
    done: list = []
    while heap and len(heap) + len(done) < k:
        neg_err, _, idx, mean = heapq.heappop(heap)
        if neg_err == 0 or len(idx) < 2:
            done.append(mean)
            continue
        pts = x[idx]
        axis = int(np.argmax(pts.max(0) - pts.min(0)))
        order = idx[np.argsort(pts[:, axis], kind="stable")]
        cum = np.cumsum(w[order])
        cut = min(max(int(np.searchsorted(cum, cum[-1] / 2)), 1), len(order) - 1)
        heapq.heappush(heap, box(order[:cut]))
        heapq.heappush(heap, box(order[cut:]))
    return np.array(done + [item[3] for item in heap], dtype=np.float64)


def _lloyd(x, w, centers, max_iter, tol_abs, state=None):
    """Lloyd's algorithm with Hamerly's bounds (SIAM SDM 2010).

    ``upper[i]`` bounds the distance from colour i to its centre and
    ``lower[i]`` the distance to every other centre.  When centres move,
    upper bounds grow by their centre's move and lower bounds shrink by the
    largest move; a colour whose upper bound stays below max(lower bound,
    half the distance from its centre to the nearest other centre) cannot
    change cluster and is not looked at.  Cluster sums are updated only for
    the colours that changed.  The result is exactly Lloyd's, with
    scikit-learn's stopping rule: no label changed, or the summed squared
    movement of the centres is at most ``tol_abs``.

    Parameters
    ----------
    x : ndarray (n, 3), float64
    w : ndarray (n,), float64, integer-valued weights
    centers : ndarray (k, 3), float64
    max_iter : int
    tol_abs : float
    state : (labels, upper, lower), optional
        Valid bounds for ``centers`` (modified in place); by default they
        are computed exactly.

    Returns
    -------
    centers, inertia, state, iterations
    """
    k = len(centers)
    centers = centers.copy()
    if state is None:
        labels, upper, lower = _two_nearest(x, centers)
    else:
        labels, upper, lower = state
        _bounded_assign(x, centers, labels, upper, lower, _tree(centers))
    weight = np.bincount(labels, weights=w, minlength=k)
    wx = x * w[:, None]
    sums = np.stack([np.bincount(labels, weights=wx[:, c], minlength=k) for c in range(3)], 1)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        new = centers.copy()
        full = weight > 0
        new[full] = sums[full] / weight[full, None]
        empty = np.flatnonzero(~full)
        if empty.size:
            # Move each empty centre onto one of the colours that currently
            # cost the most, as scikit-learn does.
            worst = np.argsort(-(w * upper * upper), kind="stable")[: empty.size]
            new[empty] = x[worst]
        move = np.sqrt(((new - centers) ** 2).sum(1))
        centers = new
        _shift_bounds(x, centers, move, labels, upper, lower)
        changed = _bounded_assign(x, centers, labels, upper, lower, _tree(centers))
        if changed is not None:
            idx, old = changed
            new_labels = labels[idx]
            weight += np.bincount(new_labels, weights=w[idx], minlength=k)
            weight -= np.bincount(old, weights=w[idx], minlength=k)
            for c in range(3):
                sums[:, c] += np.bincount(new_labels, weights=wx[idx, c], minlength=k)
                sums[:, c] -= np.bincount(old, weights=wx[idx, c], minlength=k)
        if (changed is None or float((move * move).sum()) <= tol_abs) and not empty.size:
            break
    diff = x - centers[labels]
    inertia = float(w @ np.einsum("ij,ij->i", diff, diff))
    return centers, inertia, (labels, upper, lower), iterations


def _shift_bounds(x, centers, move, labels, upper, lower):
    """Loosen the bounds after the centres moved by ``move``."""
    k = len(centers)
    upper += move[labels]
    order = np.argsort(move, kind="stable")
    if k <= _EXACT_MOVERS + 1 or move[order[-1]] <= 2 * move[order[-_EXACT_MOVERS - 1]]:
        lower -= move[order[-1]]
        return
    # A few centres moved much more than the rest (a re-seeded one, say):
    # their move would ruin every lower bound, so measure them exactly.
    lower -= move[order[-_EXACT_MOVERS - 1]]
    for j in order[-_EXACT_MOVERS:]:
        diff = x - centers[j]
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        mine = labels == j
        upper[mine] = dist[mine]
        dist[mine] = np.inf
        np.minimum(lower, dist, out=lower)


def _gap(centers, tree):
    """Distance from each centre to its nearest other centre."""
    k = len(centers)
    if k == 1:
        return np.full(1, np.inf)
    if k <= 1024:  # a dense k x k matrix is cheaper than k tree queries
        sq = np.einsum("ij,ij->i", centers, centers)
        d = (sq[:, None] + sq) - 2 * (centers @ centers.T)
        np.fill_diagonal(d, np.inf)
        # Less a margin for the rounding of |a|^2 + |b|^2 - 2ab, so that the
        # bound never exceeds the true gap.
        return np.sqrt(np.maximum(d.min(1) - 1e-9 * (1 + 4 * sq.max()), 0))
    return tree.query(centers, k=2)[0][:, 1]


def _bounded_assign(x, centers, labels, upper, lower, tree):
    """Hamerly's assignment step, in place.

    Returns the indices whose label changed and their old labels, or None.
    """
    half_gap = 0.5 * _gap(centers, tree)
    bound = np.maximum(lower, half_gap[labels])
    cand = np.flatnonzero(upper > bound)
    if cand.size:
        diff = x[cand] - centers[labels[cand]]
        upper[cand] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        cand = cand[upper[cand] > bound[cand]]
    if not cand.size:
        return None
    new_labels, upper[cand], lower[cand] = _two_nearest(x[cand], centers, tree)
    moved = new_labels != labels[cand]
    if not moved.any():
        return None
    idx = cand[moved]
    old = labels[idx]
    labels[idx] = new_labels[moved]
    return idx, old


def _swap_refine(x, w, centers, inertia, rng, tol_abs):
    """Escape Lloyd's local optimum by moving centres where they are needed.

    Lloyd never moves a centre far, so k-means++ leaves some regions with too
    many centres and others with too few.  Each round takes the ``m``
    centres whose removal costs least (the colours they serve have a close
    second choice) and re-seeds them inside the ``m`` clusters of largest
    error, k-means++ style; Lloyd then settles, and the move is kept only if
    the error fell (cf. Ismkhan, "I-k-means-+", Pattern Recognition 79,
    2018, which moves one centre at a time).  Moving several at once saves
    rounds when K is large; a rejected round halves ``m``, and once ``m`` is
    1, ``_SWAP_PATIENCE`` rejected rounds in a row (each trying the next
    cheapest centre) end the search; ``_SWAP_PATIENCE_LARGE`` for large K,
    where each round costs most and the gains left are smallest.
    """
    k = len(centers)
    extra = 0
    failures = 0
    if k < 2:
        return centers, inertia, 0
    batch = min(max(1, k // _SWAP_BATCH_DIVISOR), _SWAP_BATCH_MAX)
    exact = None
    patience = _SWAP_PATIENCE if k < _LARGE_K else _SWAP_PATIENCE_LARGE
    while failures < patience:
        if exact is None:
            labels, d1, d2 = _two_nearest(x, centers)
            error = np.bincount(labels, weights=w * d1 * d1, minlength=k)
            removal = np.bincount(labels, weights=w * (d2 * d2 - d1 * d1), minlength=k)
            targets = np.argsort(-error, kind="stable")
            removal[targets[:batch]] = np.inf
            victims = np.argsort(removal, kind="stable")
            exact = labels, d1, d2
        labels, d1, d2 = exact
        m = min(batch, k // 2)
        chosen = victims[failures : failures + m] if m == 1 else victims[:m]
        trial = centers.copy()
        upper, lower = d1.copy(), d2.copy()
        for victim, target in zip(chosen, targets[:m]):
            members = np.flatnonzero(labels == target)
            mass = np.cumsum(w[members] * d1[members] ** 2)
            pick = members[min(int(np.searchsorted(mass, rng.uniform() * mass[-1])), len(members) - 1)]
            trial[victim] = x[pick]
            # Bounds stay exact except around the moved centre.
            diff = x - trial[victim]
            to_new = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            mine = labels == victim
            upper[mine] = np.inf
            np.minimum(lower, np.where(mine, np.inf, to_new), out=lower)
        trial, trial_inertia, _, iterations = _lloyd(
            x, w, trial, _SWAP_ITER, tol_abs, (labels.copy(), upper, lower)
        )
        extra += iterations
        if trial_inertia < inertia * (1 - 1e-9):
            centers, inertia, exact, failures = trial, trial_inertia, None, 0
        elif batch > 1:
            batch //= 2
            exact = None  # re-rank with the smaller batch
        else:
            failures += 1
    return centers, inertia, extra


# --- scikit-learn -------------------------------------------------------------


def _sklearn_kmeans(x, w, k, seed, n_init, max_iter, tol):
    from sklearn.cluster import KMeans

    model = KMeans(
        n_clusters=k, n_init=n_init, random_state=seed, max_iter=max_iter, tol=tol
    )
    model.fit(x, sample_weight=w)
    return model.cluster_centers_, int(model.n_iter_)


# --- watching k-means: the plain algorithm, step by step -------------------------


def seeds(colors: np.ndarray, counts: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Greedy k-means++ seeding of ``k`` centres on a colour histogram.

    Parameters
    ----------
    colors : ndarray of shape (C, 3)
        Distinct colours (:func:`color_histogram`).
    counts : ndarray of shape (C,)
        Pixels of each colour, the weights.
    k : int
        Centres wanted; all colours when there are no more than ``k``.
    seed : int, default 0

    Returns
    -------
    ndarray of shape (min(k, C), 3), float64
    """
    x, w = np.asarray(colors, np.float64), np.asarray(counts, np.float64)
    if len(x) <= k:
        return x.copy()
    return _kmeans_plusplus(x, w, k, np.random.default_rng(seed))


def lloyd_steps(colors: np.ndarray, counts: np.ndarray, centers: np.ndarray,
                max_steps: int = 300) -> Iterator[np.ndarray]:
    """Plain Lloyd iterations from ``centers``: yields the centres after each.

    Stops when the centres stop moving or after ``max_steps``.  Each step
    is exactly the textbook one (assign every colour to its nearest centre,
    move each centre to its colours' weighted mean), so a plot can show
    k-means converge.
    """
    x, w = np.asarray(colors, np.float64), np.asarray(counts, np.float64)
    current = np.asarray(centers, np.float64)
    for _ in range(max_steps):
        moved = _lloyd(x, w, current, 1, 0.0)[0]
        if np.allclose(moved, current):
            return
        current = moved
        yield current


def nearest(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``centers`` (M, 3) for each of ``points`` (N, 3)."""
    return _nearest(np.asarray(points, np.float64), np.asarray(centers, np.float64))
