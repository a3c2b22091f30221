"""Writing a decoded .kmc image as PNG row by row, in bounded memory.

A .kmc file with K <= 256 colours *is* a palette image, so it becomes a
palette PNG (colour type 3, bit depth 8) whose pixels are exactly the
decoded pixels, the alphas of a palette with alpha in a tRNS chunk; with
more colours the rows are expanded to RGB (colour type 2) or RGBA (6).
Rows are compressed as they are produced, so memory is the indices plus
one band of rows, never the whole RGB image (Pillow's PNG
writer needs the whole image).  Filter type 0 on every row, as the PNG
specification recommends for palette images.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

from .quantized import expand

__all__ = ["write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BAND = 1 << 20  # pixels per band of rows


def _chunk(fh: BinaryIO, kind: bytes, data: bytes) -> None:
    fh.write(struct.pack(">I", len(data)))
    fh.write(kind)
    fh.write(data)
    fh.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


def write_png(fh: BinaryIO, palette: np.ndarray, indices: np.ndarray, level: int = 6) -> None:
    """Write the image ``palette[indices]`` to ``fh`` as a PNG.

    Parameters
    ----------
    fh : binary file
    palette : ndarray of shape (K, 3), or (K, 4) with alpha; uint8
    indices : ndarray of shape (H, W), uint8 or uint16
    level : int, default 6
        zlib compression level.
    """
    height, width = indices.shape
    paletted = len(palette) <= 256
    alpha = palette.shape[1] == 4
    fh.write(_SIGNATURE)
    kind = 3 if paletted else 6 if alpha else 2
    _chunk(fh, b"IHDR", struct.pack(">IIBBBBB", width, height, 8, kind, 0, 0, 0))
    if paletted:
        _chunk(fh, b"PLTE", np.ascontiguousarray(palette[:, :3], dtype=np.uint8).tobytes())
        see_through = np.flatnonzero(palette[:, 3] < 255) if alpha else np.empty(0, np.intp)
        if len(see_through):
            # Entries past the last non-opaque one are opaque without a tRNS byte.
            _chunk(fh, b"tRNS", np.ascontiguousarray(palette[: see_through[-1] + 1, 3], dtype=np.uint8).tobytes())
    z = zlib.compressobj(level)
    rows = max(1, _BAND // width)
    channels = 1 if paletted else palette.shape[1]
    for top in range(0, height, rows):
        band = indices[top : top + rows]
        pixels = band if paletted else np.ascontiguousarray(expand(palette, band))
        out = np.zeros((len(band), 1 + width * channels), dtype=np.uint8)  # filter byte 0
        out[:, 1:] = pixels.reshape(len(band), -1)
        data = z.compress(out.tobytes())
        if data:
            _chunk(fh, b"IDAT", data)
    _chunk(fh, b"IDAT", z.flush())
    _chunk(fh, b"IEND", b"")
