"""Compiled inner loops of coder 1 (see :mod:`kmcodec.entropy`, spec section 11).

One function codes a stripe in either direction: the model is written once
and asks :func:`_code_bit` to encode the bit it knows or decode the bit it
does not, so encoder and decoder cannot drift apart.  Every quantity is an
integer; ``>>`` on a negative number rounds towards minus infinity, as in
the spec.

It has two entry points, :func:`decode_stripes` and :func:`encode_stripes`,
that call it with the direction a constant, which Numba types as a literal:
each compiles its own copy with one direction's code only, so a process
that only decodes compiles (once, into the cache) and loads only the
decoder, a third of the code of both.  The decoder allocates no memory:
the caller passes every table (:func:`workspace`), and only the encoder's
copy grows its output (:func:`_room`).  Numba's allocation and sorting
routines would make each load of the cached code import their modules
(``numba.np.arrayobj``, ``numba.cpython.unicode``: about 35 ms of a small
decode).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .jitcache import private_cache

M32 = 0xFFFFFFFF
HASH_BITS = 18
# Context table sizes (spec section 11.4).
N_FIRST = 256                 # question 1: pat
N_SET = 256 * 8               # question 2: pat, m
N_WHICH = 4 * 256 * 8         # question 2b: i, pat, m
N_EXP = 8 * 8 * 17            # literal exponent: act, nc, bit
N_MAN = 17 * 17 * 4           # literal mantissa: e, bit, prefix
OFF_SET = N_FIRST
OFF_WHICH = OFF_SET + N_SET
OFF_EXP = OFF_WHICH + N_WHICH
OFF_MAN = OFF_EXP + N_EXP
N_COUNTERS = OFF_MAN + N_MAN
#: A fresh counter: p = 32768, n = 0.
FRESH = 32768 << 8
# After a stripe of at most SMALL_STRIPE pixels, the next stripe's fresh
# model is made by resetting only the counters the stripe can have updated,
# found again from its pixels (see _refresh): O(pixels) rather than 1 MiB,
# which keeps a file of many tiny stripes cheap.  After a larger stripe the
# tables are refilled, at most a few stores per pixel coded.  Either way the
# coding loop itself does no bookkeeping.
SMALL_STRIPE = 4096

# squash(d) at d = -2048, -1920, ..., 2048 (spec section 11.3), in 1/4096.
_SQUASH_KNOTS = np.array(
    [1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994,
     3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094], np.int64)


@njit(inline="always")
def _tables(knots, squash, stretch, rate):
    """Fill squash (index d + 2048, d in [-2048, 2047]), stretch (its
    inverse, index p12) and rate (index n): spec section 11.3."""
    for i in range(4096):
        d = i - 2048
        w = d & 127
        j = (d >> 7) + 16
        squash[i] = (knots[j] * (128 - w) + knots[j + 1] * w + 64) >> 7
    pi = 0
    for d in range(-2047, 2048):
        v = squash[d + 2048]
        for p in range(pi, v + 1):
            stretch[p] = d
        pi = max(pi, v + 1)
    for p in range(pi, 4096):
        stretch[p] = 2047
    for n in range(256):
        rate[n] = 655360 // (10 * n + 16)


@njit(inline="always")
def _code_bit(dec, x1, x2, xv, pos, inbuf, out, p, bit):
    """Binary arithmetic coder step; ``p`` is P(bit = 1) in 1/65536."""
    r = x2 - x1
    xmid = x1 + (r >> 16) * p + (((r & 0xFFFF) * p) >> 16)
    if dec:
        bit = np.int64(xv <= xmid)
    x2 = xmid if bit else x2
    x1 = x1 if bit else xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        if dec:
            b = np.int64(inbuf[pos]) if pos < inbuf.shape[0] else np.int64(0)
            xv = ((xv << 8) & M32) | b
        else:
            out[pos] = x2 >> 24
        pos += 1
        x1 = (x1 << 8) & M32
        x2 = ((x2 << 8) & M32) | 255
    return x1, x2, xv, pos, bit


@njit(inline="always")
def _update(T, c, bit, rate):
    t = T[c]
    p = np.int64(t >> 8)
    n = np.int64(t & 255)
    T[c] = ((p + ((((bit << 16) - p) * rate[n]) >> 16)) << 8) | (n + (n < 255))


@njit(inline="always")
def _plain(dec, x1, x2, xv, pos, inbuf, out, T, c, bit, rate):
    p = np.int64(T[c] >> 8)
    x1, x2, xv, pos, bit = _code_bit(dec, x1, x2, xv, pos, inbuf, out, min(max(p, 32), 65504), bit)
    _update(T, c, bit, rate)
    return x1, x2, xv, pos, bit


@njit(inline="always")
def _mixed(dec, x1, x2, xv, pos, inbuf, out, T, c, Hs, h, Wt, ws, bit, squash, stretch, rate):
    s1 = stretch[T[c] >> 12]
    s2 = stretch[Hs[h] >> 12]
    w0 = Wt[ws, 0]
    w1 = Wt[ws, 1]
    w2 = Wt[ws, 2]
    dot = (w0 * s1 + w1 * s2 + w2 * 256) >> 16
    dot = min(max(dot, -2047), 2047)
    p = min(max(squash[dot + 2048] * 16 + 8, 32), 65504)
    x1, x2, xv, pos, bit = _code_bit(dec, x1, x2, xv, pos, inbuf, out, p, bit)
    _update(T, c, bit, rate)
    _update(Hs, h, bit, rate)
    err = ((bit << 16) - p) >> 4
    Wt[ws, 0] = w0 + ((s1 * err) >> 10)
    Wt[ws, 1] = w1 + ((s2 * err) >> 10)
    Wt[ws, 2] = w2 + ((256 * err) >> 10)
    return x1, x2, xv, pos, bit


@njit
def cell_bits(K, C):
    """Bits per channel of the prediction grid over C channels (3, or 4
    with alpha): 5, fewer when K is large."""
    g = 5
    while g > 1 and (1 << (C * g)) * K > (1 << 23):
        g -= 1
    return g


@njit(inline="always")
def _hash(a, b, c):
    h = (a * 0x9E3779B1 + b + 1) & M32
    h = (h * 0x85EBCA77 + c + 1) & M32
    h = (h * 0xC2B2AE3D) & M32
    return h >> (32 - HASH_BITS)


@njit(inline="always")
def _pattern(L, U, UL, UR, LL, UU):
    return (np.int64(L == U) | (np.int64(L == UL) << 1) | (np.int64(L == UR) << 2)
            | (np.int64(U == UL) << 3) | (np.int64(U == UR) << 4) | (np.int64(UL == UR) << 5)
            | (np.int64(L == LL) << 6) | (np.int64(U == UU) << 7))


@njit(inline="always")
def _refresh(T, Hs, img, y0, R):
    """Make fresh again every counter that coding rows ``y0 .. y0+R-1`` can update.

    A superset recomputed from the stripe's pixels, so that the coding loop
    needs no log: per pixel, the direct counters of questions 1, 2 and 2b
    for its pattern (2 and 2b for every m, 2b for every i), the hashed
    counters ``hash(a, L, U)`` for a = 0 (question 1) and a = m in 1..5
    (question 2); and all the literal counters.  Resetting a counter that
    was not used is harmless, as it is fresh already.
    """
    W = img.shape[1]
    T[OFF_EXP:] = FRESH
    absent = np.int64(-1)
    for y in range(R):
        for x in range(W):
            L = np.int64(img[y0 + y, x - 1]) if x >= 1 else absent
            LL = np.int64(img[y0 + y, x - 2]) if x >= 2 else absent
            U = UL = UR = UU = absent
            if y >= 1:
                U = np.int64(img[y0 + y - 1, x])
                if x >= 1:
                    UL = np.int64(img[y0 + y - 1, x - 1])
                if x + 1 < W:
                    UR = np.int64(img[y0 + y - 1, x + 1])
                if y >= 2:
                    UU = np.int64(img[y0 + y - 2, x])
            pat = _pattern(L, U, UL, UR, LL, UU)
            T[pat] = FRESH
            for j in range(8):
                T[OFF_SET + pat * 8 + j] = FRESH
                for i in range(4):
                    T[OFF_WHICH + (i * 256 + pat) * 8 + j] = FRESH
            for a in range(6):
                Hs[_hash(a, L, U)] = FRESH


@njit
def _sort(a, spare, n):
    """Sort ``a[:n]``, using ``spare`` (as long); return the one holding the result.

    A merge sort of runs of 16 sorted by insertion: the palette orders
    sort K distinct keys once per grid cell used, thousands of times in a
    large image, and this is as fast as ``np.argsort`` there without its
    allocations.
    """
    run = 16
    for lo in range(0, n, run):
        hi = min(lo + run, n)
        for i in range(lo + 1, hi):
            v = a[i]
            j = i - 1
            while j >= lo and a[j] > v:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = v
    src = a
    dst = spare
    width = run
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if src[i] <= src[j]:
                    dst[k] = src[i]
                    i += 1
                else:
                    dst[k] = src[j]
                    j += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        width *= 2
    return src


@njit(inline="always")
def _cell_row(cell, slot, order, rank, pal, keys, spare, centre, g, sh):
    """The row of ``order`` and ``rank`` that holds ``cell``'s order (the
    palette by squared distance to the cell's centre, ties by index; spec
    11.6), made the first time the cell is used."""
    row_of = slot[cell]
    if row_of < 0:
        K, nch = pal.shape
        row_of = slot[slot.shape[0] - 1]
        slot[slot.shape[0] - 1] = row_of + 1
        slot[cell] = row_of
        half = (1 << sh) >> 1
        for ch in range(nch):
            centre[ch] = (((cell >> (g * (nch - 1 - ch))) & ((1 << g) - 1)) << sh) + half
        for i in range(K):
            d2 = np.int64(0)
            for ch in range(nch):
                dc = pal[i, ch] - centre[ch]
                d2 += dc * dc
            keys[i] = d2 * 65536 + i
        # The keys are distinct; their low 16 bits are the entries
        # (K <= 65536), in the order np.argsort gives.
        ranked = _sort(keys, spare, K)
        for r in range(K):
            o = ranked[r] & 0xFFFF
            order[row_of, r] = o
            rank[row_of, o] = r
    return row_of


@njit
def _grown(out, size):
    """The encoder's output buffer copied into a larger one of ``size`` bytes."""
    grown = np.empty(size, np.uint8)
    grown[: out.shape[0]] = out
    return grown


