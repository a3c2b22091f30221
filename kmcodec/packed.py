"""Coder 0 ("packed"): every index in ceil(log2 K) bits, MSB first.

The tutorials' layout, and the default: the payload is exactly
``ceil(N * b / 8)`` bytes, so a file is ``32 + 3K + ceil(N*b/8)`` bytes,
the formula 24K + N*ceil(log2 K) bits plus 32 bytes (spec section 5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import bitpack
from .coder import Coder, fits_in_memory, register, too_big
from .errors import FormatError

if TYPE_CHECKING:
    from .container import Header, KmcInfo

__all__ = ["PackedCoder"]


class PackedCoder(Coder):
    id = 0
    name = "packed"
    compare_row = "kmc"
    summary = "the formula, ceil(log2 K) bits per pixel"

    def check_header(self, header: Header) -> None:
        expected = bitpack.packed_size(header.pixels, header.bits_per_index)
        if header.payload_bytes != expected:
            raise FormatError(
                f"payload_bytes is {header.payload_bytes}, must be ceil({header.width}*"
                f"{header.height}*{header.bits_per_index}/8) = {expected} for the packed coder"
            )

    def encode(self, indices: np.ndarray, palette: np.ndarray) -> bytes | memoryview:
        flat = np.ascontiguousarray(indices).reshape(-1)
        bits = (len(palette) - 1).bit_length()  # ceil(log2 K)
        if bits == 8:
            return flat.astype(np.uint8, copy=False).data  # no copy for 8-bit indices
        return bitpack.pack(flat, bits)

    def decode(self, payload: memoryview, header: Header, palette: np.ndarray) -> np.ndarray:
        bits = header.bits_per_index
        pad = bitpack.padding_bits(header.pixels, bits)
        if pad and payload[-1] & ((1 << pad) - 1):
            raise FormatError(
                f"the last payload byte is {payload[-1]:#04x}; its {pad} padding bits must be zero"
            )
        if not fits_in_memory(header.pixels * bitpack.index_dtype(bits).itemsize):
            raise too_big(header)
        try:
            indices = bitpack.unpack(payload, header.pixels, bits)
        except (MemoryError, ValueError):  # the length was checked: only size fails here
            raise too_big(header) from None
        if header.colors < (1 << bits) and int(indices.max()) >= header.colors:
            where = int(np.argmax(indices >= header.colors))  # the first bad pixel
            raise FormatError(
                f"index {int(indices[where])} at pixel {where} (row {where // header.width}, "
                f"column {where % header.width}) is >= colors = {header.colors}"
            )
        return indices

    def layout(self, payload: memoryview, header: Header) -> dict[str, int]:
        # Unpacking is cheap (no model to run), so info makes coder 0's
        # payload checks in full: padding bits and every index below K.
        self.decode(payload, header, np.empty((0, 3), np.uint8))
        return {}

    def describe(self, meta: KmcInfo) -> list[tuple[str, str]]:
        return [("indices", (f"{meta.index_bytes:>12,} bytes  = "
                            f"ceil({meta.width * meta.height} x {meta.bits_per_index} / 8)"))]


register(PackedCoder())
