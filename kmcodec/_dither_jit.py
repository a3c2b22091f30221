"""Compiled error diffusion (see :mod:`kmcodec.dither`)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .jitcache import private_cache


@njit(inline="always")
def _d(t, pal, j):
    s = 0.0
    for c in range(t.shape[0]):
        v = t[c] - pal[j, c]
        s += v * v
    return math.sqrt(s)


@njit(inline="always")
def _nearest(t, pal, a, order, dist, allowed):
    """The allowed entry nearest to point ``t``, searched outward from entry ``a``.

    ``order[a]`` lists the other entries by their distance ``dist[a]`` to
    ``a``; an entry farther from ``a`` than ``|t - a| + best`` cannot be
    nearer, which ends the walk.  If the list ends first (a partial table),
    every entry is looked at.  Ties go to the lower index.
    """
    k = pal.shape[0]
    m = order.shape[1]
    u = _d(t, pal, a)
    best = a if allowed[a] else -1
    bd = u if allowed[a] else np.inf
    i = 0
    while i < m:
        if dist[a, i] - u > bd:
            return best
        j = order[a, i]
        if allowed[j]:
            d = _d(t, pal, j)
            if d < bd or (d == bd and j < best):
                best, bd = j, d
        i += 1
    if m < k - 1 or best < 0:
        for j in range(k):
            if allowed[j]:
                d = _d(t, pal, j)
                if d < bd or (d == bd and j < best):
                    best, bd = j, d
    return best


@njit(nogil=True)
def floyd_steinberg(points, pal, guess, kind, allowed, order, dist, level, limit, lo, hi, out):
    """Floyd-Steinberg error diffusion with serpentine scanning, in place.

    Parameters
    ----------
    points : (H, W, C) float64
        The pixels in the clustering space.
    pal : (K, C) float64
        The palette in that space.
    guess : (H, W) int64
        Each pixel's undithered entry: where its search starts, and its
        answer when its kind (below) takes no error.
    kind : (H, W) int8
        -1: the pixel keeps ``guess`` and neither takes nor gives error
        (fully transparent pixels); otherwise the row of ``allowed`` that
        says which entries it may take.
    allowed : (kinds, K) bool
    order, dist : (K, m) int64 and float64
        Each entry's nearest other entries, by distance.
    level : float
        The share of each pixel's error that is passed on (0 to 1).
    limit : float
        Bound on each channel of the error a pixel receives, so that error
        cannot build up where the palette cannot follow (saturated areas).
    lo, hi : (C,) float64
        The palette's range in each channel: a pixel plus its error is
        clipped to it.
    out : (H, W) int64
        Receives the entries.
    """
    H, W, C = points.shape
    err = np.zeros((2, W + 2, C))
    t = np.empty(C)
    for y in range(H):
        cur = err[y & 1]
        nxt = err[(y + 1) & 1]
        nxt[:, :] = 0.0
        step = 1 if (y & 1) == 0 else -1
        for n in range(W):
            x = n if step == 1 else W - 1 - n
            kd = kind[y, x]
            if kd < 0:
                out[y, x] = guess[y, x]
                continue
            for c in range(C):
                e = min(max(cur[x + 1, c], -limit), limit)
                t[c] = min(max(points[y, x, c] + e, lo[c]), hi[c])
            j = _nearest(t, pal, guess[y, x], order, dist, allowed[kd])
            out[y, x] = j
            for c in range(C):
                e = (t[c] - pal[j, c]) * level
                cur[x + 1 + step, c] += e * (7.0 / 16.0)
                nxt[x + 1 - step, c] += e * (3.0 / 16.0)
                nxt[x + 1, c] += e * (5.0 / 16.0)
                nxt[x + 1 + step, c] += e * (1.0 / 16.0)


private_cache(floyd_steinberg, "error diffusion")