def _room(dec, out, size):
    """``out``, or when encoding a copy of it with room for ``size`` bytes.

    For compiled code only (see :func:`_room_for`).
    """
    raise NotImplementedError("compiled code only")


@overload(_room, prefer_literal=True)
def _room_for(dec, out, size):
    # The decoder's copy of _code_stripes, compiled for the literal True,
    # gets the code that returns ``out``: it never refers to _grown.
    if isinstance(dec, types.BooleanLiteral) and dec.literal_value:
        return lambda dec, out, size: out
    return lambda dec, out, size: out if dec else _grown(out, size)


def workspace(colors: int, width: int, channels: int = 3) -> tuple:
    """The tables and scratch arrays of one thread's coding (see _code_stripes).

    Allocated here, in Python, so that the compiled code allocates nothing
    (see the module's docstring); their contents on entry do not matter.
    The row window is 24 bytes a column.
    """
    return (np.empty(4096, np.int64), np.empty(4096, np.int64), np.empty(256, np.int64),
            np.empty(N_COUNTERS, np.int32), np.empty(1 << HASH_BITS, np.int32), np.empty((8, 3), np.int64),
            np.empty(colors, np.int64), np.empty(colors, np.int64), np.empty(colors, np.uint8),
            np.empty((3, 6), np.int64), np.empty((3, width + 3), np.int64), np.empty(4, np.int64))


