"""Compiled inner loops of coder 2 (see :mod:`kmcodec.mix`).

Written like :mod:`kmcodec._entropy_jit`: one function codes a stripe in
either direction, the direction a literal constant in each entry point, so
that encoder and decoder share every line of the model.  Every quantity is
an integer.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._entropy_jit import (_SQUASH_KNOTS, _cell_row, _code_bit, _end_row, _end_stripe, _pattern, _room, _tables,
                           _update, cell_bits)
from .jitcache import private_cache

M32 = 0xFFFFFFFF
HASH_BITS = 18                # the hashed counters
ICT1_BITS = 17                # last index seen after (L, U, UL, UR, LL)
ICT2_BITS = 15                # last index seen after (L, U)
N_SUB = 13                    # sub-predictors of the weighted prediction
# The prediction's bias correction (spec 13.2): its contexts (sq, 8 sign
# bits), the count at which a context's sums are halved, and the count
# below which it is not used.
N_BIAS = 12 * 256
BIAS_HALVE = 128
BIAS_MIN = 16
# The candidate decisions' two adaptive probability maps (spec 13.1): by
# (position, error level, side of the prediction, whether L and U lie on
# opposite sides of the candidate), then by the entry (mod 1024); 33 knots each.
APM_ENTRY = 96 * 4
N_APM = APM_ENTRY + 1024
APM_RATE = 6
REFINE = 32                   # literal order: entries re-sorted around the exact prediction
N_HASHED = 9                  # hashed inputs of a candidate decision
N_IN = 1 + N_HASHED           # and its direct one
# A stripe of at most SMALL_STRIPE pixels logs every table entry it
# updates, and the next stripe's fresh model is made by resetting only
# those (at most LOG_PER_PIXEL a pixel), so that a file of many tiny
# stripes costs O(pixels), not O(stripes * tables).
SMALL_STRIPE = 4096
N_NEAR = 16                   # candidates from the prediction's cell order
N_CAND = 9 + N_NEAR           # candidates at most: the match, 8 sources, the cell's
MATCH_BITS = 18               # the match table: last position of a neighbourhood
MATCH_PIN = 8                 # a match that has held this long is asked first
# A candidate decision logs its direct, hashed and four weight-set entries
# and its two maps; a literal at most 16 exponent (3 counters, 1 set) and 16
# mantissa (2, 1) decisions; every pixel its two context-table slots, its
# match-table slot and its bias context.
LOG_PER_PIXEL = N_CAND * (N_IN + 6) + 16 * 4 + 16 * 3 + 4
# The encoder's room for one row: a decision's p is at least 32/65536, so
# it adds at most 11 bits and some rounding to the stream; 12 bits each.
ROOM_PER_PIXEL = (N_CAND + 2 * 16) * 12 // 8 + 1
# Direct counters of the candidate questions: (min(i, 7), src, pat, icf).
N_DIRECT = 8 * 16 * 256 * 4
# Literal counters.
OFF_EXP_A = 0                         # (aq, ncx, k): 8 * 9 * 17
OFF_EXP_S = OFF_EXP_A + 8 * 9 * 17     # (sq, ncx, k): 12 * 9 * 17
OFF_EXP_SA = OFF_EXP_S + 12 * 9 * 17   # (sq, aq, k): 12 * 8 * 17
OFF_MAN_A = OFF_EXP_SA + 12 * 8 * 17   # (e, k, c): 17 * 17 * 4
OFF_MAN_S = OFF_MAN_A + 17 * 17 * 4    # (sq, e, k, c): 12 * 17 * 17 * 4
N_LIT = OFF_MAN_S + 12 * 17 * 17 * 4
FRESH = 32768 << 8
W_INIT = 10000
W_MAX = 1 << 31  # weights are clamped to -W_MAX .. W_MAX (spec 13.1)
# Weight sets (spec 13.1): 512 for candidates by (i, src, icf), 17 for the
# exponent, 17 for the mantissa, 96 for candidates by (i, dq), 96 by (i, sq);
# then the 8 final sets of the candidates' second layer, by i.
WS_EXP = 512
WS_MAN = WS_EXP + 17
WS_DQ = WS_MAN + 17
WS_SQ = WS_DQ + 96
WS_FINAL = WS_SQ + 96
N_WS = WS_FINAL + 8
WF_INIT = 21845  # about 2^16 / 3: the final mix starts as the mean of the three


@njit(inline="always")
def _hash5(a, b, c, d, e):
    h = (a * 0x9E3779B1 + b + 1) & M32
    h = (h * 0x85EBCA77 + c + 1) & M32
    h = (h * 0xC2B2AE3D + d + 1) & M32
    h = (h * 0x27D4EB2F + e + 1) & M32
    return (h * 0x165667B1) & M32


@njit(inline="always")
def _mix(dec, x1, x2, xv, pos, inbuf, out, T, ix, n, Wt, ws, bit, squash, stretch, rate, st):
    """A decision mixed from the counters ``T[ix[0..n-1]]`` with weight set ``ws``."""
    dot = np.int64(0)
    for i in range(n):
        s = stretch[T[ix[i]] >> 12]
        st[i] = s
        dot += Wt[ws, i] * s
    dot += Wt[ws, n] * 256
    dot = min(max(dot >> 16, -2047), 2047)
    p = min(max(squash[dot + 2048] * 16 + 8, 32), 65504)
    x1, x2, xv, pos, bit = _code_bit(dec, x1, x2, xv, pos, inbuf, out, p, bit)
    for i in range(n):
        _update(T, ix[i], bit, rate)
    err = ((bit << 16) - p) >> 4
    for i in range(n):
        Wt[ws, i] = min(max(Wt[ws, i] + ((st[i] * err) >> 12), -W_MAX), W_MAX)
    Wt[ws, n] = min(max(Wt[ws, n] + ((256 * err) >> 12), -W_MAX), W_MAX)
    return x1, x2, xv, pos, bit


def workspace(colors: int, width: int, channels: int) -> tuple:
    """One thread's tables (their contents on entry do not matter: every call
    of the coder initialises what it reads)."""
    return (np.empty(4096, np.int64), np.empty(4096, np.int64), np.empty(256, np.int64),
            np.empty(1 << HASH_BITS, np.int32), np.empty(N_DIRECT, np.int32), np.empty(N_LIT, np.int32),
            np.empty((N_WS, N_IN + 1), np.int64),
            np.empty(1 << ICT1_BITS, np.int32), np.empty(1 << ICT2_BITS, np.int32),
            np.empty(colors, np.int64), np.empty(colors, np.int64),
            # 68 bytes a column: a forged width costs memory in proportion.
            np.empty((3, width + 3), np.int32),                 # indices: rows y-2, y-1, y
            np.empty((2, N_SUB, width + 3), np.int16),          # sub-predictor errors (<= 1020): rows y-1, y
            np.empty((2, width + 3), np.int16),                 # prediction errors (<= 1020): rows y-1, y
            np.empty(4096, np.int64),                           # weight of an error sum
            np.empty((N_SUB, 4), np.int64), np.empty(4, np.int64), np.empty(4, np.int64),
            np.empty((6, N_CAND), np.int64),
            np.empty(SMALL_STRIPE * LOG_PER_PIXEL + 16, np.int64),
            np.full(colors, -1, np.int64),                      # the pixel that last took an entry as candidate
            np.empty(colors, np.int64),                         # positions in the re-sorted literal order
            np.empty((N_BIAS, 6), np.int64),                    # bias: error sums (4), count, gain
            np.empty((2, 4), np.int64),                         # the prediction before and after correction
            np.empty((N_APM, 33), np.int64),
            np.empty(1 << MATCH_BITS, np.int64),                # the match table: positions in the stripe
            np.empty(colors, np.int64))                         # each entry's channel sum


@njit(inline="always")
def _log(lg, nlog, table, i):
    lg[nlog] = (table << 32) | i
    return nlog + 1


@njit(inline="always")
def _fresh_apm(apm, i, squash):
    """Map ``i`` fresh: each knot j at squash(128 j - 2048), the identity."""
    for j in range(33):
        apm[i, j] = squash[min(j * 128, 4095)] * 16


@njit(inline="always")
def _fresh(T, TD, TL, Wt, ict1, ict2, bias, apm, mt, squash, lg, nlog, logged):
    """Make every table fresh: all of it, or only the entries logged."""
    if not logged:
        T[:] = FRESH
        TD[:] = FRESH
        TL[:] = FRESH
        ict1[:] = -1
        ict2[:] = -1
        mt[:] = -1
        for i in range(N_WS):
            for j in range(N_IN + 1):
                Wt[i, j] = W_INIT if i < WS_FINAL else WF_INIT
        bias[:, :] = 0
        for i in range(N_APM):
            _fresh_apm(apm, i, squash)
        return
    # Each decision logs its two maps again: past N_APM entries, making
    # every map fresh once is cheaper than 33 knots an entry.
    maps = 0
    for k in range(nlog):
        maps += np.int64((lg[k] >> 32) == 7)
    whole = maps > N_APM
    if whole:
        for i in range(N_APM):
            _fresh_apm(apm, i, squash)
    for k in range(nlog):
        table = lg[k] >> 32
        i = lg[k] & M32
        if table == 0:
            T[i] = FRESH
        elif table == 1:
            TD[i] = FRESH
        elif table == 2:
            TL[i] = FRESH
        elif table == 3:
            ict1[i] = -1
        elif table == 4:
            ict2[i] = -1
        elif table == 6:
            bias[i, :] = 0
        elif table == 8:
            mt[i] = -1
        elif table == 7:
            if not whole:
                _fresh_apm(apm, i, squash)
        else:
            for j in range(N_IN + 1):
                Wt[i, j] = W_INIT if i < WS_FINAL else WF_INIT


@njit
def _code_stripes(dec, img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work):
    """Code stripes ``s0 .. s1 - 1`` in either direction (see
    :func:`kmcodec._entropy_jit._code_stripes` for the arguments)."""
    H, W = img.shape
    K = pal.shape[0]
    nch = pal.shape[1]
    (squash, stretch, rate, T, TD, TL, Wt, ict1, ict2, keys, spare, win, se, er, rw, sub, wp, centre, small, lg,
     taken, place, bias, wpb, apm, mt, tone) = work
    _tables(_SQUASH_KNOTS, squash, stretch, rate)
    taken[:] = -1
    for v in range(K):
        tone[v] = 0
        for ch in range(nch):
            tone[v] += pal[v, ch]
    rw[0] = 1 << 28
    for e in range(1, 4096):
        rw[e] = max(1, (1 << 28) // (e * e))
    cand = small[0]
    src = small[1]
    dist = small[2]
    crank = small[3]
    ix = small[4]
    st = small[5]
    g = cell_bits(K, nch)
    sh = 8 - g
    nt = min(REFINE, K)
    pos = np.int64(0)
    bad = 0
    nlog = 0
    logged = False
    for s in range(s0, s1):
        y0 = s * rows
        R = min(rows, H - y0)
        _fresh(T, TD, TL, Wt, ict1, ict2, bias, apm, mt, squash, lg, nlog, logged)
        moff = np.int64(0)
        mlen = np.int64(0)
        logged = R * W <= SMALL_STRIPE
        nlog = 0
        win[:, :] = -1
        se[:, :, :] = 0
        er[:, :] = 0
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
            if not dec and pos + ROOM_PER_PIXEL * W + 64 > out.shape[0]:
                out = _room(dec, out, 2 * out.shape[0] + ROOM_PER_PIXEL * W + 64)
            row = win[y % 3]
            up = win[(y + 2) % 3]
            uu = win[(y + 1) % 3]
            se_row = se[y & 1]
            se_up = se[(y + 1) & 1]
            er_row = er[y & 1]
            er_up = er[(y + 1) & 1]
            if y == 0:
                se_up[:, :] = 0
                er_up[:] = 0
            if not dec:
                for x in range(W):
                    row[x + 2] = img[y0 + y, x]
            for x in range(2, W + 2):
                tick = (y0 + y) * (W + 2) + x  # this pixel, for ``taken``
                L = row[x - 1]
                U = up[x]
                UL = up[x - 1]
                UR = up[x + 1]
                LL = row[x - 2]
                UU = uu[x]
                X = np.int64(-1) if dec else row[x]
                pat = _pattern(L, U, UL, UR, LL, UU)
                # The prediction: a weighted mean of sub-predictors, each
                # weighted by the inverse square of its recent errors.
                full = L >= 0 and U >= 0 and UL >= 0
                act = np.int64(0)
                # G of spec 13.4: the clamped gradient a + b - c summed over the
                # channels, a second opinion beside the weighted prediction.
                grad = np.int64(0)
                if full:
                    wsum = np.int64(0)
                    for i in range(N_SUB):
                        e = se_row[i, x - 1] + se_up[i, x] + se_up[i, x - 1] + se_up[i, x + 1] + 1
                        sub[i, 3] = rw[min(e, 4095)]
                        wsum += sub[i, 3]
                    for ch in range(nch):
                        a = pal[L, ch]
                        b = pal[U, ch]
                        c = pal[UL, ch]
                        d = pal[UR, ch] if UR >= 0 else b
                        ll = pal[LL, ch] if LL >= 0 else a
                        u2 = pal[UU, ch] if UU >= 0 else b
                        act += abs(a - c) + abs(b - c)
                        grad += min(max(a + b - c, 0), 255)
                        acc = (sub[0, 3] * (a + b - c) + sub[1, 3] * (a + ((d - c) >> 1))
                               + sub[2, 3] * (b + ((a - c) >> 1)) + sub[3, 3] * ((a + d + 1) >> 1)
                               + sub[4, 3] * (2 * a - ll) + sub[5, 3] * (2 * b - u2)
                               + sub[6, 3] * ((a + b + 1) >> 1) + sub[7, 3] * (a + d - b)
                               + sub[8, 3] * ((a + b + c + d + 2) >> 2) + sub[9, 3] * b + sub[10, 3] * a
                               + sub[11, 3] * d + sub[12, 3] * c)
                        wp[ch] = min(max((acc + (wsum >> 1)) // wsum, 0), 255)
                else:
                    for ch in range(nch):
                        wp[ch] = pal[L, ch] if L >= 0 else (pal[U, ch] if U >= 0 else 128)
                esum = 2 * er_row[x - 1] + 2 * er_up[x] + er_up[x - 1] + er_up[x + 1]
                sq = 0
                while sq < 11 and esum >= (6 << sq):
                    sq += 1
                # The bias correction: the mean error in this context is
                # added, where it has made the errors smaller.
                bctx = -1
                pred_sum = np.int64(0)  # S0 of spec 13.2: the prediction's channel sum before correction
                for ch in range(nch):
                    wpb[0, ch] = wp[ch]
                    wpb[1, ch] = wp[ch]
                    pred_sum += wp[ch]
                if full:
                    bctx = sq * 256 + _bias_bits(pal, tone, pred_sum, nch, L, U, UL, UR, LL, UU)
                    cn = bias[bctx, 4]
                    if cn >= BIAS_MIN:
                        for ch in range(nch):
                            bs = bias[bctx, ch]
                            corr = (bs + (cn >> 1)) // cn if bs >= 0 else -((-bs + (cn >> 1)) // cn)
                            wpb[1, ch] = min(max(wp[ch] + corr, 0), 255)
                        if bias[bctx, 5] > 0:
                            for ch in range(nch):
                                wp[ch] = wpb[1, ch]
                # Candidates: the match value (below), the last index seen in
                # two contexts, the neighbours, then the entries first in the
                # cell's order.
                h1 = _hash5(L, U, UL, UR, LL) >> (32 - ICT1_BITS)
                h2 = _hash5(L, U, 7, 7, 7) >> (32 - ICT2_BITS)
                p1 = np.int64(ict1[h1])
                p2 = np.int64(ict2[h2])
                # The match: the index that followed the last occurrence of
                # this neighbourhood, displaced by the same offset while it
                # keeps predicting.
                here = np.int64(y) * W + (x - 2)
                L3 = row[x - 3] if x >= 3 else np.int64(-1)
                L4 = row[x - 4] if x >= 4 else np.int64(-1)
                UR2 = up[x + 2] if x + 2 < W + 2 else np.int64(-1)
                hm = _hash5(_hash5(L, LL, L3, L4, U), UL, UR, UR2, UU) >> (32 - MATCH_BITS)
                # A flat neighbourhood says nothing about where a copy is,
                # and offsets of the neighbours repeat candidates.
                flat = L == LL and L == L3 and L == L4 and L == U and L == UL and L == UR and L == UR2 and L == UU
                if moff == 0 and not flat and mt[hm] >= 0:
                    moff = here - mt[hm]
                    mlen = 0
                    if moff <= 2 or moff == W - 1 or moff == W or moff == W + 1 or moff == 2 * W:
                        moff = 0
                mv = np.int64(-1)
                if moff > 0:
                    qq = here - moff
                    yq = qq // W
                    mv = np.int64(row[qq - yq * W + 2]) if yq == y else np.int64(img[y0 + yq, qq - yq * W])
                # The order of the prediction's cell: its first entries are
                # candidates too, and literals are ranked in it.
                cell = np.int64(0)
                pc = np.int64(0)
                for ch in range(nch):
                    cell = (cell << g) | (wp[ch] >> sh)
                    pc = (pc << 4) | (wp[ch] >> 4)
                row_of = _cell_row(cell, slot, order, rank, pal, keys, spare, centre, g, sh)
                nc = 0
                lo = 0
                mb = 0
                if mv >= 0:
                    mb = 1 + min(_bit_length(mlen), 7)
                    taken[mv] = tick
                    cand[0] = mv
                    src[0] = 15
                    dist[0] = _dist2(pal, mv, wp, nch)
                    nc = 1
                    if mlen >= MATCH_PIN:
                        lo = 1  # nothing is asked before a match that has held
                for t in range(8 + min(N_NEAR, K)):
                    if t == 8 and p1 >= 0 and p1 == p2:
                        # Both context tables agree: nothing near the
                        # prediction is asked before their index.
                        for i in range(nc):
                            if cand[i] == p1:
                                lo = i + 1
                    v = (p1 if t == 0 else p2 if t == 1 else L if t == 2 else U if t == 3
                         else UR if t == 4 else UL if t == 5 else LL if t == 6 else UU if t == 7
                         else np.int64(order[row_of, t - 8]))
                    if v < 0:
                        continue
                    if taken[v] == tick:
                        continue
                    taken[v] = tick
                    d2 = _dist2(pal, v, wp, nch)
                    if t >= 8:
                        d2 = d2 * 2 + 1
                    j = nc  # insertion by distance, stable
                    while j > lo and dist[j - 1] > d2:
                        cand[j] = cand[j - 1]
                        src[j] = src[j - 1]
                        dist[j] = dist[j - 1]
                        j -= 1
                    cand[j] = v
                    src[j] = min(t, 14)
                    dist[j] = d2
                    nc += 1
                hit = -1
                # The candidates' relative contexts: differences of channel
                # sums, which carry over between levels and palettes.
                wps = np.int64(0)
                for ch in range(nch):
                    wps += wp[ch]
                # How the gradient predictor differs from the weighted one
                # (before its bias correction): smooth shading shows there.
                gw = _qs(grad - pred_sum) if full else 15  # 15: a value _qs never gives
                for i in range(nc):
                    c = cand[i]
                    dq = min(max(_bit_length(dist[i] >> 2), 1), 11)
                    icf = np.int64(c == p1) | (np.int64(c == p2) << 1)
                    fl = (np.int64(c == L) | (np.int64(c == U) << 1) | (np.int64(c == UR) << 2)
                          | (np.int64(c == UL) << 3))
                    i7 = min(i, 7)
                    ix[0] = (((i7 * 16 + src[i]) * 256 + pat) * 4 + icf)
                    ix[1] = _hash5(100 + i7, c, L, U, dq) >> (32 - HASH_BITS)
                    tc = tone[c]
                    dl = tc - tone[L] if L >= 0 else 0
                    du = tc - tone[U] if U >= 0 else 0
                    dr = tc - tone[UR] if UR >= 0 else 0
                    rl = _qs(dl)
                    ru = _qs(du)
                    rp = _qs(tc - wps)
                    ix[2] = _hash5(200 + i7, rl, ru, _qs(tc - tone[LL] if LL >= 0 else 0),
                                   _qs(tc - tone[UU] if UU >= 0 else 0)) >> (32 - HASH_BITS)
                    ix[3] = _hash5(400 + src[i], dq, fl, icf, pat) >> (32 - HASH_BITS)
                    ix[4] = _hash5(500 + i7, dq, sq, mb if c == mv else 0, 0) >> (32 - HASH_BITS)
                    ix[5] = _hash5(600, c, dq, L, 0) >> (32 - HASH_BITS)
                    ix[6] = _hash5(700, c, pc, 0, 0) >> (32 - HASH_BITS)
                    gv = _qs(tc - grad) if full else 15
                    ix[7] = _hash5(800, gv, gw, sq, min(i7, 1)) >> (32 - HASH_BITS)
                    ix[8] = _hash5(900 + i7, rl, ru, _qs(dr), _qs(tc - tone[UL] if UL >= 0 else 0)) >> (32 - HASH_BITS)
                    ix[9] = _hash5(1000 + i7, ru, _qs(dr), _qs(dr - du), rp) >> (32 - HASH_BITS)
                    ws = (i7 * 16 + src[i]) * 4 + icf
                    b = np.int64(c == X)
                    wsb = WS_DQ + i7 * 12 + dq
                    wsc = WS_SQ + i7 * 12 + sq
                    wsf = WS_FINAL + i7
                    m1 = (i7 * 12 + sq) * 4 + 2 * np.int64(tc < wps) + np.int64(dl * du < 0)
                    m2 = APM_ENTRY + (c & 1023)
                    x1, x2, xv, pos, b = _mix2(dec, x1, x2, xv, pos, inbuf, out, TD, T, ix, Wt, ws, wsb, wsc, wsf, b,
                                               squash, stretch, rate, st, apm, m1, m2)
                    if logged:
                        nlog = _log(lg, nlog, 7, m1)
                        nlog = _log(lg, nlog, 7, m2)
                        nlog = _log(lg, nlog, 1, ix[0])
                        for k in range(1, 1 + N_HASHED):
                            nlog = _log(lg, nlog, 0, ix[k])
                        nlog = _log(lg, nlog, 5, ws)
                        nlog = _log(lg, nlog, 5, wsb)
                        nlog = _log(lg, nlog, 5, wsc)
                        nlog = _log(lg, nlog, 5, wsf)
                    if b:
                        hit = i
                        break
                if hit >= 0:
                    X = cand[hit]
                else:
                    # A literal: its rank among the entries that are not
                    # candidates, in order of distance to the prediction.
                    aq = 0
                    while aq < 7 and act >= (4 << aq):
                        aq += 1
                    # The first nt entries of the cell's order, re-sorted
                    # around the exact prediction (insertion sort).
                    for r in range(nt):
                        o = np.int64(order[row_of, r])
                        kk = _dist2(pal, o, wp, nch) * 65536 + o
                        j = r
                        while j > 0 and spare[j - 1] > kk:
                            spare[j] = spare[j - 1]
                            j -= 1
                        spare[j] = kk
                    for r in range(nt):
                        place[spare[r] & 0xFFFF] = r
                    # Ranks of the candidates in that order, sorted.
                    for i in range(nc):
                        c = cand[i]
                        rc = np.int64(rank[row_of, c])
                        if rc < nt:
                            rc = place[c]
                        j = i
                        while j > 0 and crank[j - 1] > rc:
                            crank[j] = crank[j - 1]
                            j -= 1
                        crank[j] = rc
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
                        if r0 < nt:
                            r0 = place[X]
                        rx = r0
                        for i in range(nc):
                            if crank[i] < r0:
                                rx -= 1
                        v = rx + 1
                        while (v >> (e + 1)) > 0:
                            e += 1
                    ncx = min(nc, 8)
                    ee = 0
                    while ee < emax:
                        ix[0] = OFF_EXP_A + (aq * 9 + ncx) * 17 + ee
                        ix[1] = OFF_EXP_S + (sq * 9 + ncx) * 17 + ee
                        ix[2] = OFF_EXP_SA + (sq * 8 + aq) * 17 + ee
                        x1, x2, xv, pos, b = _mix(dec, x1, x2, xv, pos, inbuf, out, TL, ix, 3, Wt, WS_EXP + ee,
                                                  np.int64(ee < e), squash, stretch, rate, st)
                        if logged:
                            for k in range(3):
                                nlog = _log(lg, nlog, 2, ix[k])
                            nlog = _log(lg, nlog, 5, WS_EXP + ee)
                        if b == 0:
                            break
                        ee += 1
                    e = ee
                    v2 = np.int64(1)
                    for k in range(e - 1, -1, -1):
                        pre = min(v2, 3) if e - 1 - k < 2 else 0
                        ix[0] = OFF_MAN_A + (e * 17 + k) * 4 + pre
                        ix[1] = OFF_MAN_S + ((sq * 17 + e) * 17 + k) * 4 + pre
                        x1, x2, xv, pos, b = _mix(dec, x1, x2, xv, pos, inbuf, out, TL, ix, 2, Wt, WS_MAN + e,
                                                  (v >> k) & 1, squash, stretch, rate, st)
                        if logged:
                            nlog = _log(lg, nlog, 2, ix[0])
                            nlog = _log(lg, nlog, 2, ix[1])
                            nlog = _log(lg, nlog, 5, WS_MAN + e)
                        v2 = (v2 << 1) | b
                    if dec:
                        t = v2 - 1
                        if t >= left:
                            bad = 1
                            break
                        for i in range(nc):
                            if crank[i] <= t:
                                t += 1
                        X = (spare[t] & 0xFFFF) if t < nt else np.int64(order[row_of, t])
                row[x] = X
                ict1[h1] = X
                ict2[h2] = X
                if moff > 0:
                    if mv == X:
                        mlen += 1
                    else:
                        moff = 0
                        mlen = 0
                if logged:
                    nlog = _log(lg, nlog, 3, h1)
                    nlog = _log(lg, nlog, 4, h2)
                if not flat:
                    mt[hm] = here
                    if logged:
                        nlog = _log(lg, nlog, 8, hm)
                # Errors of this pixel, for the next predictions.
                eo = np.int64(0)
                for ch in range(nch):
                    eo += abs(pal[X, ch] - wp[ch])
                er_row[x] = eo
                if bctx >= 0:
                    gain = np.int64(0)
                    for ch in range(nch):
                        gain += abs(pal[X, ch] - wpb[0, ch]) - abs(pal[X, ch] - wpb[1, ch])
                        bias[bctx, ch] += pal[X, ch] - wpb[0, ch]
                    bias[bctx, 5] += gain * 16 - (bias[bctx, 5] >> 6)
                    bias[bctx, 4] += 1
                    if bias[bctx, 4] == BIAS_HALVE:
                        bias[bctx, 4] >>= 1
                        for ch in range(nch):
                            bias[bctx, ch] >>= 1
                    if logged:
                        nlog = _log(lg, nlog, 6, bctx)
                if full:
                    for i in range(N_SUB):
                        se_row[i, x] = 0
                    for ch in range(nch):
                        a = pal[L, ch]
                        b2 = pal[U, ch]
                        c = pal[UL, ch]
                        d = pal[UR, ch] if UR >= 0 else b2
                        ll = pal[LL, ch] if LL >= 0 else a
                        u2 = pal[UU, ch] if UU >= 0 else b2
                        xc = pal[X, ch]
                        se_row[0, x] += abs(xc - min(max(a + b2 - c, 0), 255))
                        se_row[1, x] += abs(xc - min(max(a + ((d - c) >> 1), 0), 255))
                        se_row[2, x] += abs(xc - min(max(b2 + ((a - c) >> 1), 0), 255))
                        se_row[3, x] += abs(xc - ((a + d + 1) >> 1))
                        se_row[4, x] += abs(xc - min(max(2 * a - ll, 0), 255))
                        se_row[5, x] += abs(xc - min(max(2 * b2 - u2, 0), 255))
                        se_row[6, x] += abs(xc - ((a + b2 + 1) >> 1))
                        se_row[7, x] += abs(xc - min(max(a + d - b2, 0), 255))
                        se_row[8, x] += abs(xc - ((a + b2 + c + d + 2) >> 2))
                        se_row[9, x] += abs(xc - b2)
                        se_row[10, x] += abs(xc - a)
                        se_row[11, x] += abs(xc - d)
                        se_row[12, x] += abs(xc - c)
                else:
                    for i in range(N_SUB):
                        se_row[i, x] = 0
            if _end_row(dec, bad, status, s, y0 + y, x, img, row, W):
                return out, pos
        out, pos, failed = _end_stripe(dec, x1, pos, inbuf, out, status, s, s0, bounds)
        if failed:
            return out, pos
    return out, pos


@njit(inline="always")
def _bias_bits(pal, tone, s0, nch, L, U, UL, UR, LL, UU):
    """The bias context's sign bits: which of L, U, UL, UR, LL, UU, 2L - LL
    and 2U - UU (a missing one read as in the prediction) sum above the
    prediction's channel sum ``s0`` over the channels (``tone``: each
    entry's channel sum)."""
    sa = np.int64(0)
    sb = np.int64(0)
    for ch in range(nch):
        a = pal[L, ch]
        b = pal[U, ch]
        sa += 2 * a - (pal[LL, ch] if LL >= 0 else a)
        sb += 2 * b - (pal[UU, ch] if UU >= 0 else b)
    bits = np.int64(0)
    for k, v in enumerate((L, U, UL, UR, LL, UU)):
        if v >= 0:
            bits |= np.int64(tone[v] > s0) << k
    return bits | (np.int64(sa > s0) << 6) | (np.int64(sb > s0) << 7)


