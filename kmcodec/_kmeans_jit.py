"""Compiled loops of kmcodec's k-means engine (see :mod:`kmcodec.clustering`).

Every loop over points is cut into :func:`pieces` contiguous pieces that
depend on the number of points only.  A piece's sums are its own and are
added in piece order afterwards, so the result is the same bits whichever
thread ran which piece, and on any number of cores.

Nearest centres are searched outward from a guess ``a`` (the point's
current centre, or its cell's): the other centres are listed by distance
from ``a`` (:func:`neighbours`), and since ``|x - c| >= |a - c| - |x - a|``
the search stops at the first centre listed farther from ``a`` than the
point's distance to ``a`` plus its second-nearest distance so far.  A
point near its centre looks at a handful of the K centres.

The loops that share arrays between pieces write disjoint parts of them
only; Numba's ``workqueue`` threading layer must not be entered by two
threads at once, so the caller holds :data:`kmcodec.clustering` 's lock.
"""

from __future__ import annotations

import math

import numpy as np
from numba import get_num_threads, njit, prange

from .jitcache import private_cache

__all__ = ["neighbours", "renew", "assign", "hamerly", "cluster_sums", "inertia", "plusplus", "reseat",
           "coarsen", "count_colors", "label_pixels"]

#: Most pieces a loop is cut into; a piece has at least 2**PIECE_SHIFT points.
MAX_PIECES = 64
PIECE_SHIFT = 12
#: Floating-point slack of the search's stopping rule, in colour units:
#: far below any distance that matters, far above rounding.
_SLACK = 1e-6


@njit(inline="always")
def _sq(x, i, c, j):
    d0 = x[i, 0] - c[j, 0]
    d1 = x[i, 1] - c[j, 1]
    d2 = x[i, 2] - c[j, 2]
    s = d0 * d0 + d1 * d1 + d2 * d2
    for ch in range(3, x.shape[1]):  # alpha's fourth channel; none for RGB
        d = x[i, ch] - c[j, ch]
        s += d * d
    return s


@njit(inline="always")
def _span(n, p, piece):
    return n * piece // p, n * (piece + 1) // p


@njit(inline="always")
def pieces(n):
    """How many pieces a loop over ``n`` points is cut into."""
    return min(MAX_PIECES, max(1, n >> PIECE_SHIFT))


@njit(parallel=True, nogil=True)
def neighbours(centers, m):
    """For each centre, the ``m`` nearest other centres and their distances.

    Returns order (K, m) int64 and dist (K, m) float64, nearest first.
    """
    k = centers.shape[0]
    order = np.empty((k, m), np.int64)
    dist = np.empty((k, m), np.float64)
    for a in prange(k):
        row = np.empty(k, np.float64)
        for j in range(k):
            row[j] = math.sqrt(_sq(centers, a, centers, j))
        row[a] = np.inf
        idx = np.argsort(row, kind="mergesort")
        for t in range(m):
            order[a, t] = idx[t]
            dist[a, t] = row[idx[t]]
    return order, dist


@njit(parallel=True, nogil=True)
def renew(centers, order, dist):
    """:func:`neighbours` again after the centres moved, from the old order.

    Each row lists every other centre; it is measured again and re-sorted
    by insertion, which is quick because a small move barely changes it.
    """
    k, m = order.shape
    for a in prange(k):
        for t in range(m):
            dist[a, t] = math.sqrt(_sq(centers, a, centers, order[a, t]))
        for t in range(1, m):
            d = dist[a, t]
            j = order[a, t]
            u = t - 1
            while u >= 0 and dist[a, u] > d:
                dist[a, u + 1] = dist[a, u]
                order[a, u + 1] = order[a, u]
                u -= 1
            dist[a, u + 1] = d
            order[a, u + 1] = j