@njit(inline="always")
def _end_row(dec, bad, status, s, y, x, img, row, W):
    """After row ``y`` of stripe ``s``: on a decoding error (``bad``, which
    stopped at column ``x - 2`` of ``row``) its status, and True; otherwise
    the decoded row copied into ``img``."""
    if bad:
        status[0] = bad
        status[1] = s
        status[2] = y
        status[3] = x - 2
        return True
    if dec:
        for i in range(W):
            img[y, i] = row[i + 2]
    return False


@njit(inline="always")
def _end_stripe(dec, x1, pos, inbuf, out, status, s, s0, bounds):
    """After stripe ``s``: the decoder checks that it read the whole stream
    (status 3 and True if not); the encoder flushes the 4 bytes of ``x1``
    and records where the stripe ends.  Returns ``(out, pos, failed)``."""
    if dec and pos != inbuf.shape[0]:
        # The encoder's stream is exactly what the decoder reads: 4 bytes
        # and one per renormalisation.  Anything else was not written by
        # an encoder (spec section 11.3).
        status[0] = 3
        status[1] = s
        status[2] = pos
        status[3] = inbuf.shape[0]
        return out, pos, True
    if not dec:
        if pos + 4 > out.shape[0]:
            out = _room(dec, out, 2 * out.shape[0] + 4)
        for i in range(4):
            out[pos] = (x1 >> (24 - 8 * i)) & 255
            pos += 1
        bounds[s - s0] = pos
    return out, pos, False


