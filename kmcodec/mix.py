"""Coder 2, "mix": the executable form of section 13 of ``spec/kmc-format.md``.

Each index is asked against up to 25 candidates (the match: the index
that followed the last copy of a wider neighbourhood, at the same offset
while it keeps predicting; the last index seen after the same
neighbourhood in two context tables, the neighbours, and the 16 entries
first in the palette order of the prediction's cell),
ordered by their distance to a weighted prediction of the colour (less
the mean error of its context, where that has helped), each question a
two-layer mix of ten adaptive counters (four of them relative: the
candidate's brightness against its neighbours', against the prediction
and against the gradient a + b - c) refined by two adaptive probability
maps; an index that is none of them is coded by its rank
around the prediction.  The payload is one orientation byte (the index
image coded row by row, or transposed: the model looks left and up, and
some images are cheaper seen the other way) and then coder 1's layout
(stripe table, one arithmetic-coded stream per stripe) of the image in
that orientation; the model is in :mod:`kmcodec._mix_jit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import entropy
from .coder import allocate_indices, fits_in_memory, register, too_big
from .errors import FormatError, PixelLimitError

if TYPE_CHECKING:
    from .container import Header, KmcInfo

__all__ = ["MixCoder", "encode_payload", "decode_payload", "payload_layout", "choose_orientation", "ROWS", "COLUMNS"]

#: The orientation byte (spec section 13): the index image coded as
#: stored, or its transpose (the stored image's columns coded as rows).
ROWS, COLUMNS = 0, 1
#: Images up to this many pixels are coded both ways and the smaller kept;
#: larger ones choose on a centred crop of at most this many pixels.
TRIAL_PIXELS = 1 << 20


def _both(indices: np.ndarray, palette: np.ndarray, stripe_rows: int | None) -> list[bytes]:
    """The stripe payloads of ``indices`` and of its transpose, on two
    threads (an image of one stripe leaves the second core idle)."""
    from . import _signals

    views = (indices, indices.T)
    return _signals.threaded(
        lambda view: entropy.encode_payload(view, len(palette), palette, stripe_rows, engine="mix"), views, 2)


def choose_orientation(indices: np.ndarray, palette: np.ndarray) -> int:
    """The orientation this encoder codes ``indices`` in: the smaller of
    the two codings of a centred crop of at most :data:`TRIAL_PIXELS`."""
    height, width = indices.shape
    rows = min(height, max(1024, TRIAL_PIXELS // width))  # a narrow image's crop is tall
    cols = min(width, max(1, TRIAL_PIXELS // rows))
    y0, x0 = (height - rows) // 2, (width - cols) // 2
    plain, transposed = _both(indices[y0 : y0 + rows, x0 : x0 + cols], palette, None)
    return COLUMNS if len(transposed) < len(plain) else ROWS


def encode_payload(indices: np.ndarray, palette: np.ndarray, stripe_rows: int | None = None,
                   orientation: int | None = None) -> bytes:
    """Code an (H, W) index array; return the whole coder-2 payload.

    Parameters
    ----------
    indices : (H, W) integer ndarray
        Trusted to lie in ``[0, len(palette))`` (validated upstream).
    palette : (K, 3) ndarray, or (K, 4) with alpha
        The palette colours, 0 to 255 (uint8 values).
    stripe_rows : int, optional
        Rows per stripe of the image as coded (the transpose's rows when
        the orientation is :data:`COLUMNS`); defaults to
        :func:`kmcodec.entropy.stripe_rows_for`.
    orientation : {None, 0, 1}, optional
        :data:`ROWS` or :data:`COLUMNS`; None (the default) codes an image
        of at most :data:`TRIAL_PIXELS` both ways and keeps the smaller
        (``ROWS`` on a tie), and chooses a larger image's by
        :func:`choose_orientation`.

    Returns
    -------
    bytes
        The orientation byte, the stripe table and the streams.
    """
    if orientation is None:
        if indices.size <= TRIAL_PIXELS:
            plain, transposed = _both(indices, palette, stripe_rows)
            return bytes([COLUMNS]) + transposed if len(transposed) < len(plain) else bytes([ROWS]) + plain
        orientation = choose_orientation(indices, palette)
    view = indices.T if orientation == COLUMNS else indices
    return bytes([orientation]) + entropy.encode_payload(view, len(palette), palette, stripe_rows, engine="mix")


def _orientation(payload: bytes | memoryview) -> int:
    """The payload's orientation byte, checked (spec section 13.6)."""
    if len(payload) < 1:
        raise FormatError("mix payload: 0 bytes, too short for the orientation field (1 byte)")
    if payload[0] not in (ROWS, COLUMNS):
        raise FormatError(f"mix payload: orientation is {payload[0]}; it must be 0 (rows) or 1 (columns)")
    return int(payload[0])


