"""Dithering: mapping pixels to a palette so that areas keep their mean colour.

Without dithering every pixel takes its nearest entry, and a smooth
gradient becomes flat bands.  Error diffusion passes each pixel's error
(its colour minus its entry's) on to the pixels not yet mapped, so that a
mix of entries reproduces the colour on average.

Methods (``--dither``):

- ``none``: the nearest entry (the default);
- ``fs``: Floyd-Steinberg, the error spread 7/16 right, 3/16 down-left,
  5/16 down and 1/16 down-right, scanning rows alternately left to right
  and right to left (serpentine), which avoids the diagonal "worms" of
  one-way scanning;
- ``selective``: the same, but a pixel passes on its error only where the
  image is smooth around it: in full where it differs from each of its
  four neighbours by at most 8 (the sum of the channels' differences,
  8-bit values), not at all from 32 up, linearly between.  Edges stay
  crisp and texture, which hides banding anyway, is not dithered, so the
  file is smaller (6 to 15% with the entropy coder on photographs, against
  a loss of 0 to 3 SSIMULACRA2 points: ``bench/perceptual.py``).

The error is measured in the clustering space (``--space``: RGB, or Oklab
where it follows what the eye sees) and scaled by the strength
(``--dither-level``, 0 to 1).  It cannot build up where no entry can
follow, as in a saturated colour beyond the palette's range: a pixel plus
the error it receives is clipped to the palette's range in each channel
(except translucent pixels, whose low alphas lie outside that range), and
the error itself to :data:`LIMIT`.  With transparency, fully transparent
pixels neither take nor pass on error, opaque pixels take only opaque
entries and translucent ones any entry, so alpha stays exact where it must.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .colorspace import to_space

if TYPE_CHECKING:
    from .quantized import Quantized

__all__ = ["METHODS", "LIMIT", "remap", "dithered"]

_CHUNK = 1 << 20
#: The dithering methods, ``none`` first.
METHODS = ("none", "fs", "selective")
#: ``selective``'s two contrasts (see the module's docstring).
_SELECTIVE = (8, 32)
#: Largest error a pixel receives, per channel, in units of the space
#: (8-bit values in RGB; 255 x Oklab): half the range, so that two entries
#: as far apart as black and white still mix.
LIMIT = 128.0


def remap(pixels: np.ndarray, palette: np.ndarray, guess: np.ndarray, method: str, level: float,
          space: str) -> np.ndarray:
    """Each pixel's palette entry, dithered.

    Parameters
    ----------
    pixels : (H, W, C) uint8 ndarray
        C = 3, or 4 with straight alpha.
    palette : (K, C) uint8 ndarray
        The entries, in the same channels (with alpha: the transparent
        entry is (0, 0, 0, 0)).
    guess : (H, W) integer ndarray
        Each pixel's undithered entry (its nearest, under the alpha rules).
    method : str
        One of :data:`METHODS` other than ``"none"``.
    level : float
        Strength, 0 to 1: the share of the error passed on.
    space : {"rgb", "oklab"}
        Where the error is measured.

    Returns
    -------
    (H, W) int32 ndarray
    """
    from . import _dither_jit, colorspace
    from .clustering import _engine, _Table

    height, width, channels = pixels.shape
    flat = pixels.reshape(-1, channels)
    pal = np.ascontiguousarray(_points(palette, space))
    # Numba's default threading layer takes one caller at a time (the table
    # is built by a parallel kernel): the clustering engine's lock.
    with _engine():
        order, dist = _Table().of(pal)
        if channels == 4:
            alpha = flat[:, 3]
            kind = np.where(alpha == 0, -1, np.where(alpha == 255, 0, 1)).astype(np.int8)
            opaque_entry = palette[:, 3] == 255
            allowed = np.stack([opaque_entry if opaque_entry.any() else np.ones(len(palette), bool),
                                np.ones(len(palette), bool)])
        else:
            kind = np.zeros(len(flat), np.int8)
            allowed = np.ones((1, len(palette)), bool)
        lo, hi = pal.min(0), pal.max(0)
        out = np.empty((height, width), np.int32)
        _dither_jit.floyd_steinberg(np.ascontiguousarray(pixels, np.uint8), space == "oklab", colorspace._LINEAR,
                                    colorspace._M1, colorspace._M2, pal, np.ascontiguousarray(guess, np.int32),
                                    kind.reshape(height, width), allowed, np.ascontiguousarray(order, np.int64),
                                    np.ascontiguousarray(dist), float(level), LIMIT, lo, hi, out,
                                    *(_SELECTIVE if method == "selective" else (0, 0)))
    return out


def _points(colors: np.ndarray, space: str) -> np.ndarray:
    """(n, C) colours as points of the clustering space (premultiplied with alpha)."""
    if colors.shape[1] == 4:
        from .alpha_palette import _points as premultiplied_points

        return premultiplied_points(colors, space)
    return to_space(colors, space)


def dithered(pixels: np.ndarray, q: Quantized, method: str, level: float, space: str) -> Quantized:
    """``q`` with its indices dithered from ``pixels``, (H, W, C) uint8.

    Entries that no pixel takes any more are dropped and the palette stays
    canonical; ``error`` is measured again on the dithered pixels (with
    alpha, over premultiplied values, as :class:`Quantized` says).  An
    image kept exactly (``q.error == 0``) is returned as it is.
    """
    if method == "none" or level == 0 or q.error == 0:
        return q
    from .alpha import premultiplied
    from .alpha_palette import _keys
    from .clustering import _canonical
    from .quantized import Quantized

    entries = remap(pixels, q.palette, q.indices, method, level, space)
    key = _keys if q.palette.shape[1] == 4 else None
    palette, labels = _canonical(q.palette, entries.reshape(-1), key)
    flat = pixels.reshape(-1, pixels.shape[2])
    error: float = 0.0 if pixels.shape[2] == 4 else 0
    for start in range(0, len(flat), _CHUNK):  # bounded temporaries on huge images
        part, chosen = flat[start : start + _CHUNK], labels[start : start + _CHUNK]
        if pixels.shape[2] == 4:
            diff = premultiplied(part) - premultiplied(palette)[chosen]
            error += float(np.einsum("ij,ij->", diff, diff))
        else:
            d = part.astype(np.int64) - palette[chosen]
            error += int(np.einsum("ij,ij->", d, d))
    dtype = np.uint8 if len(palette) <= 256 else np.uint16
    return Quantized(palette, labels.astype(dtype).reshape(q.indices.shape), q.iterations, error)
