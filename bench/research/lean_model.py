"""Cost-model prototype of coder 2 (ideal code lengths, no arithmetic coder)."""
import sys, json, os, glob, time
import numpy as np
from numba import njit
sys.path.insert(0, '/work/main')
from kmcodec._entropy_jit import _tables, _SQUASH_KNOTS, _hash, _pattern, cell_bits, _sort

LOG2 = np.array([-np.log2(max(i, 0.5) / 65536.0) for i in range(65537)])

@njit(inline='always')
def upd(T, c, bit, rate):
    t = T[c]; p = t >> 8; n = t & 255
    T[c] = ((p + ((((bit << 16) - p) * rate[n]) >> 16)) << 8) | (n + (n < 255))

@njit(inline='always')
def plain(T, c, bit, rate, LOG2):
    p = min(max(T[c] >> 8, 32), 65504)
    upd(T, c, bit, rate)
    return LOG2[p] if bit else LOG2[65536 - p]

@njit(inline='always')
def mixed(T, c, Hs, h, Wt, ws, bit, squash, stretch, rate, LOG2):
    s1 = stretch[T[c] >> 12]; s2 = stretch[Hs[h] >> 12]
    w0 = Wt[ws, 0]; w1 = Wt[ws, 1]; w2 = Wt[ws, 2]
    dot = min(max((w0 * s1 + w1 * s2 + w2 * 256) >> 16, -2047), 2047)
    p = min(max(squash[dot + 2048] * 16 + 8, 32), 65504)
    upd(T, c, bit, rate); upd(Hs, h, bit, rate)
    err = ((bit << 16) - p) >> 4
    Wt[ws, 0] = w0 + ((s1 * err) >> 10); Wt[ws, 1] = w1 + ((s2 * err) >> 10); Wt[ws, 2] = w2 + ((256 * err) >> 10)
    return LOG2[p] if bit else LOG2[65536 - p]