# _qs by table: a lookup is cheaper than _bit_length's branches, nine times
# a candidate.  Its arguments are differences of channel sums (each 0 to
# 4 * 255) or of two such differences, so |v| <= 2040 < QS_RANGE.
QS_RANGE = 4096
_QS_TABLE = np.array([min(abs(v).bit_length(), 7) + (16 if v < 0 else 0) for v in range(-QS_RANGE, QS_RANGE + 1)],
                     np.int64)
_QS_TABLE.flags.writeable = False  # frozen into the compiled code


@njit(inline="always")
def _qs(v):
    """A signed difference in 15 steps (spec 13.4): the bit length of |v| up
    to 7, plus 16 when v < 0."""
    return _QS_TABLE[v + QS_RANGE]


@njit(inline="always")
def _dist2(pal, v, wp, nch):
    """Squared distance from entry v to the prediction, summed over the channels."""
    d2 = np.int64(0)
    for ch in range(nch):
        dc = pal[v, ch] - wp[ch]
        d2 += dc * dc
    return d2


@njit(inline="always")
def _bit_length(v):
    """The bits of v >= 0 (0 for 0), in five steps rather than a loop."""
    n = 0
    if v >= 1 << 16:
        v >>= 16
        n += 16
    if v >= 1 << 8:
        v >>= 8
        n += 8
    if v >= 1 << 4:
        v >>= 4
        n += 4
    if v >= 1 << 2:
        v >>= 2
        n += 2
    if v >= 1 << 1:
        v >>= 1
        n += 1
    return n + v