def payload_layout(payload: bytes | memoryview, width: int, height: int) -> tuple[int, int, list[int]]:
    """The orientation, ``stripe_rows`` and stripe lengths of a coder-2
    payload for an image of ``width`` x ``height`` (as stored), checked in
    the order of spec section 13.6 without decoding."""
    orientation = _orientation(payload)
    coded_height, name = (width, "the transposed image's height") if orientation == COLUMNS else (height, "height")
    rows, lengths = entropy.payload_layout(memoryview(payload)[1:], coded_height, "mix",
                                           "mix payload after the orientation byte", name)
    return orientation, rows, lengths


def decode_payload(payload: bytes | memoryview, width: int, height: int, palette: np.ndarray,
                   out: np.ndarray) -> None:
    """Decode a coder-2 payload into ``out``, an (H, W) integer ndarray.

    Raises FormatError when the payload is malformed; time and memory are
    as :func:`kmcodec.entropy.decode_payload`'s, and a transposed payload
    is decoded into a uint16 (W, H) array first, then turned back.
    """
    if payload_layout(payload, width, height)[0] == ROWS:
        entropy.decode_payload(memoryview(payload)[1:], width, height, palette, out, engine="mix")
        return
    try:
        coded = np.empty((width, height), np.uint16)  # the type the compiled coder writes in place
    except (MemoryError, ValueError):  # ValueError: more than the address space
        raise PixelLimitError(f"width x height is {width} x {height}: the transposed image's indices are more"
                              " than this machine's memory") from None
    entropy.decode_payload(memoryview(payload)[1:], height, width, palette, coded, engine="mix", transposed=True)
    out[...] = coded.T


class MixCoder(entropy.EntropyCoder):
    id = 2
    name = "mix"
    compare_row = "kmc-mix"
    summary = ("context mixing over candidate indices and a weighted prediction (spec section 13):"
               " smaller than entropy, several times slower")

    def encode(self, indices: np.ndarray, palette: np.ndarray) -> bytes:
        return encode_payload(indices, palette)

    def decode(self, payload: memoryview, header: Header, palette: np.ndarray) -> np.ndarray:
        # Checked before any pixel memory: the compiled coder writes uint16
        # indices, so a uint8 result (K <= 256) or a transposed payload
        # needs a second, uint16 array while they are copied over.
        orientation = payload_layout(payload, header.width, header.height)[0]
        index_bytes = 1 if header.colors <= 256 else 2
        if (index_bytes == 1 or orientation == COLUMNS) and not fits_in_memory(header.pixels * (index_bytes + 2)):
            raise too_big(header)
        indices = allocate_indices(header)
        decode_payload(payload, header.width, header.height, palette, indices)
        return indices.reshape(-1)

    def layout(self, payload: memoryview, header: Header) -> dict[str, int]:
        orientation, _, lengths = payload_layout(payload, header.width, header.height)
        return {"orientation": orientation, "stripes": len(lengths), "stripe_table_bytes": 4 + 4 * len(lengths)}

    def head(self, meta: KmcInfo) -> tuple[int, str]:
        coded = "columns as rows" if meta.details["orientation"] == COLUMNS else "rows"
        return 1, f"orientation {meta.details['orientation']}: {coded}; "


register(MixCoder())
