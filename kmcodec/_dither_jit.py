"""Compiled error diffusion (see :mod:`kmcodec.dither`)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .jitcache import private_cache


@njit(inline="always")
def _d2(t, pal, j):
    s = 0.0
    for c in range(t.shape[0]):
        v = t[c] - pal[j, c]
        s += v * v
    return s


@njit(inline="always")
def _nearest(t, pal, a, order, dist, allowed, kd):
    """The allowed entry nearest to point ``t``, searched outward from entry ``a``.

    ``order[a]`` lists the other entries by their distance ``dist[a]`` to
    ``a``; an entry farther from ``a`` than ``|t - a| + best`` cannot be
    nearer, which ends the walk.  If the list ends first (a partial table),
    every entry is looked at.  Ties go to the lower index.  Squared
    distances are compared: a square root only when the best changes.
    """
    k = pal.shape[0]
    m = order.shape[1]
    u2 = _d2(t, pal, a)
    u = math.sqrt(u2)
    best = a if allowed[kd, a] else -1
    bd2 = u2 if allowed[kd, a] else np.inf
    reach = 2.0 * u if allowed[kd, a] else np.inf
    i = 0
    while i < m:
        if dist[a, i] > reach:
            return best
        j = order[a, i]
        if allowed[kd, j]:
            d2 = _d2(t, pal, j)
            if d2 < bd2 or (d2 == bd2 and j < best):
                best, bd2 = j, d2
                reach = u + math.sqrt(d2)
        i += 1
    if m < k - 1 or best < 0:
        for j in range(k):
            if allowed[kd, j]:
                d2 = _d2(t, pal, j)
                if d2 < bd2 or (d2 == bd2 and j < best):
                    best, bd2 = j, d2
    return best


@njit(parallel=True, nogil=True)
def cells(pal, lo, hi, n, cap):
    """Candidate lists for a grid of n x n x n cells over the box ``lo .. hi``
    (three channels): for each cell, every entry that is the nearest (or
    tied for it) to some point of the cell.

    An entry is listed when its distance to the cell is at most the
    smallest, over entries, of the largest distance from the entry to the
    cell; that includes every entry that can be nearest.  Returns the
    lists (n**3, cap) int32, their lengths (-1 for a cell with more than
    ``cap``: searched otherwise) and the cells per unit of each channel.
    """
    k = pal.shape[0]
    scale = np.empty(3)
    for c in range(3):
        span = hi[c] - lo[c]
        scale[c] = n / span if span > 0 else 0.0
    table = np.empty((n * n * n, cap), np.int32)
    count = np.empty(n * n * n, np.int64)
    for cell in prange(n * n * n):
        near = np.empty(k)
        box = np.empty((3, 2))
        for c in range(3):
            i = (cell // (n * n)) if c == 0 else (cell // n) % n if c == 1 else cell % n
            # Widened by a sliver, for points that rounding puts in the cell.
            box[c, 0] = lo[c] + (i - 1e-6) / scale[c] if scale[c] > 0 else lo[c]
            box[c, 1] = lo[c] + (i + 1 + 1e-6) / scale[c] if scale[c] > 0 else hi[c]
        worst = np.inf
        for e in range(k):
            dn = 0.0
            df = 0.0
            for c in range(3):
                v = pal[e, c]
                a = box[c, 0]
                b = box[c, 1]
                g = a - v if v < a else v - b if v > b else 0.0
                dn += g * g
                f = max(abs(v - a), abs(v - b))
                df += f * f
            near[e] = dn
            worst = min(worst, df)
        m = 0
        for e in range(k):
            if near[e] <= worst:
                if m < cap:
                    table[cell, m] = e
                m += 1
        count[cell] = m if m <= cap else -1
    return table, count, scale


@njit(inline="always")
def _cell_of(t, lo, n, scale):
    cell = 0
    for c in range(3):
        q = int((t[c] - lo[c]) * scale[c])
        cell = cell * n + min(max(q, 0), n - 1)
    return cell


@njit(inline="always")
def _nearest_in_cell(t, pal, table, m, cell):
    """The nearest entry to ``t`` among the ``m`` candidates of its cell;
    ties go to the lower index, as :func:`_nearest`'s."""
    best = -1
    bd2 = np.inf
    for i in range(m):
        j = np.int64(table[cell, i])
        d2 = _d2(t, pal, j)
        if d2 < bd2 or (d2 == bd2 and j < best):
            best, bd2 = j, d2
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
                t[i] = np.cbrt(v) if v > 0 else 0.0
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


@njit(inline="always")
def _row_points(pixels, y, oklab, lut, m1, m2, row, seen, memo):
    """Every pixel of row ``y`` as a point of the clustering space, into ``row`` (W, C)."""
    for x in range(pixels.shape[1]):
        _point(pixels, y, x, oklab, lut, m1, m2, row[x], seen, memo)


@njit(inline="always")
def _activity(pts, y, x, H, W):
    """Largest distance, in the clustering space, from pixel (x, y) to its
    four neighbours (``pts`` holds rows y-1, y, y+1 at index row % 3)."""
    C = pts.shape[2]
    here = pts[y % 3, x]
    best = 0.0
    for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        yy = y + dy
        xx = x + dx
        if 0 <= yy < H and 0 <= xx < W:
            there = pts[yy % 3, xx]
            s = 0.0
            for c in range(C):
                v = here[c] - there[c]
                s += v * v
            best = max(best, s)
    return math.sqrt(best)


