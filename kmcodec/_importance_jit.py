"""Compiled loop of the smooth-area weighting (see :mod:`kmcodec.importance`)."""

from __future__ import annotations

import math

from numba import njit

from .jitcache import private_cache


@njit(nogil=True)
def add_weights(ranks, first, last, points, weight, lo, hi, unit, total):
    """Add the importance of the pixels of rows ``first .. last - 1`` of
    ``ranks`` to their colours' ``total``.

    Parameters
    ----------
    ranks : (h, W) integer array
        Rows of the image as indices into ``points``, with the rows just
        above and below the counted ones where the image has them.
    first, last : int
        The counted rows of ``ranks``.
    points : (n, D) float64
        Each distinct colour as a point of the clustering space.
    weight, lo, hi : float
        ``smooth_weight`` and :data:`kmcodec.importance.SMOOTH`.
    unit : int
        A pixel's plain weight; each pixel adds
        ``floor(unit * (1 + weight * s) + 0.5)``, s its smoothness.
    total : (n,) float64
        Receives the sums (whole numbers, so exact in any order).
    """
    h, W = ranks.shape
    D = points.shape[1]
    for y in range(first, last):
        for x in range(W):
            p = ranks[y, x]
            far = 0.0
            for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)):
                yy = y + dy
                xx = x + dx
                if 0 <= yy < h and 0 <= xx < W:
                    q = ranks[yy, xx]
                    if q != p:
                        s = 0.0
                        for c in range(D):
                            v = points[p, c] - points[q, c]
                            s += v * v
                        far = max(far, s)
            d = math.sqrt(far)
            smooth = min(max((hi - d) / (hi - lo), 0.0), 1.0)
            total[p] += math.floor(unit * (1.0 + weight * smooth) + 0.5)


private_cache(add_weights, "the smooth-area weighting", seconds="1 to 3 s")