@njit
def lean_cost(img, pal, LOG2, acc, use_t1, use_q0, use_es):
    """Coder 1's model, costs per category in acc: 0 q1, 1 q2, 2 q2b, 3 lit-exp, 4 lit-man; counts 5.. """
    H, W = img.shape; K = pal.shape[0]; nch = pal.shape[1]
    squash = np.empty(4096, np.int64); stretch = np.empty(4096, np.int64); rate = np.empty(256, np.int64)
    _tables(_SQUASH_KNOTS, squash, stretch, rate)
    T = np.full(12740, 32768 << 8, np.int64); Hs = np.full(1 << 18, 32768 << 8, np.int64)
    Wt = np.empty((8, 3), np.int64)
    for i in range(8):
        Wt[i, 0] = 40000; Wt[i, 1] = 30000; Wt[i, 2] = 0
    g = cell_bits(K, nch); sh = 8 - g
    slot = np.full((1 << (nch * g)), -1, np.int64)
    order = np.zeros((min(1 << (nch * g), H * W), K), np.int64); rank = np.zeros_like(order); nrows = 0
    keys = np.empty(K, np.int64); spare = np.empty(K, np.int64)
    vals = np.empty(6, np.int64); rest = np.empty(8, np.int64); crank = np.empty(8, np.int64)
    seen = np.zeros(K, np.int64); centre = np.empty(4, np.int64)
    img2 = img.astype(np.int64)
    tab1 = np.full(1 << 20, -1, np.int64)
    T0 = np.full(256 * 8 * 4, 32768 << 8, np.int64)
    Tq = np.full(4096, 32768 << 8, np.int64)
    Texp = np.full(8 * 8 * 17 * 4, 32768 << 8, np.int64)
    es = np.zeros((2, W + 1), np.int64)  # per pixel: 0 hit, else 1 + min(e, 6) >> 1 bucket
    for y in range(H):
        for x in range(W):
            L = img2[y, x-1] if x >= 1 else -1
            LL = img2[y, x-2] if x >= 2 else -1
            U = img2[y-1, x] if y >= 1 else -1
            UL = img2[y-1, x-1] if y >= 1 and x >= 1 else -1
            UR = img2[y-1, x+1] if y >= 1 and x + 1 < W else -1
            UU = img2[y-2, x] if y >= 2 else -1
            X = img2[y, x]
            pat = _pattern(L, U, UL, UR, LL, UU)
            h1 = (_hash(L, U, _hash(UL, UR, LL)) >> 12) & ((1 << 20) - 1)
            T1 = tab1[h1]
            tab1[h1] = X
            esc = 0
            if x >= 1:
                esc = es[y & 1, x - 1]
            if y >= 1:
                esc = max(esc, es[(y - 1) & 1, x])
            es[y & 1, x] = 0
            if use_q0 and T1 >= 0 and T1 != L:
                b0 = np.int64(X == T1)
                tq = (pat * 4 + (T1 == U) * 2 + (T1 == UR)) & 4095
                acc[0] += mixed(Tq, tq, Hs, _hash(7777, T1, L), Wt, 0, b0, squash, stretch, rate, LOG2)
                if b0:
                    continue
            if L >= 0:
                tl = (T1 == L) + 2 * (T1 < 0) if use_t1 else 0
                acc[0] += mixed(T0, pat * 4 + tl, Hs, _hash(0, L, U), Wt, pat & 3, np.int64(X == L), squash, stretch, rate, LOG2)
                acc[5] += 1
                if X == L:
                    continue
            vals[0] = L; vals[1] = U; vals[2] = UR; vals[3] = UL; vals[4] = LL; vals[5] = UU
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
                    rest[m] = v; m += 1
            if m > 0:
                inset = 0
                for i in range(m):
                    if rest[i] == X:
                        inset = 1
                acc[1] += mixed(T, 256 + pat * 8 + m, Hs, _hash(m, L, U), Wt, 4 + (pat & 3), np.int64(inset), squash, stretch, rate, LOG2)
                acc[6] += 1
                if inset:
                    for i in range(m - 1):
                        b = np.int64(rest[i] == X)
                        acc[2] += plain(T, 2304 + (i * 256 + pat) * 8 + m, b, rate, LOG2)
                        if b:
                            break
                    acc[7] += 1
                    continue
            if L >= 0:
                rest[m] = L; m += 1
            act = 0; cell = 0
            for ch in range(nch):
                if L >= 0 and U >= 0 and UL >= 0:
                    pc = pal[L, ch] + pal[U, ch] - pal[UL, ch]
                    act += abs(pal[L, ch] - pal[UL, ch]) + abs(pal[U, ch] - pal[UL, ch])
                elif L >= 0:
                    pc = pal[L, ch]
                elif U >= 0:
                    pc = pal[U, ch]
                else:
                    pc = 128
                cell = (cell << g) | (min(max(pc, 0), 255) >> sh)
            aq = 0
            while aq < 7 and act >= (4 << aq):
                aq += 1
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
            nc = 0
            for i in range(m):
                v = rest[i]
                if seen[v] == 0:
                    seen[v] = 1; crank[nc] = rank[r_, v]; nc += 1
            for i in range(m):
                seen[rest[i]] = 0
            left = K - nc
            emax = 0
            while (left >> (emax + 1)) > 0:
                emax += 1
            r0 = rank[r_, X]; rx = r0
            for i in range(nc):
                if crank[i] < r0:
                    rx -= 1
            v = rx + 1; e = 0
            while (v >> (e + 1)) > 0:
                e += 1
            ncx = min(nc, 7)
            es[y & 1, x] = 1 + min(e, 6) // 2
            ee = 0
            while ee < emax:
                b = np.int64(ee < e)
                if use_es:
                    acc[3] += plain(Texp, ((aq * 8 + ncx) * 17 + ee) * 4 + esc, b, rate, LOG2)
                else:
                    acc[3] += plain(T, 10496 + (aq * 8 + ncx) * 17 + ee, b, rate, LOG2)
                if b == 0:
                    break
                ee += 1
            v2 = 1
            for i in range(e - 1, -1, -1):
                b = (v >> i) & 1
                acc[4] += plain(T, 11584 + (e * 17 + i) * 4 + (min(v2, 3) if e - 1 - i < 2 else 0), b, rate, LOG2)
                v2 = (v2 << 1) | b
            acc[8] += 1

def load():
    cache = json.load(open('/tmp/c2/cache.json'))
    out = []
    for key, r in cache.items():
        z = np.load(f'/tmp/c2/{key}.npz')
        out.append((key, r, z['indices'], z['palette'].astype(np.int64)))
    return out

if __name__ == '__main__':
    sys.path.insert(0, '/work/c2wt/bench/research')
    from coder1_model import coder1_cost
    variants = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1), (0, 0, 1)]
    sums = np.zeros(len(variants) + 1); jsum = 0; worst = [0.0] * (len(variants) + 1)
    for key, r, idx, pal in load():
        jsum += r['jxl']
        a = np.zeros(10); coder1_cost(idx, pal, LOG2, a); base = a[:5].sum() / 8
        sums[0] += base * r['c1'] / base  # coder 1 real size
        line = f"{key:18s} c1/jxl={r['c1']/r['jxl']:.3f}"
        for i, v in enumerate(variants):
            a = np.zeros(10); lean_cost(idx, pal, LOG2, a, *v); est = a[:5].sum() / 8 * r['c1'] / base
            sums[i + 1] += est
            worst[i + 1] = max(worst[i + 1], est / r['jxl'])
            line += f" {v}={est / r['jxl']:.3f}"
        print(line, flush=True)
    print("sum c1/jxl", sums[0] / jsum)
    for i, v in enumerate(variants):
        print(v, "sum/jxl", round(sums[i + 1] / jsum, 4), "worst", round(worst[i + 1], 3))
