"""Compiled inner loop of the coded palette (see :mod:`kmcodec.palette_code`,
spec section 14).

One function walks the binary tree of the palette's keys in either
direction, as coder 1's stripes do (:mod:`kmcodec._entropy_jit`): the
encoder knows each node's keys and codes what it sees, the decoder decodes
the same decisions and rebuilds the keys, so the two cannot drift apart.
The walk is depth first with an explicit stack of at most ``depth + 1``
nodes (one pending 1-half a level, and the pair just pushed); the decoder
stops at the first entry beyond ``colors``, so its work is bounded by
``(colors + 1) * (depth + 1)`` nodes whatever the stream holds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._entropy_jit import _plain
from .jitcache import private_cache

#: Parent symbols: 0 only the 0-half, 1 only the 1-half, 2 both; 3 at the root.
ROOT = 3

#: Decoder outcomes besides success (0).
TOO_MANY = 1
STREAM_LENGTH = 2


@njit
def _code(dec, keys, colors, depth, inbuf, out):
    """Code the sorted ``keys`` (encoder) or fill them (decoder).

    Returns ``(status, entries, bytes)``: the decoder's status (0, or
    :data:`TOO_MANY` when the tree holds more than ``colors`` entries,
    :data:`STREAM_LENGTH` when the stream is not exactly what the decoding
    reads), the number of entries found and the stream's length.
    """
    rate = np.empty(256, np.int64)
    for n in range(256):
        rate[n] = 655360 // (10 * n + 16)
    # Counters BOTH[d][s] then ONE[d][s]: p = 32768, n = 0.
    T = np.full(2 * depth * 4, np.int64(32768 << 8), np.int64)
    x1 = np.int64(0)
    x2 = np.int64(0xFFFFFFFF)
    xv = np.int64(0)
    pos = 0
    if dec:
        for i in range(4):
            xv = (xv << 8) | (np.int64(inbuf[i]) if i < inbuf.shape[0] else 0)
        pos = 4
    size = 2 * depth + 2
    s_lo = np.zeros(size, np.int64)
    s_hi = np.zeros(size, np.int64)
    s_d = np.zeros(size, np.int64)
    s_prefix = np.zeros(size, np.int64)
    s_sym = np.zeros(size, np.int64)
    top = 1
    s_hi[0] = colors
    s_sym[0] = ROOT
    found = 0
    while top > 0:
        top -= 1
        lo = s_lo[top]
        hi = s_hi[top]
        d = s_d[top]
        prefix = s_prefix[top]
        sym = s_sym[top]
        if d == depth:
            if dec:
                if found == colors:
                    return TOO_MANY, found, pos
                keys[found] = prefix
            found += 1
            continue
        mid = lo
        if not dec:
            # The first key of the node whose next bit is 1.
            half = (prefix * 2 + 1) << (depth - 1 - d)
            a = lo
            b = hi
            while a < b:
                m = (a + b) >> 1
                if keys[m] < half:
                    a = m + 1
                else:
                    b = m
            mid = a
        both = np.int64(mid > lo and hi > mid)
        x1, x2, xv, pos, both = _plain(dec, x1, x2, xv, pos, inbuf, out, T, (d * 4 + sym), both, rate)
        one = np.int64(1)
        if both == 0:
            one = np.int64(hi > mid)
            x1, x2, xv, pos, one = _plain(dec, x1, x2, xv, pos, inbuf, out, T,
                                          (depth + d) * 4 + sym, one, rate)
        child = 2 if both else one
        # The 1-half is pushed first so that the 0-half is visited first.
        if both or one == 1:
            s_lo[top] = mid
            s_hi[top] = hi
            s_d[top] = d + 1
            s_prefix[top] = prefix * 2 + 1
            s_sym[top] = child
            top += 1
        if both or one == 0:
            s_lo[top] = lo
            s_hi[top] = mid
            s_d[top] = d + 1
            s_prefix[top] = prefix * 2
            s_sym[top] = child
            top += 1
    if dec:
        if pos != inbuf.shape[0]:
            return STREAM_LENGTH, found, pos
    else:
        for i in range(4):
            out[pos] = (x1 >> (24 - 8 * i)) & 255
            pos += 1
    return 0, found, pos


@njit(nogil=True)
def decode_keys(keys, colors, depth, inbuf, spare):
    """Decode a coded palette's keys into ``keys`` (int64, ``colors`` long).

    ``spare`` is not written (any writable uint8 array will do).
    """
    return _code(True, keys, colors, depth, inbuf, spare)


@njit(nogil=True)
def encode_keys(keys, depth, out):
    """Code the ascending, distinct ``keys`` into ``out`` (uint8, large enough)."""
    return _code(False, keys, keys.shape[0], depth, out, out)


private_cache(decode_keys, "the palette decoder", seconds="1 to 3 s")
private_cache(encode_keys, "the palette encoder", seconds="1 to 3 s")