@njit(nogil=True)
def floyd_steinberg(pixels, oklab, lut, m1, m2, pal, guess, kind, allowed, order, dist, level, limit, lo, hi,
                    out, smooth, sharp, rate_base, rate_mask, y0, y1, pal8, grid, table, count, scale):
    """Floyd-Steinberg error diffusion with serpentine scanning, in place,
    on the band of rows ``y0 .. y1 - 1``.

    A band takes no error from the rows above it, and the rate-aware
    choice (below) looks at no pixel above it, so that bands can run at
    the same time; rows scan left to right when their number in the image
    is even.

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
    guess : (H, W) uint16
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
    out : (H, W) uint16
        Receives the entries.
    smooth, sharp : int
        With ``sharp > smooth``, the error a pixel passes on is scaled by
        how smooth the image is around it: fully where its largest
        difference to a neighbour (L1 over the channels, 8-bit units) is at
        most ``smooth``, not at all from ``sharp`` up, linearly between.
        ``sharp = 0`` passes it on everywhere.
    rate_base, rate_mask : float
        The rate-aware choice.  The neighbours already mapped (the previous
        pixel of the row in scan order, then the pixels above, above-left
        and above-right) hold entries the entropy coders code in few bits.
        Unless one of them holds the nearest entry, a pixel takes the
        nearest of their (allowed) entries when it is less than
        ``rate_base + rate_mask * a`` farther than the nearest entry, a
        being the pixel's :func:`_activity` (ties: the first in that
        order).  Zero for both: always the nearest.
    y0, y1 : int
        The band's rows.
    pal8 : (K, C) int64
        The palette's 8-bit values, for the return value.
    grid, table, count, scale
        :func:`cells`' lists for a grid of ``grid`` cells a side over the
        box ``lo .. hi``, used for pixels of kind 0 (clipped to that box,
        all entries allowed) in cells with a list; otherwise, and with
        ``grid = 0``, the walk of :func:`_nearest`.

    Returns
    -------
    int
        The band's squared error: the sum over its pixels and channels of
        (8-bit value - entry's 8-bit value) ** 2.
    """
    H, W, C = pixels.shape
    err = np.zeros((2, W + 2, C))  # rows y and y + 1, by parity
    t = np.empty(C)
    seen = np.full(1 << 14, -1, np.int64)
    memo = np.empty((1 << 14, 3))
    pts = np.empty((3, W, C))
    rated = rate_base > 0.0 or rate_mask > 0.0
    sq = np.int64(0)
    if y0 > 0:
        _row_points(pixels, y0 - 1, oklab, lut, m1, m2, pts[(y0 - 1) % 3], seen, memo)
    _row_points(pixels, y0, oklab, lut, m1, m2, pts[y0 % 3], seen, memo)
    for y in range(y0, y1):
        if y + 1 < H:
            _row_points(pixels, y + 1, oklab, lut, m1, m2, pts[(y + 1) % 3], seen, memo)
        here = pts[y % 3]
        cur = err[y & 1]
        nxt = err[(y + 1) & 1]
        nxt[:, :] = 0.0
        step = 1 if (y & 1) == 0 else -1
        for n in range(W):
            x = n if step == 1 else W - 1 - n
            kd = kind[y, x]
            if kd < 0:
                out[y, x] = guess[y, x]
                for c in range(C):
                    v = np.int64(pixels[y, x, c]) - pal8[guess[y, x], c]
                    sq += v * v
                continue
            for c in range(C):
                e = min(max(cur[x + 1, c], -limit), limit)
                # Translucent pixels (kind 1) are not clipped: low alphas lie
                # outside the palette's box, and clipping would bias their alpha.
                t[c] = min(max(here[x, c] + e, lo[c]), hi[c]) if kd == 0 else here[x, c] + e
            cell = _cell_of(t, lo, grid, scale) if grid > 0 and kd == 0 else 0
            if grid > 0 and kd == 0 and count[cell] >= 0:
                j = _nearest_in_cell(t, pal, table, count[cell], cell)
            else:
                # Start from the pixel's own entry or the previous pixel's,
                # whichever is nearer: the walk's reach is twice that distance.
                start = guess[y, x]
                xp = x - step
                if 0 <= xp < W and kind[y, xp] >= 0:
                    prev = out[y, xp]
                    if prev != start and _d2(t, pal, prev) < _d2(t, pal, start):
                        start = prev
                j = _nearest(t, pal, start, order, dist, allowed, kd)
            if rated:
                reach = math.sqrt(_d2(t, pal, j)) + rate_base + rate_mask * _activity(pts, y, x, H, W)
                best = reach * reach
                pick = j
                for w in range(4):
                    yy = y if w == 0 else y - 1
                    xx = x - step if w == 0 else x if w == 1 else x - 1 if w == 2 else x + 1
                    if yy < y0 or xx < 0 or xx >= W:
                        continue
                    cand = out[yy, xx]
                    if cand == j:
                        pick = j
                        break
                    if allowed[kd, cand]:
                        dc = _d2(t, pal, cand)
                        if dc < best:
                            best = dc
                            pick = cand
                j = pick
            out[y, x] = j
            for c in range(C):
                v = np.int64(pixels[y, x, c]) - pal8[j, c]
                sq += v * v
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

    return sq


private_cache(cells, "the dithering's cell lists", seconds="2 to 5 s")
private_cache(floyd_steinberg, "the dithering", seconds="2 to 5 s")
