"""The colour spaces the palette is searched in: sRGB, or Oklab.

The file always stores 8-bit sRGB; a space only changes which colours the
clustering calls close.  In ``"rgb"`` the squared distance between 8-bit
values is minimised (the default: the mean squared error people measure).
``"oklab"`` is Björn Ottosson's perceptual space
(https://bottosson.github.io/posts/oklab/), reached through the exact sRGB
transfer function (IEC 61966-2-1: linear below 0.04045, a 2.4 power above);
distances there follow perceived colour differences much more closely, so
a palette spends fewer entries on differences the eye barely sees.

Coordinates are scaled by 255 (L from 0 to 255, a and b within about
+-100), so that tolerances and distances keep the sizes they have in RGB.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPACES", "to_space", "from_space", "points"]

#: The spaces a palette can be searched in.
SPACES = ("rgb", "oklab")
_SCALE = 255.0

# Linear sRGB -> LMS, and the cube roots of LMS -> Lab (Ottosson's M1, M2).
_M1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                [0.2119034982, 0.6806995451, 0.1073969566],
                [0.0883024619, 0.2817188376, 0.6299787005]])
_M2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                [1.9779984951, -2.4285922050, 0.4505937099],
                [0.0259040371, 0.7827717662, -0.8086757660]])
_M1_INV = np.linalg.inv(_M1)
_M2_INV = np.linalg.inv(_M2)


def _linear_table() -> np.ndarray:
    c = np.arange(256) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


_LINEAR = _linear_table()


def _encode_srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def to_space(colors: np.ndarray, space: str) -> np.ndarray:
    """Coordinates of 8-bit sRGB colours in ``space``.

    Parameters
    ----------
    colors : (..., 3) uint8 ndarray
    space : {"rgb", "oklab"}

    Returns
    -------
    (..., 3) float64 ndarray
        The colours themselves for ``"rgb"``; Oklab L, a, b times 255.
    """
    if space == "rgb":
        return colors.astype(np.float64)
    lms = _LINEAR[colors] @ _M1.T
    return np.cbrt(lms) @ _M2.T * _SCALE


def points(colors: np.ndarray, space: str) -> np.ndarray:
    """Colours as the points they are clustered as, with or without alpha.

    Parameters
    ----------
    colors : (n, 3) or (n, 4) uint8 ndarray
        sRGB, or sRGB with straight alpha.
    space : {"rgb", "oklab"}

    Returns
    -------
    (n, 3) or (n, 4) float64 ndarray
        :func:`to_space` of the colour; with alpha, that times A/255 (so
        that colour differences under low alpha weigh little), then A.
        For ``"rgb"`` with alpha: :func:`kmcodec.alpha.premultiplied`.
    """
    if colors.shape[1] == 3:
        return to_space(colors, space)
    if space == "rgb":
        from .alpha import premultiplied

        return premultiplied(colors)
    a = colors[:, 3:4].astype(np.float64)
    return np.column_stack([to_space(colors[:, :3], space) * (a / 255.0), a])


def from_space(points: np.ndarray, space: str) -> np.ndarray:
    """The 8-bit sRGB colours nearest to points of ``space`` (its inverse).

    Parameters
    ----------
    points : (..., 3) float ndarray
    space : {"rgb", "oklab"}

    Returns
    -------
    (..., 3) uint8 ndarray
        Rounded; points outside the sRGB gamut are clipped to it.
    """
    if space == "rgb":
        return np.clip(np.rint(points), 0, 255).astype(np.uint8)
    lms = (np.asarray(points, np.float64) / _SCALE) @ _M2_INV.T
    linear = (lms * lms * lms) @ _M1_INV.T
    return np.clip(np.rint(_encode_srgb(linear) * 255.0), 0, 255).astype(np.uint8)