@njit
def _code_stripes(dec, img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work):
    """Code the stripes ``s0 .. s1 - 1`` of an image, in either direction.

    One call serves a thread's whole run of stripes: the model's tables are
    allocated once and made fresh between stripes at a cost proportional to
    the last stripe (see SMALL_STRIPE), so the work is linear in pixels and
    stripes, however the image is cut.

    Parameters
    ----------
    dec : bool
        True to decode into ``img``, False to encode ``img``: a constant in
        each entry point, so that each compiles one direction only.
    img : (H, W) uint8 or uint16 ndarray
        The indices, all below K when encoding.  Decoding writes only the
        rows of the stripes coded, so threads may share it.
    rows : int
        ``stripe_rows``: stripe s holds rows ``s*rows`` up to
        ``min((s+1)*rows, H) - 1``.
    s0, s1 : int
        The stripes to code.
    pal : (K, C) int64 ndarray
        The palette: C = 3 channels, or 4 with alpha.
    data : read-only uint8 ndarray
        Decoding: the payload, stream s being ``data[bounds[s]:bounds[s+1]]``.
        Not read when encoding.
    bounds : int64 ndarray
        Decoding: the S + 1 stream offsets into ``data``.  Encoding: receives,
        at ``s - s0``, the end of stripe s's stream in ``out``.
    out : uint8 ndarray
        Encoding: the buffer for the streams, written from 0 and replaced by
        a larger copy when full.  Not used when decoding.
    status : (4,) int64 ndarray
        Zero on entry; a decoding error sets it to (code, stripe, y, x),
        code 1 for a rank beyond the entries left, 2 for a literal with no
        entry left, and stops the call.
    order, rank : (C, K) uint16 ndarray
    slot : (2**(C*g) + 1,) int32 ndarray
        The palette orders by cell (spec section 11.6): ``slot[cell]`` is
        the row of a cell's order, or -1 before its first use; ``slot[-1]``
        counts the rows used.  They depend only on the palette, so they are
        kept across stripes and calls; min(2**(C*g), pixels coded) rows
        suffice.
    work : tuple of ndarray
        The model's tables and scratch space, from :func:`workspace`.

    Returns
    -------
    out : uint8 ndarray
        The (possibly grown) buffer.
    pos : int
        Encoding: the bytes written to ``out``.
    """
    H, W = img.shape
    K = pal.shape[0]
    # win: rows y-2, y-1 and y, each with two absent (-1) columns on the
    # left and one on the right, so that every neighbour is a plain load.
    squash, stretch, rate, T, Hs, Wt, keys, spare, seen, small, win, centre = work
    _tables(_SQUASH_KNOTS, squash, stretch, rate)
    T[:] = FRESH
    Hs[:] = FRESH
    seen[:] = 0
    vals = small[0]
    rest = small[1]
    crank = small[2]
    nch = pal.shape[1]
    g = cell_bits(K, nch)
    sh = 8 - g
    pos = np.int64(0)
    bad = 0
    for s in range(s0, s1):
        y0 = s * rows
        R = min(rows, H - y0)
        if s > s0:
            py0 = y0 - rows
            if rows * W <= SMALL_STRIPE:
                _refresh(T, Hs, img, py0, rows)
            else:
                T[:] = FRESH
                Hs[:] = FRESH
        for i in range(8):
            Wt[i, 0] = 40000
            Wt[i, 1] = 30000
            Wt[i, 2] = 0
        win[:, :] = -1
        x1 = np.int64(0)
        x2 = np.int64(M32)
        xv = np.int64(0)
        if dec:
            inbuf = data[bounds[s] : bounds[s + 1]]
            for i in range(4):
                xv = (xv << 8) | (np.int64(inbuf[i]) if i < inbuf.shape[0] else 0)
            pos = 4
        else:
            inbuf = data[:0]
        for y in range(R):
            if not dec and pos + 64 * W + 64 > out.shape[0]:
                out = _room(dec, out, 2 * out.shape[0] + 64 * W + 64)
            row = win[y % 3]
            up = win[(y + 2) % 3]
            uu = win[(y + 1) % 3]
            if not dec:
                for x in range(W):
                    row[x + 2] = img[y0 + y, x]
            for x in range(2, W + 2):
                L = row[x - 1]
                U = up[x]
                UL = up[x - 1]
                UR = up[x + 1]
                LL = row[x - 2]
                UU = uu[x]
                pat = _pattern(L, U, UL, UR, LL, UU)
                X = np.int64(-1) if dec else row[x]
                # Question 1: same as the left neighbour?
                if L >= 0:
                    x1, x2, xv, pos, b = _mixed(dec, x1, x2, xv, pos, inbuf, out, T, pat, Hs,
                                                _hash(0, L, U), Wt, pat & 3, np.int64(X == L),
                                                squash, stretch, rate)
                    if b:
                        row[x] = L
                        continue
                # Question 2: one of the other neighbours?
                vals[0] = L
                vals[1] = U
                vals[2] = UR
                vals[3] = UL
                vals[4] = LL
                vals[5] = UU
                m = 0
                for j in range(1, 6):
                    v = vals[j]
                    if v < 0 or v == L:
                        continue
                    dup = False
                    for i in range(1, j):
                        if vals[i] == v:
                            dup = True
                    if not dup:
                        rest[m] = v
                        m += 1
                if m > 0:
                    inset = np.int64(0)
                    if not dec:
                        for i in range(m):
                            if rest[i] == X:
                                inset = np.int64(1)
                    x1, x2, xv, pos, inset = _mixed(dec, x1, x2, xv, pos, inbuf, out, T,
                                                    OFF_SET + pat * 8 + m, Hs, _hash(m, L, U), Wt,
                                                    4 + (pat & 3), inset, squash, stretch, rate)
                    if inset:
                        hit = rest[m - 1]
                        for i in range(m - 1):
                            c = OFF_WHICH + (i * 256 + pat) * 8 + m
                            x1, x2, xv, pos, b = _plain(dec, x1, x2, xv, pos, inbuf, out, T, c,
                                                        np.int64(rest[i] == X), rate)
                            if b:
                                hit = rest[i]
                                break
                        row[x] = hit
                        continue
                # Question 3: a literal, coded as a rank.
                nc = 0
                if L >= 0:
                    rest[m] = L
                    m += 1
                # Prediction from the palette colours of L, U and UL, and
                # its cell: the channels' top g bits, R first.
                act = np.int64(0)
                cell = np.int64(0)
                for ch in range(nch):
                    if L >= 0 and U >= 0 and UL >= 0:
                        pc = pal[L, ch] + pal[U, ch] - pal[UL, ch]
                        act += abs(pal[L, ch] - pal[UL, ch]) + abs(pal[U, ch] - pal[UL, ch])
                    elif L >= 0:
                        pc = pal[L, ch]
                    elif U >= 0:
                        pc = pal[U, ch]
                    else:
                        pc = np.int64(128)
                    cell = (cell << g) | (min(max(pc, 0), 255) >> sh)
                aq = 0
                while aq < 7 and act >= (4 << aq):
                    aq += 1
                row_of = _cell_row(cell, slot, order, rank, pal, keys, spare, centre, g, sh)
                # The excluded entries: every neighbour value (none is X).
                for i in range(m):
                    v = rest[i]
                    if seen[v] == 0:
                        seen[v] = 1
                        crank[nc] = rank[row_of, v]
                        nc += 1
                for i in range(m):
                    seen[rest[i]] = 0
                for i in range(1, nc):  # insertion sort of at most 6 ranks
                    v = crank[i]
                    j = i - 1
                    while j >= 0 and crank[j] > v:
                        crank[j + 1] = crank[j]
                        j -= 1
                    crank[j + 1] = v
                left = K - nc
                if left <= 0:
                    bad = 2
                    break
                emax = 0
                while (left >> (emax + 1)) > 0:
                    emax += 1
                v = np.int64(0)
                e = 0
                if not dec:
                    r0 = np.int64(rank[row_of, X])
                    rx = r0
                    for i in range(nc):
                        if crank[i] < r0:
                            rx -= 1
                    v = rx + 1
                    while (v >> (e + 1)) > 0:
                        e += 1
                ncx = min(nc, 7)
                ee = 0
                while ee < emax:
                    c = OFF_EXP + (aq * 8 + ncx) * 17 + ee
                    x1, x2, xv, pos, b = _plain(dec, x1, x2, xv, pos, inbuf, out, T, c,
                                                np.int64(ee < e), rate)
                    if b == 0:
                        break
                    ee += 1
                e = ee
                v2 = np.int64(1)
                for i in range(e - 1, -1, -1):
                    c = OFF_MAN + (e * 17 + i) * 4 + (min(v2, 3) if e - 1 - i < 2 else 0)
                    x1, x2, xv, pos, b = _plain(dec, x1, x2, xv, pos, inbuf, out, T, c,
                                                (v >> i) & 1, rate)
                    v2 = (v2 << 1) | b
                if dec:
                    t = v2 - 1
                    if t >= left:
                        bad = 1
                        break
                    for i in range(nc):
                        if crank[i] <= t:
                            t += 1
                    row[x] = order[row_of, t]
            if _end_row(dec, bad, status, s, y0 + y, x, img, row, W):
                return out, pos
        out, pos, failed = _end_stripe(dec, x1, pos, inbuf, out, status, s, s0, bounds)
        if failed:
            return out, pos
    return out, pos


@njit(nogil=True)
def decode_stripes(img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work):
    """Decode stripes ``s0 .. s1 - 1`` into ``img``: :func:`_code_stripes` decoding.

    ``out`` is not written (any uint8 array will do).
    """
    _code_stripes(True, img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work)


@njit(nogil=True)
def encode_stripes(img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work):
    """Encode stripes ``s0 .. s1 - 1`` of ``img``: :func:`_code_stripes` encoding.

    Returns the (possibly grown) ``out`` and the bytes written to it.
    """
    return _code_stripes(False, img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work)


# Cached only in a folder private to this user (Numba's cache files are
# pickles): see kmcodec.jitcache.  The functions they call are compiled
# into them.
private_cache(decode_stripes, "the entropy decoder")
private_cache(encode_stripes, "the entropy encoder")
