"""An image reduced to a palette: the result of quantising, before coding.

:class:`Quantized` is what the k-means engines return and what the API
hands out; :func:`expand` turns a palette and indices back into pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import container
from .coder import get_coder
from .errors import ParameterError
from .options import MAX_COLORS

__all__ = ["Quantized", "expand"]


@dataclass(frozen=True)
class Quantized:
    """An image reduced to a palette, before it is written as bytes.

    Attributes
    ----------
    palette : ndarray of shape (K, 3), uint8
        Or (K, 4) for an image with alpha: R, G, B, A (spec section 12).
    indices : ndarray of shape (H, W), uint8 or uint16
    iterations : int
        Lloyd iterations the clustering took (0 when none was needed).
    error : int or float
        Sum of squared differences between input and decoded image over all
        pixels and channels; with alpha, of the premultiplied values
        (R*A/255, G*A/255, B*A/255, A).
    """

    palette: np.ndarray
    indices: np.ndarray
    iterations: int
    error: float

    def __post_init__(self) -> None:
        # Made by the engine, or by a caller: the coders trust what they are
        # given (the compiled one indexes arrays by these values), so the
        # shapes, types and ranges are checked here, once.
        pal, idx = self.palette, self.indices
        if not (isinstance(pal, np.ndarray) and pal.dtype == np.uint8 and pal.ndim == 2
                and pal.shape[1] in (3, 4) and 1 <= len(pal) <= MAX_COLORS):
            raise ParameterError(
                f"palette has shape {getattr(pal, 'shape', None)} and dtype"
                f" {getattr(pal, 'dtype', type(pal).__name__)}; it must be (K, 3) or, with alpha,"
                f" (K, 4) uint8, with 1 <= K <= {MAX_COLORS}")
        if not (isinstance(idx, np.ndarray) and idx.dtype in (np.uint8, np.uint16) and idx.ndim == 2
                and idx.size > 0):
            raise ParameterError(
                f"indices have shape {getattr(idx, 'shape', None)} and dtype"
                f" {getattr(idx, 'dtype', type(idx).__name__)}; they must be (H, W) uint8 or uint16")
        top = int(idx.max())
        if top >= len(pal):
            raise ParameterError(f"indices hold {top}; every index must be below K = {len(pal)}")

    @property
    def alpha(self) -> bool:
        """Whether its file has alpha: some entry is not fully opaque (a
        (K, 4) palette of opaque entries is written as a version-1 file)."""
        return self.palette.shape[1] == 4 and bool((self.palette[:, 3] < 255).any())

    @property
    def mse(self) -> float:
        """Mean squared error per channel sample, 0-255 scale (with alpha:
        over the four premultiplied channels)."""
        return self.error / (self.palette.shape[1] * self.indices.size)

    @property
    def shape(self) -> tuple[int, int]:
        return self.indices.shape

    def to_bytes(self, coder: str | int = "packed", raw_palette: bool = False) -> bytes:
        """The .kmc file for this palette and these indices.

        ``coder`` is a registered coder's name or id (:func:`kmcodec.coder.coders`):
        "packed" (the formula, default), "entropy" (smaller; spec section 11)
        or "mix" (smaller again; section 13).  ``raw_palette`` keeps the
        palette raw where coding it (format version 3) would be smaller.
        """
        height, width = self.indices.shape
        return container.build(width, height, self.palette, self.indices, get_coder(coder),
                               False if raw_palette else None)

    def write_to(self, fh, coder: str | int = "packed", raw_palette: bool = False) -> int:
        """Write the .kmc file to the binary file ``fh``; return its size in bytes."""
        height, width = self.indices.shape
        return container.write(fh, width, height, self.palette, self.indices, get_coder(coder),
                               False if raw_palette else None)

    def to_rgb(self) -> np.ndarray:
        """The decoded image: (H, W, 3) uint8, or (H, W, 4) RGBA with alpha."""
        return expand(self.palette, self.indices)


_EXPAND_CHUNK = 1 << 16  # pixels per np.take call: its index temporaries stay in cache


def expand(palette: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``palette[indices]``, fast: 4-byte table lookups in cache-sized chunks.

    Parameters
    ----------
    palette : ndarray of shape (K, C), uint8, C = 3 (RGB) or 4 (RGBA)
    indices : ndarray of shape (H, W), unsigned, every value < K

    Returns
    -------
    ndarray of shape (H, W, C), uint8
        For C = 3, a view of an (H, W, 4) buffer (strides ``(4*W, 4, 1)``),
        since copying 4-byte pixels is twice as fast as copying 3-byte
        ones; use ``np.ascontiguousarray`` where packed rows are needed.
    """
    height, width = indices.shape
    channels = palette.shape[1]
    rgbx = np.zeros((len(palette), 4), dtype=np.uint8)
    rgbx[:, :channels] = palette
    table = rgbx.view(np.uint32).reshape(-1)
    out = np.empty((height, width, 4), dtype=np.uint8)
    flat_out = out.view(np.uint32).reshape(-1)
    flat_idx = indices.reshape(-1)
    for start in range(0, flat_idx.size, _EXPAND_CHUNK):
        stop = start + _EXPAND_CHUNK
        np.take(table, flat_idx[start:stop], out=flat_out[start:stop])
    return out[:, :, :channels]
