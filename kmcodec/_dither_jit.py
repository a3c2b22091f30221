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
    cell; that includes every entry that can be nearest.  The lists are
    stored one after another (a few hundred kilobytes, so that they stay
    in the processor's cache: looking a pixel's cell up in a padded table
    of megabytes cost more than the search itself).

    Returns
    -------
    entries : (total,) uint16
        The lists, in cell order.
    start : (n**3 + 1,) int32
        Cell c's list is ``entries[start[c]:start[c + 1]]``; it is empty
        for a cell with more than ``cap`` candidates (searched otherwise).
    scale : (3,) float64
        Cells per unit of each channel.
    """
    k = pal.shape[0]
    scale = np.empty(3)
    for c in range(3):
        span = hi[c] - lo[c]
        scale[c] = n / span if span > 0 else 0.0
    table = np.empty((n * n * n, cap), np.uint16)
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
        count[cell] = m if m <= cap else 0
    start = np.empty(n * n * n + 1, np.int32)
    start[0] = 0
    for cell in range(n * n * n):
        start[cell + 1] = start[cell] + count[cell]
    entries = np.empty(start[n * n * n], np.uint16)
    for cell in prange(n * n * n):
        for i in range(count[cell]):
            entries[start[cell] + i] = table[cell, i]
    return entries, start, scale


@njit(inline="always")
def _cell_of(t, lo, n, scale):
    cell = 0
    for c in range(3):
        q = int((t[c] - lo[c]) * scale[c])
        cell = cell * n + min(max(q, 0), n - 1)
    return cell


@njit(inline="always")
def _nearest_in_cell(t, pal, entries, start, cell):
    """The nearest entry to ``t`` among the candidates of its cell
    (:func:`cells`); ties go to the lower index, as :func:`_nearest`'s."""
    best = -1
    bd2 = np.inf
    for i in range(start[cell], start[cell + 1]):
        j = np.int64(entries[i])
        d2 = _d2(t, pal, j)
        if d2 < bd2 or (d2 == bd2 and j < best):
            best, bd2 = j, d2
    return best


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


#: Added to a float64's bits divided by 3, the bits of a first guess at its
#: cube root within 4% (the exponent divided by 3, the mantissa roughly).
_CBRT_BITS = np.uint64(0x2A9F7893782DA1CE)


@njit(inline="always")
def _halley_cbrt(v, y):
    """One step of Halley's method for the cube root of ``v`` from ``y``:
    the relative error is about cubed (4% -> 1e-5 -> 1e-15)."""
    y3 = y * y * y
    return y * (y3 + 2.0 * v) / (2.0 * y3 + v)


@njit(inline="always")
def _row_points(pixels, y, oklab, lut, m1, m2, row):
    """Every pixel of row ``y`` as a point of the clustering space, into
    ``row`` (W, C): its colour (Oklab's L, a, b times 255 when ``oklab``,
    else R, G, B), times A/255 with alpha, then A (:mod:`kmcodec.colorspace`,
    :mod:`kmcodec.alpha`).

    The cube roots are most of Oklab's cost: they are taken on the whole
    row by a bit trick and two Halley steps (a relative error below 1e-14,
    about 1e-11 in units of 255 x Oklab; 3 to 4 times faster than the
    library's).  Elements are indexed one by one: a view of a
    pixel (``row[x]``) costs a reference count, several times the arithmetic.
    """
    W, C = pixels.shape[1], pixels.shape[2]
    if oklab:
        for x in range(W):
            r = lut[pixels[y, x, 0]]
            g = lut[pixels[y, x, 1]]
            b = lut[pixels[y, x, 2]]
            row[x, 0] = m1[0, 0] * r + m1[0, 1] * g + m1[0, 2] * b
            row[x, 1] = m1[1, 0] * r + m1[1, 1] * g + m1[1, 2] * b
            row[x, 2] = m1[2, 0] * r + m1[2, 1] * g + m1[2, 2] * b
        bits = row.view(np.uint64)
        for x in range(W):
            for i in range(3):
                v = row[x, i]
                bits[x, i] = bits[x, i] // np.uint64(3) + _CBRT_BITS
                if v > 0.0:
                    row[x, i] = _halley_cbrt(v, _halley_cbrt(v, row[x, i]))
                else:
                    row[x, i] = 0.0
        for x in range(W):
            l0, l1, l2 = row[x, 0], row[x, 1], row[x, 2]
            for i in range(3):
                row[x, i] = (m2[i, 0] * l0 + m2[i, 1] * l1 + m2[i, 2] * l2) * 255.0
    else:
        for x in range(W):
            for c in range(3):
                row[x, c] = float(pixels[y, x, c])
    if C == 4:
        for x in range(W):
            a = float(pixels[y, x, 3])
            for c in range(3):
                row[x, c] *= a / 255.0
            row[x, 3] = a