@njit(inline="always")
def _learn(Wt, w, st, d, bit, squash):
    """A first-layer set's update, from its own output ``d``."""
    p = min(max(squash[d + 2048] * 16 + 8, 32), 65504)
    err = ((bit << 16) - p) >> 4
    for i in range(N_IN):
        Wt[w, i] = min(max(Wt[w, i] + ((st[i] * err) >> 12), -W_MAX), W_MAX)
    Wt[w, N_IN] = min(max(Wt[w, N_IN] + ((256 * err) >> 12), -W_MAX), W_MAX)


@njit(inline="always")
def _mix2(dec, x1, x2, xv, pos, inbuf, out, TD, T, ix, Wt, ws, wsb, wsc, wsf, bit, squash, stretch, rate, st, apm,
          m1, m2):
    """A candidate decision (spec 13.1, two layers): the direct counter
    ``TD[ix[0]]`` and the hashed ``T[ix[1..]]`` mixed by weight sets ``ws``,
    ``wsb`` and ``wsc``, whose outputs are mixed by the final set ``wsf``;
    that p is refined by the probability maps ``m1`` and ``m2``."""
    n = N_IN
    st[0] = stretch[TD[ix[0]] >> 12]
    for i in range(1, n):
        st[i] = stretch[T[ix[i]] >> 12]
    d0 = np.int64(0)
    d1 = np.int64(0)
    d2 = np.int64(0)
    for i in range(n):
        d0 += Wt[ws, i] * st[i]
        d1 += Wt[wsb, i] * st[i]
        d2 += Wt[wsc, i] * st[i]
    d0 = min(max((d0 + Wt[ws, n] * 256) >> 16, -2047), 2047)
    d1 = min(max((d1 + Wt[wsb, n] * 256) >> 16, -2047), 2047)
    d2 = min(max((d2 + Wt[wsc, n] * 256) >> 16, -2047), 2047)
    dot = (Wt[wsf, 0] * d0 + Wt[wsf, 1] * d1 + Wt[wsf, 2] * d2) >> 16
    dot = min(max(dot, -2047), 2047)
    p = min(max(squash[dot + 2048] * 16 + 8, 32), 65504)
    j = (dot + 2048) >> 7
    w = (dot + 2048) & 127
    p1 = (apm[m1, j] * (128 - w) + apm[m1, j + 1] * w) >> 7
    p2 = (apm[m2, j] * (128 - w) + apm[m2, j + 1] * w) >> 7
    x1, x2, xv, pos, bit = _code_bit(dec, x1, x2, xv, pos, inbuf, out, min(max((p + p1 + 2 * p2) >> 2, 32), 65504),
                                     bit)
    for k in range(j, j + 2):
        apm[m1, k] += ((bit << 16) - apm[m1, k]) >> APM_RATE
        apm[m2, k] += ((bit << 16) - apm[m2, k]) >> APM_RATE
    _update(TD, ix[0], bit, rate)
    for i in range(1, n):
        _update(T, ix[i], bit, rate)
    _learn(Wt, ws, st, d0, bit, squash)
    _learn(Wt, wsb, st, d1, bit, squash)
    _learn(Wt, wsc, st, d2, bit, squash)
    err = ((bit << 16) - p) >> 6
    Wt[wsf, 0] = min(max(Wt[wsf, 0] + ((d0 * err) >> 12), -W_MAX), W_MAX)
    Wt[wsf, 1] = min(max(Wt[wsf, 1] + ((d1 * err) >> 12), -W_MAX), W_MAX)
    Wt[wsf, 2] = min(max(Wt[wsf, 2] + ((d2 * err) >> 12), -W_MAX), W_MAX)
    return x1, x2, xv, pos, bit


@njit(nogil=True)
def decode_stripes(img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work):
    _code_stripes(True, img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work)


@njit(nogil=True)
def encode_stripes(img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work):
    return _code_stripes(False, img, rows, s0, s1, pal, data, bounds, out, status, order, rank, slot, work)


private_cache(decode_stripes, "the mix decoder")
private_cache(encode_stripes, "the mix encoder")