@njit(inline="always")
def _two(x, i, centers, a, order, dist):
    """Nearest centre to point i, and the distances to the nearest two.

    Ties go to the lower index, as ``argmin`` does.
    """
    k = centers.shape[0]
    m = order.shape[1]
    u = math.sqrt(_sq(x, i, centers, a))
    n1, b1, b2 = a, u, np.inf
    t = 0
    while t < m:
        if dist[a, t] - u > b2 + _SLACK:
            return n1, b1, b2
        j = order[a, t]
        d = math.sqrt(_sq(x, i, centers, j))
        if d < b1 or (d == b1 and j < n1):
            n1, b1, b2 = j, d, b1
        elif d < b2:
            b2 = d
        t += 1
    if m < k - 1 and not (m > 0 and dist[a, m - 1] - u > b2 + _SLACK):
        # The list ran out before proving the answer: look at every centre.
        for j in range(k):
            if j == n1:
                continue
            d = math.sqrt(_sq(x, i, centers, j))
            if d < b1 or (d == b1 and j < n1):
                n1, b1, b2 = j, d, b1
            elif d < b2:
                b2 = d
    return n1, b1, b2


@njit(parallel=True, nogil=True)
def assign(x, centers, guess, order, dist, labels, upper, lower):
    """Exact nearest centre (into ``labels``) and distances to the nearest two."""
    n = x.shape[0]
    p = pieces(n)
    for piece in prange(p):
        s, e = _span(n, p, piece)
        for i in range(s, e):
            n1, b1, b2 = _two(x, i, centers, guess[i], order, dist)
            labels[i] = n1
            upper[i] = b1
            lower[i] = b2


@njit(parallel=True, nogil=True)
def hamerly(x, centers, move, drop, movers, labels, upper, lower, order, dist, points):
    """One assignment step of Hamerly's algorithm, in place.

    ``upper`` grows by the move of the point's centre, ``lower`` shrinks by
    ``drop`` (the largest move of any centre not in ``movers``) and is
    measured exactly against the ``movers``.  A point whose upper bound
    stays below max(lower bound, half the distance from its centre to the
    nearest other) keeps its centre; the others are searched.

    Only the ``points`` (indices) are looked at.  Returns the number of
    points that changed centre.
    """
    n = points.shape[0]
    p = pieces(n)
    changed = np.zeros(p, np.int64)
    has_gap = dist.shape[1] > 0
    for piece in prange(p):
        s, e = _span(n, p, piece)
        count = 0
        for r in range(s, e):
            i = points[r]
            a = labels[i]
            u = upper[i] + move[a]
            low = lower[i] - drop
            for q in range(movers.shape[0]):
                j = movers[q]
                if j == a:
                    u = math.sqrt(_sq(x, i, centers, a))
                else:
                    low = min(low, math.sqrt(_sq(x, i, centers, j)))
            bound = max(low, 0.5 * dist[a, 0]) if has_gap else np.inf
            # A tie is searched, so that it goes to the lower index as in argmin.
            if u >= bound:
                u = math.sqrt(_sq(x, i, centers, a))
                if u >= bound:
                    n1, u, low = _two(x, i, centers, a, order, dist)
                    if n1 != a:
                        labels[i] = n1
                        count += 1
            upper[i] = u
            lower[i] = low
        changed[piece] = count
    return changed.sum()


