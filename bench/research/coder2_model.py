"""Coder-2 prototype: candidate list from indirect contexts + neighbours, then literal."""
import sys, json, time
import numpy as np
from numba import njit
sys.path.insert(0, '/tmp/c2'); sys.path.insert(0, '/work/main')
from proto import load, LOG2, upd, plain
from kmcodec._entropy_jit import _tables, _SQUASH_KNOTS, _pattern, cell_bits

M32 = 0xFFFFFFFF

@njit(inline='always')
def hsh(a, b, c, d, e, bits):
    h = (a * 0x9E3779B1 + b + 1) & M32
    h = (h * 0x85EBCA77 + c + 1) & M32
    h = (h * 0xC2B2AE3D + d + 1) & M32
    h = (h * 0x27D4EB2F + e + 1) & M32
    h = (h * 0x165667B1) & M32
    return h >> (32 - bits)

@njit(inline='always')
def mixn(T, idx, n, Wt, ws, bit, squash, stretch, rate, LOG2, s, lr):
    dot = 0
    for i in range(n):
        s[i] = stretch[T[idx[i]] >> 12]
        dot += Wt[ws, i] * s[i]
    dot += Wt[ws, n] * 256
    dot = min(max(dot >> 16, -2047), 2047)
    p = min(max(squash[dot + 2048] * 16 + 8, 32), 65504)
    for i in range(n):
        upd(T, idx[i], bit, rate)
    err = ((bit << 16) - p) >> 4
    for i in range(n):
        Wt[ws, i] += (s[i] * err) >> lr
    Wt[ws, n] += (256 * err) >> lr
    return LOG2[p] if bit else LOG2[65536 - p]

@njit(inline='always')
def mixa(T, idx, n, Wt, ws, bit, squash, stretch, rate, LOG2, s, lr, A, actx, use):
    dot = 0
    for i in range(n):
        s[i] = stretch[T[idx[i]] >> 12]
        dot += Wt[ws, i] * s[i]
    dot += Wt[ws, n] * 256
    dot = min(max(dot >> 16, -2047), 2047)
    p = min(max(squash[dot + 2048] * 16 + 8, 32), 65504)
    pf = p
    if use:
        # APM: 33 buckets over stretch domain, linear interpolation
        st = dot + 2048  # 1..4095
        j = st >> 7; w = st & 127
        a0 = A[actx, j]; a1 = A[actx, j + 1]
        pa = (a0 * (128 - w) + a1 * w) >> 7
        pf = min(max((p + 3 * pa) >> 2, 32), 65504)
        tgt = bit << 16
        A[actx, j] += ((tgt - a0) * (128 - w)) >> 13
        A[actx, j + 1] += ((tgt - a1) * w) >> 13
    for i in range(n):
        upd(T, idx[i], bit, rate)
    err = ((bit << 16) - p) >> 4
    for i in range(n):
        Wt[ws, i] += (s[i] * err) >> lr
    Wt[ws, n] += (256 * err) >> lr
    return LOG2[pf] if bit else LOG2[65536 - pf]

@njit(inline='always')
def mix2(T, T2, idx, n, Wt, ws, bit, squash, stretch, rate, LOG2, s, lr, fr):
    dot = 0
    for i in range(n):
        s[i] = stretch[T[idx[i]] >> 12]
        dot += Wt[ws, i] * s[i]
        s[n + 1 + i] = stretch[T2[idx[i]] >> 4]
        dot += Wt[ws, n + 1 + i] * s[n + 1 + i]
    dot += Wt[ws, n] * 256
    dot = min(max(dot >> 16, -2047), 2047)
    p = min(max(squash[dot + 2048] * 16 + 8, 32), 65504)
    for i in range(n):
        upd(T, idx[i], bit, rate)
        T2[idx[i]] += ((bit << 16) - T2[idx[i]]) >> fr
    err = ((bit << 16) - p) >> 4
    for i in range(n):
        Wt[ws, i] += (s[i] * err) >> lr
        Wt[ws, n + 1 + i] += (s[n + 1 + i] * err) >> lr
    Wt[ws, n] += (256 * err) >> lr
    return LOG2[p] if bit else LOG2[65536 - p]

