"""Coder 1 ("entropy"): context-modelled binary arithmetic coding of indices.

This module is the executable form of section 11 of ``spec/kmc-format.md``;
the names below follow the spec.  Each pixel's index is coded as at most
three questions, each a binary decision coded with an adaptive probability:

1. is it the same as the left neighbour?
2. if not, is it one of the other neighbours (up, up-right, up-left,
   left-left, up-up), and which?
3. if not, its rank among the remaining palette entries, ordered by
   distance to the colour predicted from its neighbours (gradient
   predictor), coded as an Elias-gamma number with adaptive bits.

The image is cut into stripes of whole rows that are coded independently,
so that both directions run on several cores.  The model and the coder use
integers only (every table is built by integer arithmetic), so encoder and
decoder agree bit for bit on every machine.

The inner loops need compiled speed: a NumPy formulation of this sequential
model ran at under 1 megapixel per second.  They are compiled by Numba,
imported only when a coder-1 payload is coded (``kmc info`` never needs it).
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import FormatError

__all__ = ["encode_payload", "decode_payload", "payload_layout", "stripe_rows_for"]

#: Target pixels per stripe; stripes are whole rows (spec section 11.1).
STRIPE_PIXELS = 1 << 20
#: Error codes returned by the compiled decoder.
_OK, _BAD_RANK, _NO_LITERAL = 0, 1, 2
#: A read-only stand-in for the input stream when encoding: one compiled
#: signature serves both directions.
_EMPTY = np.frombuffer(b"\0", np.uint8)


def stripe_rows_for(width: int, height: int) -> int:
    """Rows per stripe chosen by this encoder: about 2**20 pixels each."""
    return max(1, min(height, -(-STRIPE_PIXELS // width)))


def payload_layout(payload: bytes | memoryview, height: int) -> tuple[int, list[int]]:
    """Parse the stripe table at the start of a coder-1 payload.

    Returns ``(stripe_rows, lengths)``.  Raises FormatError when the table
    does not describe exactly the payload (spec section 11.1).
    """
    size = len(payload)
    if size < 4:
        raise FormatError(f"entropy payload: {size} bytes, too short for the stripe_rows field (4 bytes)")
    (rows,) = struct.unpack_from("<I", payload, 0)
    if rows < 1:
        raise FormatError("entropy payload: stripe_rows is 0; it must be at least 1")
    stripes = -(-height // rows)
    table_end = 4 + 4 * stripes
    if size < table_end:
        raise FormatError(
            f"entropy payload: {size} bytes cannot hold the stripe table of {stripes} stripes"
            f" ({table_end} bytes for stripe_rows {rows} and height {height})"
        )
    lengths = list(struct.unpack_from(f"<{stripes}I", payload, 4))
    total = table_end + sum(lengths)
    if total != size:
        raise FormatError(
            f"entropy payload: stripe lengths sum to {total - table_end} bytes but"
            f" {size - table_end} follow the stripe table"
        )
    return rows, lengths


def _run_stripes(count: int, job, colors: int, pixels: int) -> None:
    """Run ``job(s, tables)`` for every stripe s on a few threads.

    Each thread codes a contiguous run of stripes with its own palette-order
    tables, which it fills once and reuses (they depend only on the palette).
    """
    from . import _entropy_jit as jit

    workers = max(1, min(count, os.cpu_count() or 1))
    ncell = 1 << (3 * jit.cell_bits(colors))

    def run(w: int) -> None:
        # One order row per cell used, and a literal uses at most one new
        # cell: memory stays within min(cells, pixels) rows.
        rows = min(ncell, pixels)
        slot = np.full(ncell + 1, -1, np.int32)
        slot[-1] = 0
        tables = (np.empty((rows, colors), np.uint16), np.empty((rows, colors), np.uint16), slot)
        for s in range(w * count // workers, (w + 1) * count // workers):
            job(s, tables)

    if workers == 1:
        run(0)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, range(workers)))


def encode_payload(indices: np.ndarray, colors: int, palette: np.ndarray,
                   stripe_rows: int | None = None) -> bytes:
    """Code an (H, W) index array; return the whole coder-1 payload.

    ``indices`` are trusted to lie in ``[0, colors)`` (validated upstream).
    ``stripe_rows`` defaults to :func:`stripe_rows_for`; any value from 1
    up gives a valid payload (the tests use small ones).
    """
    from . import _entropy_jit as jit

    height, width = indices.shape
    rows = stripe_rows or stripe_rows_for(width, height)
    pal = np.ascontiguousarray(palette, dtype=np.int64).reshape(colors, 3)
    starts = list(range(0, height, rows))

    streams = [b""] * len(starts)

    def one(s: int, tables) -> None:
        block = np.ascontiguousarray(indices[starts[s] : starts[s] + rows], dtype=np.int32)
        out = np.empty(width * len(block) // 2 + 64 * width + 1024, np.uint8)
        out, n = jit.code_stripe(False, block, pal, _EMPTY, out, np.zeros(3, np.int64), *tables)
        streams[s] = out[:n].tobytes()

    _run_stripes(len(starts), one, colors, height * width)
    head = struct.pack(f"<I{len(streams)}I", rows, *map(len, streams))
    return head + b"".join(streams)



def decode_payload(payload: bytes | memoryview, width: int, height: int, palette: np.ndarray,
                   out: np.ndarray) -> None:
    """Decode a coder-1 payload into ``out``, an (H, W) integer array.

    Raises FormatError when the payload is malformed.  Work and memory are
    bounded by the image size and K whatever the payload holds.
    """
    from . import _entropy_jit as jit

    rows, lengths = payload_layout(payload, height)
    colors = len(palette)
    pal = np.ascontiguousarray(palette, dtype=np.int64).reshape(colors, 3)
    data = np.frombuffer(payload, np.uint8)
    offsets = np.cumsum([4 + 4 * len(lengths), *lengths])

    def one(s: int, tables) -> None:
        y0 = s * rows
        block = np.empty((min(rows, height - y0), width), np.int32)
        stream = data[offsets[s] : offsets[s + 1]]
        status = np.zeros(3, np.int64)
        jit.code_stripe(True, block, pal, stream, np.empty(1, np.uint8), status, *tables)
        if status[0] != _OK:
            what, y, x = (int(v) for v in status)
            rule = ("a literal rank beyond the palette entries left" if what == _BAD_RANK
                    else "a literal where every palette entry is a neighbour")
            raise FormatError(f"entropy payload: stripe {s} decodes to {rule} at pixel"
                              f" (x={x}, y={y0 + y}); the coded data is corrupt")
        out[y0 : y0 + len(block)] = block

    _run_stripes(len(lengths), one, colors, height * width)

