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


@njit(inline="always")
def _point(pixels, y, x, oklab, lut, m1, m2, t, seen, memo):
    """Pixel (x, y) as a point of the clustering space, into ``t``: its
    colour (Oklab's L, a, b times 255 when ``oklab``, else R, G, B), times
    A/255 with alpha, then A (:mod:`kmcodec.colorspace`, :mod:`kmcodec.alpha`).

    Oklab values are remembered in a small direct-mapped table (``seen``
    holds the colour of each slot, ``memo`` its L, a, b): photographs
    repeat colours, and the cube roots are most of the cost.
    """
    C = pixels.shape[2]
    if oklab:
        key = (np.int64(pixels[y, x, 0]) << 16) | (np.int64(pixels[y, x, 1]) << 8) | np.int64(pixels[y, x, 2])
        slot = ((key * 2654435761) >> 12) & (seen.shape[0] - 1)
        if seen[slot] == key:
            for i in range(3):
                t[i] = memo[slot, i]
        else:
            for i in range(3):
                v = 0.0
                for c in range(3):
                    v += m1[i, c] * lut[pixels[y, x, c]]
                t[i] = v ** (1.0 / 3.0) if v > 0 else 0.0
            l0, l1, l2 = t[0], t[1], t[2]
            for i in range(3):
                t[i] = (m2[i, 0] * l0 + m2[i, 1] * l1 + m2[i, 2] * l2) * 255.0
                memo[slot, i] = t[i]
            seen[slot] = key
    else:
        for c in range(3):
            t[c] = float(pixels[y, x, c])
    if C == 4:
        a = float(pixels[y, x, 3])
        for c in range(3):
            t[c] *= a / 255.0
        t[3] = a


@njit(inline="always")
def _contrast(pixels, y, x):
    """Largest L1 difference (over R, G, B and A) between pixel (x, y) and
    its four neighbours in the image."""
    H, W, C = pixels.shape
    best = 0
    for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        yy = y + dy
        xx = x + dx
        if 0 <= yy < H and 0 <= xx < W:
            d = 0
            for c in range(C):
                d += abs(np.int64(pixels[y, x, c]) - np.int64(pixels[yy, xx, c]))
            best = max(best, d)
    return best


@njit(nogil=True)
def floyd_steinberg(pixels, oklab, lut, m1, m2, pal, guess, kind, allowed, order, dist, level, limit, lo, hi,
                    out, smooth, sharp):
    """Floyd-Steinberg error diffusion with serpentine scanning, in place.

    Parameters
    ----------
    pixels : (H, W, C) uint8
        The image, C = 3 or 4 (straight alpha).
    oklab : bool
        Whether the clustering space is Oklab (else RGB).
    lut, m1, m2 : float64 arrays
        sRGB to linear (256) and Oklab's two matrices (3, 3), for ``oklab``.
    pal : (K, C) float64
        The palette in the clustering space.
    guess : (H, W) int32
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
        The palette's range in each channel: a pixel of kind 0 plus its
        error is clipped to it.
    out : (H, W) int32
        Receives the entries.
    smooth, sharp : int
        With ``sharp > smooth``, the error a pixel passes on is scaled by
        how smooth the image is around it: fully where its largest
        difference to a neighbour (L1 over the channels, 8-bit units) is at
        most ``smooth``, not at all from ``sharp`` up, linearly between.
        ``sharp = 0`` passes it on everywhere.
    """
    H, W, C = pixels.shape
    err = np.zeros((2, W + 2, C))
    t = np.empty(C)
    seen = np.full(1 << 14, -1, np.int64)
    memo = np.empty((1 << 14, 3))
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
            _point(pixels, y, x, oklab, lut, m1, m2, t, seen, memo)
            for c in range(C):
                e = min(max(cur[x + 1, c], -limit), limit)
                # Translucent pixels (kind 1) are not clipped: low alphas lie
                # outside the palette's box, and clipping would bias their alpha.
                t[c] = min(max(t[c] + e, lo[c]), hi[c]) if kd == 0 else t[c] + e
            j = _nearest(t, pal, guess[y, x], order, dist, allowed[kd])
            out[y, x] = j
            share = level
            if sharp > 0:
                cx = _contrast(pixels, y, x)
                if cx >= sharp:
                    share = 0.0
                elif cx > smooth:
                    share = level * (sharp - cx) / (sharp - smooth)
            for c in range(C):
                e = (t[c] - pal[j, c]) * share
                cur[x + 1 + step, c] += e * (7.0 / 16.0)
                nxt[x + 1 - step, c] += e * (3.0 / 16.0)
                nxt[x + 1, c] += e * (5.0 / 16.0)
                nxt[x + 1 + step, c] += e * (1.0 / 16.0)


private_cache(floyd_steinberg, "the dithering", seconds="2 to 5 s")