@njit
def c2_cost(img, pal, LOG2, acc, P):
    H, W = img.shape; K = pal.shape[0]; nch = pal.shape[1]
    use_ict = P[0]; nin = P[1]; lr = P[2]
    squash = np.empty(4096, np.int64); stretch = np.empty(4096, np.int64); rate = np.empty(256, np.int64)
    _tables(_SQUASH_KNOTS, squash, stretch, rate)
    HB = P[13]
    T = np.full(1 << HB, 32768 << 8, np.int64)
    T2 = np.full(1 << HB, 32768, np.int64)
    NL = 200000
    TL = np.full(NL, 32768 << 8, np.int64)
    ICT1 = np.full(1 << 20, -1, np.int64); ICT2 = np.full(1 << 18, -1, np.int64)
    NWS = 1024
    Wt = np.zeros((NWS, 20), np.int64)
    for i in range(NWS):
        for j in range(20):
            Wt[i, j] = 20000 if j < 10 else 0
    g = cell_bits(K, nch); sh = 8 - g
    slot = np.full((1 << (nch * g)), -1, np.int64)
    order = np.zeros((min(1 << (nch * g), H * W), K), np.int64); rank = np.zeros_like(order); nrows = 0
    keys = np.empty(K, np.int64); order2 = np.empty(K, np.int64); rank2 = np.empty(K, np.int64)
    cand = np.empty(10, np.int64); src = np.empty(10, np.int64); crank = np.empty(10, np.int64)
    seen = np.zeros(K, np.int64); centre = np.empty(4, np.int64)
    idx = np.empty(20, np.int64); s = np.empty(20, np.int64)
    img2 = img.astype(np.int64)
    ONEHALF = np.array([int(8 * 2 ** (j / 2)) for j in range(30)], np.int64)
    A = np.zeros((8192, 33), np.int64)
    for j in range(33):
        d_ = min(max((j << 7) - 2048, -2047), 2047)
        A[:, j] = squash[d_ + 2048] * 16
    ua = P[10]
    ERR = np.zeros((H + 1, W + 2), np.int64)
    pcol = np.empty(4, np.int64)
    pred = P[3]; litmix = P[4]
    NP = P[11]
    SE = np.zeros((12, H + 1, W + 2), np.int64)
    sub = np.zeros((12, 4), np.int64)
    TE = np.zeros((H + 1, W + 2, 4), np.int64)
    wpc = np.zeros(4, np.int64)
    BIAS = np.zeros((4096, 4), np.int64); BCNT = np.zeros(4096, np.int64)
    for y in range(H):
        for x in range(W):
            L = img2[y, x-1] if x >= 1 else -1
            LL = img2[y, x-2] if x >= 2 else -1
            U = img2[y-1, x] if y >= 1 else -1
            UL = img2[y-1, x-1] if y >= 1 and x >= 1 else -1
            UR = img2[y-1, x+1] if y >= 1 and x + 1 < W else -1
            UU = img2[y-2, x] if y >= 2 else -1
            X = img2[y, x]
            bctx = 0
            tex = 0
            esum = 2 * ERR[y + 1, x] + 2 * ERR[y, x + 1] + ERR[y, x] + ERR[y, x + 2]
            sq = 0
            while sq < 11 and esum >= (6 << sq):
                sq += 1
            if pred == 2 and L >= 0 and U >= 0 and UL >= 0:
                for ch in range(nch):
                    wpc[ch] = min(max((3 * pal[L, ch] + 3 * pal[U, ch] - 2 * pal[UL, ch] + 2) >> 2, 0), 255)
            if pred >= 3 and L >= 0 and U >= 0 and UL >= 0:
                for ch in range(nch):
                    a_ = pal[L, ch]; b_ = pal[U, ch]; c_ = pal[UL, ch]
                    d_ = pal[UR, ch] if UR >= 0 else b_
                    sub[0, ch] = a_ + b_ - c_
                    sub[1, ch] = a_ + ((d_ - c_) >> 1)
                    sub[2, ch] = b_ + ((a_ - c_) >> 1)
                    sub[3, ch] = (a_ + d_ + 1) >> 1
                    if NP > 4:
                        sub[4, ch] = 2 * a_ - pal[LL, ch] if LL >= 0 else a_
                        sub[5, ch] = 2 * b_ - pal[UU, ch] if UU >= 0 else b_
                    if NP > 6:
                        sub[6, ch] = (a_ + b_ + 1) >> 1
                        sub[7, ch] = a_ + d_ - b_
                    if NP > 8:
                        tl = TE[y + 1, x, ch]; tu = TE[y, x + 1, ch]; tul = TE[y, x, ch]; tur = TE[y, x + 2, ch]
                        sub[8, ch] = b_ + ((tl + tu + tur) * P[19] >> 5)
                        sub[9, ch] = a_ + ((tl + tu + tul) * P[19] >> 5)
                    if NP > 10:
                        sub[10, ch] = a_ + b_ - c_ + ((tl + tu) * P[19] >> 5)
                        sub[11, ch] = a_ + d_ - b_ + ((tl + tur) * P[19] >> 5)
                wsum = 0
                for ch in range(nch):
                    wpc[ch] = 0
                for i in range(NP):
                    ee_ = SE[i, y + 1, x] + SE[i, y, x + 1] + SE[i, y, x] + SE[i, y, x + 2] + 1
                    if P[12] == 1:
                        ee_ = 2 * SE[i, y + 1, x] + 2 * SE[i, y, x + 1] + SE[i, y, x] + SE[i, y, x + 2] + 1
                    elif P[12] == 2:
                        ee_ = (3 * SE[i, y + 1, x] + 3 * SE[i, y, x + 1] + SE[i, y, x] + SE[i, y, x + 2] + SE[i, y + 1, x - 1 if x >= 1 else x] + SE[i, y - 1 if y >= 1 else y, x + 1]) // 2 + 1
                    w_ = max(1, (1 << 28) // (ee_ * ee_))
                    wsum += w_
                    for ch in range(nch):
                        wpc[ch] += w_ * sub[i, ch]
                for ch in range(nch):
                    wpc[ch] = (wpc[ch] + (wsum >> 1)) // wsum
                if pred == 4:
                    # bias context: signs of neighbours' luminance vs prediction + quantised error
                    lp = wpc[0] + 2 * wpc[1] + wpc[2]
                    t_ = 0
                    for j, v_ in enumerate((L, U, UL, UR, LL, UU)):
                        if v_ >= 0:
                            t_ |= np.int64(pal[v_, 0] + 2 * pal[v_, 1] + pal[v_, 2] > lp) << j
                    es_ = SE[0, y + 1, x] + SE[0, y, x + 1]
                    q_ = 0
                    while q_ < 7 and es_ >= (4 << q_):
                        q_ += 1
                    bctx = t_ * 8 + q_ + 1
                    tex = t_
                    if BCNT[bctx] > 0:
                        for ch in range(nch):
                            wpc[ch] += (BIAS[bctx, ch] + (BCNT[bctx] >> 1)) // BCNT[bctx]
                for ch in range(nch):
                    wpc[ch] = min(max(wpc[ch], 0), 255)
            pat = _pattern(L, U, UL, UR, LL, UU)
            h1 = hsh(L, U, UL, UR, LL, 20)
            h2 = hsh(L, U, 7, 7, 7, 18)
            # candidates
            nc = 0
            if use_ict:
                for t in range(2):
                    v = ICT1[h1] if t == 0 else ICT2[h2]
                    if v >= 0:
                        dup = False
                        for i in range(nc):
                            if cand[i] == v:
                                dup = True
                        if not dup:
                            cand[nc] = v; src[nc] = t; nc += 1
            for t in range(P[6]):
                v = L if t == 0 else U if t == 1 else UR if t == 2 else UL if t == 3 else LL if t == 4 else UU
                if v >= 0:
                    dup = False
                    for i in range(nc):
                        if cand[i] == v:
                            dup = True
                    if not dup:
                        cand[nc] = v; src[nc] = 2 + t; nc += 1
            hit = -1
            if P[7] and pred >= 2 and L >= 0 and U >= 0 and UL >= 0:
                for i in range(nc):
                    d2 = 0
                    for ch in range(nch):
                        dc = pal[cand[i], ch] - wpc[ch]; d2 += dc * dc
                    crank[i] = d2
                if P[7] == 2:  # sort candidates by distance (stable insertion)
                    for i in range(1, nc):
                        v0 = crank[i]; c0 = cand[i]; s0 = src[i]; j = i - 1
                        while j >= 0 and crank[j] > v0:
                            crank[j + 1] = crank[j]; cand[j + 1] = cand[j]; src[j + 1] = src[j]; j -= 1
                        crank[j + 1] = v0; cand[j + 1] = c0; src[j + 1] = s0
            else:
                for i in range(nc):
                    crank[i] = -1
            dmin = 1 << 40
            for i in range(nc):
                if crank[i] >= 0 and crank[i] < dmin:
                    dmin = crank[i]
            dq0 = 0
            if dmin < (1 << 40):
                dq0 = 1
                while dq0 < 11 and dmin >= (2 << dq0):
                    dq0 += 1
            for i in range(nc):
                c = cand[i]
                dq = 0
                if crank[i] >= 0:
                    dq = 1
                    if P[17]:
                        while dq < 23 and crank[i] * 2 >= (ONEHALF[dq]):
                            dq += 1
                    else:
                        while dq < 11 and crank[i] >= (4 << dq):
                            dq += 1
                b = np.int64(X == c)
                # flags: which neighbours equal c
                fl = np.int64(c == L) | (np.int64(c == U) << 1) | (np.int64(c == UR) << 2) | (np.int64(c == UL) << 3)
                icf = (np.int64(c == ICT1[h1]) ) | (np.int64(c == ICT2[h2]) << 1)
                idx[0] = (((i * 8 + src[i]) * 256 + pat) * 4 + icf) & ((1 << HB) - 1)
                idx[1] = hsh(100 + i, c, L, U, 0, HB)
                idx[2] = hsh(200 + src[i], c, h1, fl, icf, HB)
                idx[3] = hsh(300 + src[i], c, L, U, UR * 65536 + UL, HB)
                idx[4] = hsh(400 + src[i], c, fl, icf, pat, HB)
                if P[7]:
                    idx[1] = hsh(100 + i, c, L, U, dq, HB)
                    idx[4] = hsh(400 + src[i], dq, fl, icf, pat, HB)
                    idx[5] = hsh(500 + i, dq, sq, 0, 0, HB)
                    idx[6] = hsh(600 + src[i], c, U, UR, dq, HB)
                    idx[7] = hsh(700 + src[i], c, L, UL, dq, HB)
                ws = (min(i, 7) * 8 + min(src[i], 7)) * 4 + icf
                nn = 0
                for j in range(8):
                    if (P[14] >> j) & 1:
                        idx[nn] = idx[j]
                        nn += 1
                if P[8] == 1:
                    ws = (min(i, 3) * 4 + icf) * 12 + dq
                elif P[8] == 2:
                    ws = 300 + dq * 12 + sq
                if P[15]:
                    acc[0 if i == 0 else 1] += mix2(T, T2, idx, nn, Wt, ws, b, squash, stretch, rate, LOG2, s, lr, P[15])
                else:
                  acc[0 if i == 0 else 1] += mixa(T, idx, nn, Wt, ws, b, squash, stretch, rate, LOG2, s, lr, A, (min(i, 7) * 24 + dq) * 4 + icf, ua)
                if b:
                    hit = i
                    break
            if use_ict:
                ICT1[h1] = X; ICT2[h2] = X
            if pred >= 3 and L >= 0 and U >= 0 and UL >= 0:
                for ch in range(nch):
                    TE[y + 1, x + 1, ch] = pal[X, ch] - wpc[ch]
                for i in range(NP):
                    e2 = 0
                    for ch in range(nch):
                        e2 += abs(pal[X, ch] - min(max(sub[i, ch], 0), 255))
                    SE[i, y + 1, x + 1] = e2
                if bctx > 0:
                    for ch in range(nch):
                        BIAS[bctx, ch] += pal[X, ch] - wpc[ch]
                    BCNT[bctx] += 1
                    if BCNT[bctx] >= 64:
                        BCNT[bctx] >>= 1
                        for ch in range(nch):
                            BIAS[bctx, ch] >>= 1
            if hit >= 0:
                e_ = 0
                if L >= 0 and U >= 0 and UL >= 0:
                    for ch in range(nch):
                        e_ += abs(pal[X, ch] - (wpc[ch] if P[16] else min(max(pal[L, ch] + pal[U, ch] - pal[UL, ch], 0), 255)))
                ERR[y + 1, x + 1] = e_
                continue
            # literal
            act = 0; cell = 0
            for ch in range(nch):
                if L >= 0 and U >= 0 and UL >= 0:
                    a_ = pal[L, ch]; b_ = pal[U, ch]; c_ = pal[UL, ch]
                    if pred == 0:
                        pc = a_ + b_ - c_
                    elif pred == 1:
                        mx = max(a_, b_); mn = min(a_, b_)
                        pc = mn if c_ >= mx else (mx if c_ <= mn else a_ + b_ - c_)
                    elif pred == 2:
                        d_ = pal[UR, ch] if UR >= 0 else b_
                        pc = (3 * a_ + 3 * b_ - 2 * c_ + 0 * d_ + 2) >> 2
                    else:
                        pc = wpc[ch]
                    act += abs(a_ - c_) + abs(b_ - c_)
                elif L >= 0:
                    pc = pal[L, ch]
                elif U >= 0:
                    pc = pal[U, ch]
                else:
                    pc = 128
                pcol[ch] = min(max(pc, 0), 255)
                cell = (cell << g) | (pcol[ch] >> sh)
            aq = 0
            while aq < 7 and act >= (4 << aq):
                aq += 1
            eL = ERR[y + 1, x]; eU = ERR[y, x + 1]; eUL = ERR[y, x]; eUR = ERR[y, x + 2]
            esum = 2 * eL + 2 * eU + eUL + eUR
            sq = 0
            while sq < 11 and esum >= (6 << sq):
                sq += 1
            r_ = slot[cell]
            if r_ < 0:
                r_ = nrows; nrows += 1; slot[cell] = r_
                half = (1 << sh) >> 1
                for ch in range(nch):
                    centre[ch] = (((cell >> (g * (nch - 1 - ch))) & ((1 << g) - 1)) << sh) + half
                for i in range(K):
                    d2 = 0
                    for ch in range(nch):
                        dc = pal[i, ch] - centre[ch]; d2 += dc * dc
                    keys[i] = d2 * 65536 + i
                ranked = np.sort(keys)
                for r in range(K):
                    o = ranked[r] & 0xFFFF
                    order[r_, r] = o; rank[r_, o] = r
            if P[5] > 0:
                # exact order around P: top P[5] of the cell order re-sorted by exact distance
                NT = min(P[5], K)
                for r in range(NT):
                    o = order[r_, r]
                    d2 = 0
                    for ch in range(nch):
                        dc = 2 * pal[o, ch] - 2 * pcol[ch] - 1; d2 += dc * dc
                    keys[r] = d2 * 65536 + o
                tk = np.sort(keys[:NT])
                for r in range(NT):
                    o = tk[r] & 0xFFFF
                    order2[r] = o; rank2[o] = r
                for r in range(NT, K):
                    o = order[r_, r]
                    order2[r] = o; rank2[o] = r
                for r in range(K):
                    rank[nrows + 1 - 1 if False else r_, 0] = rank[r_, 0]
            ne = 0
            for i in range(nc):
                crank[ne] = rank2[cand[i]] if P[5] > 0 else rank[r_, cand[i]]; ne += 1
            left = K - ne
            emax = 0
            while (left >> (emax + 1)) > 0:
                emax += 1
            r0 = rank2[X] if P[5] > 0 else rank[r_, X]; rx = r0
            for i in range(ne):
                if crank[i] < r0:
                    rx -= 1
            v = rx + 1; e = 0
            while (v >> (e + 1)) > 0:
                e += 1
            ncx = min(ne, 9)
            ee = 0
            while ee < emax:
                b = np.int64(ee < e)
                if litmix:
                    idx[0] = (aq * 10 + ncx) * 17 + ee
                    idx[1] = 4000 + (sq * 10 + ncx) * 17 + ee
                    idx[2] = 7000 + (sq * 8 + aq) * 17 + ee
                    nin_l = 3
                    if P[9]:
                        idx[3] = 20000 + ((dq0 * 12 + sq) * 10 + ncx) * 17 + ee
                        nin_l = 4
                    acc[3] += mixa(TL, idx, nin_l, Wt, 600 + ee, b, squash, stretch, rate, LOG2, s, lr, A, 1000 + (ee * 12 + sq) * 10 + ncx, ua)
                else:
                    acc[3] += plain(TL, (aq * 10 + ncx) * 17 + ee, b, rate, LOG2)
                if b == 0:
                    break
                ee += 1
            v2 = 1
            for i in range(e - 1, -1, -1):
                b = (v >> i) & 1
                if litmix:
                    pre = min(v2, 3) if e - 1 - i < 2 else 0
                    idx[0] = 2000 + (e * 17 + i) * 4 + pre
                    idx[1] = 10000 + ((sq * 17 + e) * 17 + i) * 4 + pre
                    nin_m = 2
                    if P[9]:
                        idx[2] = 60000 + ((dq0 * 17 + e) * 17 + i) * 4 + pre
                        nin_m = 3
                        if P[18]:
                            idx[3] = 80000 + ((tex * 17 + e) * 17 + i) * 4 + (v2 & 3)
                            nin_m = 4
                    acc[4] += mixa(TL, idx, nin_m, Wt, 620 + min(e, 15), b, squash, stretch, rate, LOG2, s, lr, A, 3500 + min(e, 15) * 12 + sq, ua)
                else:
                    acc[4] += plain(TL, 2000 + (e * 17 + i) * 4 + (min(v2, 3) if e - 1 - i < 2 else 0), b, rate, LOG2)
                v2 = (v2 << 1) | b
            acc[8] += 1
            e_ = 0
            for ch in range(nch):
                e_ += abs(pal[X, ch] - pcol[ch])
            ERR[y + 1, x + 1] = e_

def run(P, only=None):
    rows = load(); seen = set(); tot2 = tot1 = totj = 0; worst = []
    for key, r, idx, pal in rows:
        if (r['name'], r['K']) in seen: continue
        seen.add((r['name'], r['K']))
        if only and r['kind'] != only: continue
        acc = np.zeros(10)
        c2_cost(idx, pal, LOG2, acc, np.array(P, np.int64))
        size = acc[:5].sum() / 8 + 32 + 3 * r['K'] + 8
        tot2 += size; tot1 += r['c1']; totj += r['jxl']
        worst.append((size / r['jxl'], key, size / r['c1']))
    worst.sort()
    print(P, f'c2/jxl={tot2/totj:.4f} c1/jxl={tot1/totj:.4f} c2/c1={tot2/tot1:.4f}  >jxl: {sum(w[0]>1 for w in worst)}  worst', [(f'{a:.3f}', b, f'{c:.3f}') for a, b, c in worst[-6:]])
    return worst

if __name__ == '__main__':
    import ast
    for P in ast.literal_eval(sys.argv[1]):
        run(P, sys.argv[2] if len(sys.argv) > 2 else None)