@njit(inline="always")
def _band_start(pixels, y0, oklab, lut, m1, m2, C):
    """A band's buffers: the error of rows y and y + 1 (by parity) and the
    points of rows y - 1, y and y + 1 (at row % 3), with those of the
    band's first row and the row above it filled in."""
    W = pixels.shape[1]
    err = np.zeros((2, W + 2, C))
    pts = np.empty((3, W, C))
    if y0 > 0:
        _row_points(pixels, y0 - 1, oklab, lut, m1, m2, pts[(y0 - 1) % 3])
    _row_points(pixels, y0, oklab, lut, m1, m2, pts[y0 % 3])
    return err, pts


@njit(inline="always")
def _next_row(pixels, y, oklab, lut, m1, m2, err, pts):
    """Start row ``y``: the points of row y + 1 filled in, row y + 1's error
    cleared.  Returns row y's points, its error, row y + 1's error and the
    scan direction (left to right on even rows)."""
    if y + 1 < pixels.shape[0]:
        _row_points(pixels, y + 1, oklab, lut, m1, m2, pts[(y + 1) % 3])
    nxt = err[(y + 1) & 1]
    nxt[:, :] = 0.0
    return pts[y % 3], err[y & 1], nxt, 1 if (y & 1) == 0 else -1


@njit(inline="always")
def _mapped_neighbour(w, y, x, step):
    """The rate-aware choice's w-th neighbour of (x, y), w = 0 to 3: the
    previous pixel in scan order, then above, above-left, above-right."""
    if w == 0:
        return y, x - step
    return y - 1, x if w == 1 else x - 1 if w == 2 else x + 1


@njit(inline="always")
def _rate_pick(t, pal, j, reach, out, y, x, y0, W, step, allowed, kd):
    """The rate-aware choice for point ``t`` whose nearest entry is ``j``:
    ``j`` if a mapped neighbour (:func:`_mapped_neighbour`, within the band
    from row ``y0``) holds it, else the nearest allowed entry a neighbour
    holds if it is nearer than ``reach``, else ``j``."""
    best = reach * reach
    pick = j
    for w in range(4):
        yy, xx = _mapped_neighbour(w, y, x, step)
        if yy < y0 or xx < 0 or xx >= W:
            continue
        cand = np.int64(out[yy, xx])
        if cand == j:
            return j
        if allowed[kd, cand]:
            dc = _d2(t, pal, cand)
            if dc < best:
                best = dc
                pick = cand
    return pick


@njit(inline="always")
def _activity(pts, y, x, H, W):
    """Largest distance, in the clustering space, from pixel (x, y) to its
    four neighbours (``pts`` holds rows y-1, y, y+1 at index row % 3)."""
    C = pts.shape[2]
    r = y % 3
    best = 0.0
    for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        yy = y + dy
        xx = x + dx
        if 0 <= yy < H and 0 <= xx < W:
            rr = yy % 3
            s = 0.0
            for c in range(C):
                v = pts[r, x, c] - pts[rr, xx, c]
                s += v * v
            best = max(best, s)
    return math.sqrt(best)


@njit(inline="always")
def _run_shares(guess, y, base, shares):
    """Scale ``shares`` (W,) by how long a run of one undithered entry
    (``guess``, (H, W)) each pixel of row ``y`` lies in: by 1 - base /
    (base + n), n being 10 for each pixel of its run and 15 for each pixel
    directly above or below one of them that has the run's entry
    (libimagequant's dither map)."""
    H, W = guess.shape
    x0 = 0
    while x0 < W:
        v = guess[y, x0]
        x1 = x0 + 1
        while x1 < W and guess[y, x1] == v:
            x1 += 1
        n = 10 * (x1 - x0)
        for x in range(x0, x1):
            if y > 0 and guess[y - 1, x] == v:
                n += 15
            if y + 1 < H and guess[y + 1, x] == v:
                n += 15
        f = 1.0 - base / (base + n)
        for x in range(x0, x1):
            shares[x] *= f
        x0 = x1