@njit(parallel=True, nogil=True)
def cluster_sums(x, w, labels, k, points):
    """Weight and weighted colour sums of each cluster over the ``points``
    (indices): (K, 1 + D) float64 for D channels."""
    n = points.shape[0]
    d = x.shape[1]
    # Fewer pieces when K is large: each piece's sums take K x (1 + D) numbers.
    p = min(pieces(n), max(1, n // (4 * k)))
    part = np.zeros((p, k, d + 1), np.float64)
    for piece in prange(p):
        s, e = _span(n, p, piece)
        for r in range(s, e):
            i = points[r]
            a = labels[i]
            wi = w[i]
            part[piece, a, 0] += wi
            for ch in range(d):
                part[piece, a, ch + 1] += wi * x[i, ch]
    out = np.zeros((k, d + 1), np.float64)
    for piece in range(p):
        out += part[piece]
    return out


@njit(parallel=True, nogil=True)
def inertia(x, w, centers, labels):
    """Sum of weighted squared distances to the assigned centres."""
    n = x.shape[0]
    p = pieces(n)
    part = np.zeros(p, np.float64)
    for piece in prange(p):
        s, e = _span(n, p, piece)
        acc = 0.0
        for i in range(s, e):
            acc += w[i] * _sq(x, i, centers, labels[i])
        part[piece] = acc
    total = 0.0
    for piece in range(p):
        total += part[piece]
    return total


# --- k-means++ ------------------------------------------------------------------


@njit(parallel=True, nogil=True)
def plusplus(x, w, first, draws):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007), weighted.

    The first centre is the point at which the running sum of ``w`` first
    reaches the fraction ``first`` (uniform in [0, 1)) of the total.  Each
    next centre is the best, by the potential it would leave, of candidates
    drawn with probability ``w * closest`` (``closest``: squared distance
    to the nearest centre so far) by one row of ``draws`` (K - 1, trials),
    each row ascending.

    Returns the centres (K, D) and each point's nearest one (n,).
    """
    n = x.shape[0]
    k = draws.shape[0] + 1
    t = draws.shape[1]
    p = pieces(n)
    centers = np.empty((k, x.shape[1]), np.float64)
    closest = np.ones(n, np.float64)
    nearest = np.zeros(n, np.int64)
    mass = np.empty(p, np.float64)  # each piece's sum of w * closest
    for piece in prange(p):
        s, e = _span(n, p, piece)
        acc = 0.0
        for i in range(s, e):
            acc += w[i]
        mass[piece] = acc
    apart = np.empty((t + 1, k), np.float64)  # row t: the least of each column
    part = np.zeros((p, t), np.float64)
    chosen = _draw(w, closest, mass, np.full(1, first), n, p)[0]
    closest[:] = np.inf
    for c in range(k):
        if c > 0:
            cand = _draw(w, closest, mass, draws[c - 1], n, p)
            for j in range(c):
                least = np.inf
                for q in range(t):
                    apart[q, j] = _sq(x, cand[q], centers, j)
                    least = min(least, apart[q, j])
                apart[t, j] = least
            for piece in prange(p):
                s, e = _span(n, p, piece)
                mine = np.zeros(t, np.float64)  # the piece's own: no cache line shared with another thread
                same = 0.0  # the potential of points no candidate can take
                for i in range(s, e):
                    ci = closest[i]
                    wi = w[i]
                    far = 4.0 * ci
                    j = nearest[i]
                    # A point whose nearest centre is at least twice as far
                    # from a candidate as from the point cannot come closer
                    # to that candidate (triangle inequality).
                    if apart[t, j] >= far:
                        same += wi * ci
                        continue
                    for q in range(t):
                        if apart[q, j] >= far:
                            mine[q] += wi * ci
                        else:
                            mine[q] += wi * min(_sq(x, i, x, cand[q]), ci)
                for q in range(t):
                    part[piece, q] = mine[q] + same
            best = np.inf
            for q in range(t):
                cost = 0.0
                for piece in range(p):
                    cost += part[piece, q]
                if cost < best:
                    best, chosen = cost, cand[q]
        centers[c] = x[chosen]
        for piece in prange(p):  # take centre c
            s, e = _span(n, p, piece)
            acc = 0.0
            for i in range(s, e):
                d = _sq(x, i, centers, c)
                if d < closest[i]:
                    closest[i] = d
                    nearest[i] = c
                acc += w[i] * closest[i]
            mass[piece] = acc
    return centers, nearest


@njit(inline="always")
def _draw(w, closest, mass, draws, n, p):
    """For each of ``draws`` (ascending, in [0, 1)): the first point at which
    the running sum of ``w * closest``, piece after piece, reaches that
    fraction of the total."""
    total = 0.0
    for piece in range(p):
        total += mass[piece]
    out = np.full(draws.shape[0], n - 1, np.int64)
    q = 0
    run = 0.0
    for piece in range(p):
        if q == draws.shape[0]:
            break
        if run + mass[piece] < draws[q] * total:
            run += mass[piece]  # no draw falls in this piece
            continue
        s, e = _span(n, p, piece)
        inner = 0.0
        for i in range(s, e):
            inner += w[i] * closest[i]
            while q < draws.shape[0] and run + inner >= draws[q] * total:
                out[q] = i
                q += 1
            if q == draws.shape[0]:
                break
        run += mass[piece]
    return out


# --- swap refinement --------------------------------------------------------------


@njit(parallel=True, nogil=True)
def reseat(x, centers, victims, labels, upper, lower):
    """Bounds after the ``victims`` centres jumped: their points know nothing
    (upper = inf), every other point measures its distance to them."""
    n = x.shape[0]
    p = pieces(n)
    for piece in prange(p):
        s, e = _span(n, p, piece)
        for i in range(s, e):
            a = labels[i]
            low = lower[i]
            for q in range(victims.shape[0]):
                j = victims[q]
                if j == a:
                    upper[i] = np.inf
                else:
                    low = min(low, math.sqrt(_sq(x, i, centers, j)))
            lower[i] = low


def threads() -> int:
    """Threads the loops run on."""
    return get_num_threads()


# --- the grid ---------------------------------------------------------------------


@njit(nogil=True)
def coarsen(rgb, x, w, shift, dense):
    """Merge points into grid cells of their integer colours ``rgb``; see
    ``clustering._coarsen``.

    Returns the cells' weighted mean points (C, D), their weights (C,),
    in order of cell number, and each point's cell (n,).  Sums run in the
    points' order, so that they are the same on every run (and exact for
    integer RGB points and weights).
    """
    n = x.shape[0]
    dim = x.shape[1]
    step = shift - 1
    side = 256 >> step
    half = side >> 1
    ncoarse = half * half * half
    heavy = np.zeros(ncoarse, np.float64)
    cell = np.empty(n, np.int64)
    for i in range(n):
        q0 = rgb[i, 0] >> step
        q1 = rgb[i, 1] >> step
        q2 = rgb[i, 2] >> step
        c = ((q0 >> 1) * half + (q1 >> 1)) * half + (q2 >> 1)
        cell[i] = c
        heavy[c] += w[i]
    position = np.full(ncoarse + side * side * side, -1, np.int32)
    for i in range(n):
        c = cell[i]
        if heavy[c] > dense:
            q0 = rgb[i, 0] >> step
            q1 = rgb[i, 1] >> step
            q2 = rgb[i, 2] >> step
            c = ncoarse + (q0 * side + q1) * side + q2
            cell[i] = c
        position[c] = 0
    count = 0
    for c in range(position.shape[0]):
        if position[c] == 0:
            position[c] = count
            count += 1
    sums = np.zeros((count, dim + 1), np.float64)
    for i in range(n):
        p = position[cell[i]]
        cell[i] = p
        sums[p, 0] += w[i]
        for ch in range(dim):
            sums[p, ch + 1] += w[i] * x[i, ch]
    means = np.empty((count, dim), np.float64)
    for p in range(count):
        for ch in range(dim):
            means[p, ch] = sums[p, ch + 1] / sums[p, 0]
    return means, sums[:, 0].copy(), cell


# --- histogram ---------------------------------------------------------------------


@njit(parallel=True, nogil=True)
def count_colors(pixels, table, p):
    """``table[key] += 1`` for each pixel's ``R | G<<8 | B<<16``.

    Each of the ``p`` pieces (one per thread: counts are integers, the same
    whatever the split) owns a range of keys and reads every pixel, so no
    two threads write the same counter.
    """
    n = pixels.shape[0]
    for piece in prange(p):
        for i in range(n):
            key = np.int64(pixels[i, 0]) | np.int64(pixels[i, 1]) << 8 | np.int64(pixels[i, 2]) << 16
            if (key * p) >> 24 == piece:
                table[key] += 1


@njit(parallel=True, nogil=True)
def label_pixels(pixels, rank, labels, out):
    """``out[i] = labels[rank[key of pixel i]]``."""
    n = pixels.shape[0]
    p = pieces(n)
    for piece in prange(p):
        s, e = _span(n, p, piece)
        for i in range(s, e):
            key = np.int64(pixels[i, 0]) | np.int64(pixels[i, 1]) << 8 | np.int64(pixels[i, 2]) << 16
            out[i] = labels[rank[key]]


for _name in __all__:
    private_cache(globals()[_name], "the k-means engine", "20 to 60 s")
