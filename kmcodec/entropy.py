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
from typing import TYPE_CHECKING

import numpy as np

from .coder import Coder, allocate_indices, register
from .errors import FormatError, PixelLimitError

if TYPE_CHECKING:
    from .container import Header, KmcInfo

__all__ = ["EntropyCoder", "encode_payload", "decode_payload", "payload_layout", "stripe_rows_for"]

#: Target pixels per stripe; stripes are whole rows (spec section 11.1).
STRIPE_PIXELS = 1 << 20
#: Error codes returned by the compiled decoder.
_OK, _BAD_RANK, _NO_LITERAL, _BAD_END = 0, 1, 2, 3
#: The encoder's stand-in for the input stream, which it does not read.
_EMPTY = np.frombuffer(b"\0", np.uint8)


def stripe_rows_for(width: int, height: int) -> int:
    """Rows per stripe chosen by this encoder: about 2**20 pixels each."""
    return max(1, min(height, -(-STRIPE_PIXELS // width)))


def _stripe_table(payload: bytes | memoryview, height: int, label: str = "entropy", subject: str | None = None,
                  height_name: str = "height") -> tuple[int, np.ndarray]:
    """``stripe_rows`` and the stripe lengths as a uint32 array, checked.

    ``label`` names the coder in messages (coders 1 and 2 share the layout);
    ``subject`` replaces ``"{label} payload"`` and ``height_name`` the word
    "height" (coder 2: the bytes after its orientation byte, and the coded
    image's height).
    """
    subject = subject or f"{label} payload"
    size = len(payload)
    if size < 4:
        raise FormatError(f"{subject}: {size} bytes, too short for the stripe_rows field (4 bytes)")
    (rows,) = struct.unpack_from("<I", payload, 0)
    if rows < 1:
        raise FormatError(f"{subject}: stripe_rows is 0; it must be at least 1")
    stripes = -(-height // rows)
    table_end = 4 + 4 * stripes
    if size < table_end:
        raise FormatError(
            f"{subject}: {size} bytes cannot hold the stripe table of {stripes} stripes"
            f" ({table_end} bytes for stripe_rows {rows} and {height_name} {height})"
        )
    lengths = np.frombuffer(payload, "<u4", stripes, 4)
    total = table_end + int(lengths.sum(dtype=np.int64))
    if total != size:
        raise FormatError(
            f"{subject}: stripe lengths sum to {total - table_end} bytes but"
            f" {size - table_end} follow the stripe table"
        )
    return rows, lengths


def payload_layout(payload: bytes | memoryview, height: int, label: str = "entropy", subject: str | None = None,
                   height_name: str = "height") -> tuple[int, list[int]]:
    """Parse the stripe table at the start of a coder-1 payload (of coder
    2's after its orientation byte).

    Parameters
    ----------
    payload : bytes or memoryview
        The whole coder-1 payload.
    height : int
        The image height (the coded image's for coder 2), which fixes the
        number of stripes.
    label, subject, height_name : str, optional
        Names in messages (see :func:`_stripe_table`).

    Returns
    -------
    stripe_rows : int
    lengths : list of int
        The length of each stripe's stream.

    Raises
    ------
    FormatError
        When the table does not describe exactly the payload (spec section
        11.1).  The check reads only the table, so it is cheap enough to
        make before any pixel memory is allocated.
    """
    rows, lengths = _stripe_table(payload, height, label, subject, height_name)
    return rows, lengths.tolist()


def _engine(name: str):
    """The compiled module of a coder: ``"entropy"`` (coder 1) or ``"mix"`` (coder 2)."""
    if name == "mix":
        from . import _mix_jit

        return _mix_jit
    from . import _entropy_jit

    return _entropy_jit


def _run_ranges(count: int, job, colors: int, channels: int, width: int, rows: int, height: int,
                engine: str = "entropy") -> list:
    """Run ``job(s0, s1, tables)`` on a few threads over stripes 0 .. count-1.

    Each thread codes one contiguous run of stripes in one compiled call,
    with its own palette-order tables (they depend only on the palette, so
    they serve all its stripes) and model tables, passed as the last
    arguments of the compiled call.  Returns the jobs' results in stripe
    order.
    """
    from . import _entropy_jit

    jit = _engine(engine)
    workers = max(1, min(count, os.cpu_count() or 1))
    # The plain Python function: calling the compiled one from here would
    # load a second compiled function from the cache, for one integer.
    ncell = 1 << (channels * _entropy_jit.cell_bits.py_func(colors, channels))

    def run(w: int):
        s0, s1 = w * count // workers, (w + 1) * count // workers
        pixels = width * max(0, min(s1 * rows, height) - s0 * rows)
        # One order row per cell used, and a pixel opens at most one new
        # cell (coder 1's literals, every pixel of coder 2): memory stays
        # within min(cells, pixels) rows.
        cells = max(1, min(ncell, pixels))
        slot = np.full(ncell + 1, -1, np.int32)
        slot[-1] = 0
        tables = (np.empty((cells, colors), np.uint16), np.empty((cells, colors), np.uint16), slot,
                  jit.workspace(colors, width, channels))
        return job(s0, s1, tables)

    from . import _signals

    return _signals.threaded(run, range(workers), workers)


def _index_dtype(colors: int, engine: str = "entropy") -> type:
    """The index type the compiled coder is built for, given K."""
    return np.uint8 if colors <= 256 and engine == "entropy" else np.uint16


def encode_payload(indices: np.ndarray, colors: int, palette: np.ndarray,
                   stripe_rows: int | None = None, engine: str = "entropy") -> bytes:
    """Code an (H, W) index array; return the whole coder-1 payload (with
    ``engine="mix"``, coder 2's payload after its orientation byte: see
    :func:`kmcodec.mix.encode_payload`).

    Parameters
    ----------
    indices : (H, W) integer ndarray
        Trusted to lie in ``[0, colors)`` (validated upstream).
    colors : int
        K, the palette size.
    palette : (K, 3) ndarray, or (K, 4) with alpha
        The palette colours.
    stripe_rows : int, optional
        Rows per stripe; defaults to :func:`stripe_rows_for`.  Any value
        from 1 up gives a valid payload (the tests use small ones).

    Returns
    -------
    bytes
        The stripe table followed by the streams.
    """
    jit = _engine(engine)
    height, width = indices.shape
    rows = stripe_rows or stripe_rows_for(width, height)
    pal = np.ascontiguousarray(palette, dtype=np.int64).reshape(colors, -1)
    # Only uint8 and uint16 are compiled for (each signature costs a compile;
    # coder 2, slower per pixel than a copy, only for uint16).
    img: np.ndarray = np.ascontiguousarray(indices, dtype=_index_dtype(colors, engine))
    if not img.flags.writeable:
        img = img.copy()
    count = -(-height // rows)

    def job(s0: int, s1: int, tables) -> tuple[np.ndarray, np.ndarray]:
        ends = np.zeros(s1 - s0, np.int64)
        pixels = width * (min(s1 * rows, height) - s0 * rows)
        out = np.empty(pixels // 2 + 64 * width + 1024, np.uint8)
        out, n = jit.encode_stripes(img, rows, s0, s1, pal, _EMPTY, ends, out, np.zeros(4, np.int64), *tables)
        return out[:n], ends

    parts = _run_ranges(count, job, colors, pal.shape[1], width, rows, height, engine)
    lengths = np.concatenate([np.diff(ends, prepend=0) for _, ends in parts])
    if len(lengths) and int(lengths.max()) >= 1 << 32:
        raise OverflowError(f"entropy payload: a stripe of {int(lengths.max())} bytes does not fit"
                            " the 32-bit stripe table; use fewer stripe_rows")
    head = struct.pack("<I", rows) + lengths.astype("<u4").tobytes()
    return b"".join([head, *(memoryview(out) for out, _ in parts)])


def decode_payload(payload: bytes | memoryview, width: int, height: int, palette: np.ndarray,
                   out: np.ndarray, engine: str = "entropy", transposed: bool = False) -> None:
    """Decode a coder-1 payload into ``out`` (with ``engine="mix"``, coder
    2's payload after its orientation byte: see :func:`kmcodec.mix.decode_payload`).

    Parameters
    ----------
    payload : bytes or memoryview
        The whole coder-1 payload.
    width, height : int
        The size of the image as coded (coder 2's transpose when its
        orientation is 1).
    palette : (K, 3) ndarray, or (K, 4) with alpha
        The palette colours.
    out : (H, W) integer ndarray
        Receives the indices; uint8 (K <= 256) or uint16 C-contiguous
        arrays are written in place, others through a copy.
    engine : {"entropy", "mix"}
        The model: coder 1's or coder 2's.
    transposed : bool
        The stripes code the stored image's transpose (coder 2's
        orientation byte): a message names the stored image's pixel.

    Raises
    ------
    FormatError
        When the payload is malformed.  Work is linear in the pixels and
        the payload's bytes, and memory bounded by the image size and K,
        whatever the payload holds (its stripe layout included).
    """
    jit = _engine(engine)
    rows, lengths = _stripe_table(payload, height, engine)
    colors = len(palette)
    pal = np.ascontiguousarray(palette, dtype=np.int64).reshape(colors, -1)
    data = np.frombuffer(payload, np.uint8)
    data.flags.writeable = False  # one compiled signature for bytes and bytearray alike
    offsets = np.empty(len(lengths) + 1, np.int64)
    offsets[0] = 4 + 4 * len(lengths)
    np.cumsum(lengths, dtype=np.int64, out=offsets[1:])
    offsets[1:] += offsets[0]
    dtype = _index_dtype(colors, engine)
    direct = (out.dtype == dtype and out.shape == (height, width) and out.flags.c_contiguous
              and out.flags.writeable)
    try:
        img = out if direct else np.empty((height, width), dtype)
    except (MemoryError, ValueError):  # ValueError: more than the address space
        raise PixelLimitError(f"width x height is {width} x {height}: the decoder's index array is more than"
                              " this machine's memory") from None

    def job(s0: int, s1: int, tables) -> np.ndarray:
        status = np.zeros(4, np.int64)
        jit.decode_stripes(img, rows, s0, s1, pal, data, offsets, np.empty(1, np.uint8), status, *tables)
        return status

    try:
        statuses = _run_ranges(len(lengths), job, colors, pal.shape[1], width, rows, height, engine)
    except MemoryError:
        # A forged width makes the coder's row window (24 bytes a column a thread for
        # coder 1, 68 for coder 2) more than memory, before any pixel is decoded.
        side, wide = ("height", "tall") if transposed else ("width", "wide")
        raise PixelLimitError(f"{side} is {width}: the decoder's row buffers for so {wide} an image"
                              " are more than this machine's memory") from None
    for status in statuses:
        if status[0] == _BAD_END:
            _, s, used, size = (int(v) for v in status)
            raise FormatError(
                f"{engine} payload: stripe {s}'s stream is {size} bytes but decoding it reads {used};"
                " the coded data is corrupt (a stream is exactly as long as its decoding reads,"
                " spec section 11.3)")
        if status[0] != _OK:
            what, s, y, x = (int(v) for v in status)
            if transposed:
                x, y = y, x
            rule = ("a literal rank beyond the palette entries left" if what == _BAD_RANK
                    else f"a literal where every palette entry is a {'candidate' if engine == 'mix' else 'neighbour'}")
            raise FormatError(f"{engine} payload: stripe {s} decodes to {rule} at pixel"
                              f" (x={x}, y={y}); the coded data is corrupt")
    if not direct:
        out[...] = img


class EntropyCoder(Coder):
    id = 1
    name = "entropy"
    compare_row = "kmc-entropy"
    summary = ("context-modelled arithmetic coding (spec section 11), usually smaller than"
               " lossless WebP of the same pixels")

    def encode(self, indices: np.ndarray, palette: np.ndarray) -> bytes:
        return encode_payload(indices, len(palette), palette, engine=self.name)

    def decode(self, payload: memoryview, header: Header, palette: np.ndarray) -> np.ndarray:
        _stripe_table(payload, header.height, self.name)  # checked before any pixel memory
        indices = allocate_indices(header)
        decode_payload(payload, header.width, header.height, palette, indices, engine=self.name)
        return indices.reshape(-1)

    def layout(self, payload: memoryview, header: Header) -> dict[str, int]:
        stripes = len(payload_layout(payload, header.height, self.name)[1])
        return {"stripes": stripes, "stripe_table_bytes": 4 + 4 * stripes}

    def head(self, meta: KmcInfo) -> tuple[int, str]:
        """The payload's bytes before its stripe table, and their words in
        ``kmc info`` (coder 2's orientation byte; none here)."""
        return 0, ""

    def describe(self, meta: KmcInfo) -> list[tuple[str, str]]:
        stripes, table = meta.details["stripes"], meta.details["stripe_table_bytes"]
        plural = "s" if stripes > 1 else ""
        head, words = self.head(meta)
        return [
            *super().describe(meta),
            ("  table", f"{head + table:>12,} bytes  ({words}stripe_rows and {stripes} stripe length{plural})"),
            ("  streams", (f"{meta.index_bytes - head - table:>12,} bytes  ({stripes} arithmetic-coded"
                          f" stripe{plural})")),
        ]


register(EntropyCoder())
