"""Transparency: background colours, compositing, and premultiplied values.

A .kmc file with alpha (format version 2) stores straight (not
premultiplied) R, G, B, A palette entries.  This module holds what every
path that meets alpha shares: reading a ``--background`` colour, putting a
palette onto a background for outputs without alpha, and the premultiplied
values (R*A/255, G*A/255, B*A/255, A) that clustering and the alpha-aware
error are measured in.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError

__all__ = ["parse_background", "composite", "premultiplied"]


def parse_background(value) -> tuple[int, int, int]:
    """A background colour from ``#rrggbb``, ``#rgb``, a CSS colour name, or
    an (R, G, B) tuple of integers 0..255.

    Raises
    ------
    ParameterError
        Naming the value and what is accepted.  A colour with its own alpha
        is refused: a background is opaque.
    """
    if isinstance(value, str):
        from PIL import ImageColor

        try:
            rgb = ImageColor.getrgb(value.strip())
        except ValueError:
            raise ParameterError(
                f"background is {value!r}: not a colour; give #rrggbb, #rgb or a CSS colour name"
                " (white, black, rebeccapurple, ...)"
            ) from None
        if len(rgb) == 4 and rgb[3] != 255:
            raise ParameterError(f"background is {value!r}, which is not opaque; a background has no alpha")
        return int(rgb[0]), int(rgb[1]), int(rgb[2])
    if (isinstance(value, (tuple, list)) and len(value) == 3
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255
                    for v in value)):
        return int(value[0]), int(value[1]), int(value[2])
    raise ParameterError(
        f"background is {value!r}; give a colour as #rrggbb, a CSS colour name or (R, G, B) integers 0..255"
    )


def composite(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """RGBA values (..., 4) uint8, palette entries or pixels, put onto an
    opaque ``background``: (..., 3) uint8.

    Each channel is ``(c*A + bg*(255 - A)) / 255``, rounded to nearest.
    """
    a = rgba[..., 3:4].astype(np.uint32)
    rgb = rgba[..., :3].astype(np.uint32)
    return ((rgb * a + np.asarray(background, np.uint32) * (255 - a) + 127) // 255).astype(np.uint8)


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    """(R*A/255, G*A/255, B*A/255, A) as float64, for any (..., 4) array.

    Colour differences under low alpha weigh little in this space, and all
    fully transparent values are one point, (0, 0, 0, 0).
    """
    values = rgba.astype(np.float64)
    values[..., :3] *= values[..., 3:4] / 255.0
    return values