@njit(nogil=True)
def floyd_steinberg(pixels, oklab, lut, m1, m2, pal, guess, kind, allowed, order, dist, level, limit, lo, hi,
                    out, smooth, sharp, rate_base, rate_mask, rate_cap, runs, y0, y1, pal8, grid, entries, offsets,
                    scale):
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
    rate_base, rate_mask, rate_cap : float
        The rate-aware choice.  The neighbours already mapped (the previous
        pixel of the row in scan order, then the pixels above, above-left
        and above-right) hold entries the entropy coders code in few bits.
        Unless one of them holds the nearest entry, a pixel takes the
        nearest of their (allowed) entries when it is less than
        ``rate_base + min(rate_mask * a, rate_cap)`` farther than the
        nearest entry, a being the pixel's :func:`_activity` (ties: the
        first in that order).  ``rate_base`` and ``rate_mask`` zero:
        always the nearest.
    runs : float
        With ``runs > 0``, each pixel's share of its error is also scaled
        by :func:`_run_shares` (the dither map, ``runs`` its constant).
    y0, y1 : int
        The band's rows.
    pal8 : (K, C) int64
        The palette's 8-bit values, for the return value.
    grid, entries, offsets, scale
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
    err, pts = _band_start(pixels, y0, oklab, lut, m1, m2, C)
    t = np.empty(C)
    rated = rate_base > 0.0 or rate_mask > 0.0
    fac = np.ones(W)
    sq = np.int64(0)
    for y in range(y0, y1):
        here, cur, nxt, step = _next_row(pixels, y, oklab, lut, m1, m2, err, pts)
        if runs > 0.0:
            fac[:] = 1.0
            _run_shares(guess, y, runs, fac)
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
            if grid > 0 and kd == 0 and offsets[cell + 1] > offsets[cell]:
                j = _nearest_in_cell(t, pal, entries, offsets, cell)
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
                reach = math.sqrt(_d2(t, pal, j)) + rate_base + min(rate_mask * _activity(pts, y, x, H, W), rate_cap)
                j = _rate_pick(t, pal, j, reach, out, y, x, y0, W, step, allowed, kd)
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
            if runs > 0.0:
                share *= fac[x]
            for c in range(C):
                e = (t[c] - pal[j, c]) * share
                cur[x + 1 + step, c] += e * (7.0 / 16.0)
                nxt[x + 1 - step, c] += e * (3.0 / 16.0)
                nxt[x + 1, c] += e * (5.0 / 16.0)
                nxt[x + 1 + step, c] += e * (1.0 / 16.0)

    return sq


@njit(inline="always")
def _d2_3(t0, t1, t2, pal, j):
    """:func:`_d2` of the point (t0, t1, t2), in scalars."""
    v0 = t0 - pal[j, 0]
    v1 = t1 - pal[j, 1]
    v2 = t2 - pal[j, 2]
    return v0 * v0 + v1 * v1 + v2 * v2


@njit(nogil=True)
def floyd_steinberg3(pixels, oklab, lut, m1, m2, pal, guess, order, dist, level, limit, lo, hi, out, smooth, sharp,
                     rate_base, rate_mask, rate_cap, runs, y0, y1, pal8, grid, entries, offsets, scale):
    """:func:`floyd_steinberg` for opaque three-channel images with cell
    lists (``grid > 0``), the common case: the same entries and the same
    return value, a third faster.

    The pixel's error, its point and the search are kept in scalars, and
    the rate-aware allowance and selective contrast of a row are worked
    out before the row is scanned: each pixel's entry depends on the
    previous pixel's error, so only work on that chain counts.  The
    arguments are :func:`floyd_steinberg`'s without ``kind`` and
    ``allowed`` (every pixel is of kind 0, every entry allowed).
    """
    H, W = pixels.shape[:2]
    err, pts = _band_start(pixels, y0, oklab, lut, m1, m2, 3)
    t = np.empty(3)
    allowed = np.ones((1, pal.shape[0]), np.bool_)
    allowance = np.zeros(W)
    shares = np.full(W, level)
    rated = rate_base > 0.0 or rate_mask > 0.0
    lo0, lo1, lo2 = lo[0], lo[1], lo[2]
    hi0, hi1, hi2 = hi[0], hi[1], hi[2]
    s0, s1, s2 = scale[0], scale[1], scale[2]
    top = grid - 1
    sq = np.int64(0)
    for y in range(y0, y1):
        here, cur, nxt, step = _next_row(pixels, y, oklab, lut, m1, m2, err, pts)
        for x in range(W):
            if rated:
                allowance[x] = min(rate_mask * _activity(pts, y, x, H, W), rate_cap)
            if sharp > 0:
                cx = _contrast(pixels, y, x)
                shares[x] = 0.0 if cx >= sharp else level * (sharp - cx) / (sharp - smooth) if cx > smooth else level
            elif runs > 0.0:
                shares[x] = level
        if runs > 0.0:
            _run_shares(guess, y, runs, shares)
        for n in range(W):
            x = n if step == 1 else W - 1 - n
            t0 = min(max(here[x, 0] + min(max(cur[x + 1, 0], -limit), limit), lo0), hi0)
            t1 = min(max(here[x, 1] + min(max(cur[x + 1, 1], -limit), limit), lo1), hi1)
            t2 = min(max(here[x, 2] + min(max(cur[x + 1, 2], -limit), limit), lo2), hi2)
            # t >= lo, so the cell's coordinates are not negative.
            cell = (min(int((t0 - lo0) * s0), top) * grid + min(int((t1 - lo1) * s1), top)) * grid
            cell += min(int((t2 - lo2) * s2), top)
            a = offsets[cell]
            b = offsets[cell + 1]
            if b > a:
                # The list is in index order, so a strict "nearer" keeps
                # the lower index on ties.
                j = np.int64(entries[a])
                bd = _d2_3(t0, t1, t2, pal, j)
                for i in range(a + 1, b):
                    e = np.int64(entries[i])
                    d = _d2_3(t0, t1, t2, pal, e)
                    if d < bd:
                        bd = d
                        j = e
            else:
                t[0] = t0
                t[1] = t1
                t[2] = t2
                j = _nearest(t, pal, np.int64(guess[y, x]), order, dist, allowed, 0)
            if rated:
                t[0] = t0
                t[1] = t1
                t[2] = t2
                # Summed in floyd_steinberg's order, so that it rounds the same.
                reach = math.sqrt(_d2(t, pal, j)) + rate_base + allowance[x]
                j = _rate_pick(t, pal, j, reach, out, y, x, y0, W, step, allowed, 0)
            out[y, x] = j
            r0 = np.int64(pixels[y, x, 0]) - pal8[j, 0]
            r1 = np.int64(pixels[y, x, 1]) - pal8[j, 1]
            r2 = np.int64(pixels[y, x, 2]) - pal8[j, 2]
            sq += r0 * r0 + r1 * r1 + r2 * r2
            share = shares[x]
            e0 = (t0 - pal[j, 0]) * share
            e1 = (t1 - pal[j, 1]) * share
            e2 = (t2 - pal[j, 2]) * share
            xa = x + 1 + step
            xb = x + 1 - step
            cur[xa, 0] += e0 * (7.0 / 16.0)
            cur[xa, 1] += e1 * (7.0 / 16.0)
            cur[xa, 2] += e2 * (7.0 / 16.0)
            nxt[xb, 0] += e0 * (3.0 / 16.0)
            nxt[xb, 1] += e1 * (3.0 / 16.0)
            nxt[xb, 2] += e2 * (3.0 / 16.0)
            nxt[x + 1, 0] += e0 * (5.0 / 16.0)
            nxt[x + 1, 1] += e1 * (5.0 / 16.0)
            nxt[x + 1, 2] += e2 * (5.0 / 16.0)
            nxt[xa, 0] += e0 * (1.0 / 16.0)
            nxt[xa, 1] += e1 * (1.0 / 16.0)
            nxt[xa, 2] += e2 * (1.0 / 16.0)
    return sq


private_cache(cells, "the dithering's cell lists", seconds="2 to 5 s")
private_cache(floyd_steinberg, "the dithering", seconds="2 to 5 s")
private_cache(floyd_steinberg3, "the dithering", seconds="2 to 5 s")
