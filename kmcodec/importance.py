"""How much each pixel counts when the palette is searched.

The eye sees an error in a smooth area (a sky, a cheek, a gradient) far
more than the same error in texture (foliage, grain, noise), which hides
it; pngquant's importance map rests on the same observation.  With
``smooth_weight`` w, a pixel counts 1 + w*s times, s being 1 where it is
within :data:`SMOOTH` [0] of each of its four neighbours (distance in the
clustering space: 8-bit RGB, or 255 x Oklab), 0 where it is
:data:`SMOOTH` [1] or more from one of them, linearly between.  So a
palette searched for a photograph spends its entries on the smooth areas,
where dithering then has close colours to mix, rather than on the noise.
w = 0 (the default) counts every pixel once: the palette then minimises
the plain mean squared error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["SMOOTH", "colour_weights"]

#: Distances to the nearest neighbours below which a pixel is fully smooth,
#: and from which it is texture.
SMOOTH = (2.0, 8.0)
#: Weights are counted in sixteenths, so that they are whole numbers: the
#: clustering's sums then stay exact, and so repeatable, in any order.
_UNIT = 16
_BAND = 1 << 18  # pixels per band: bounded temporaries on huge images


def colour_weights(ranks: Callable[[int, int], np.ndarray], points: np.ndarray, height: int, width: int,
                   weight: float) -> np.ndarray:
    """Each distinct colour's weight: the sum of its pixels' importance.

    Parameters
    ----------
    ranks : callable
        ``ranks(y0, y1)`` is the (y1 - y0, width) integer array of the
        rows' pixels' colours, as indices into ``points``.
    points : (n, D) float64 ndarray
        Each distinct colour as a point of the clustering space.
    height, width : int
        The image's size.
    weight : float
        ``smooth_weight``, >= 0.

    Returns
    -------
    (n,) float64 ndarray
        Whole numbers: sixteenths of a pixel's plain weight of 1, each
        pixel's rounded half up.  Their sums are exact, so the bands may
        be added on any thread in any order.
    """
    from numba import get_num_threads

    from . import _importance_jit

    lo, hi = SMOOTH
    points = np.ascontiguousarray(points, np.float64)
    band = max(1, _BAND // max(width, 1))
    starts = list(range(0, height, band))
    workers = max(1, min(len(starts), get_num_threads()))  # NUMBA_NUM_THREADS: shared with batch workers

    def run(part: int) -> np.ndarray:
        total = np.zeros(len(points))
        for y0 in starts[part::workers]:
            y1 = min(y0 + band, height)
            top, bottom = max(y0 - 1, 0), min(y1 + 1, height)
            _importance_jit.add_weights(np.ascontiguousarray(ranks(top, bottom)), y0 - top, y1 - top, points,
                                        float(weight), lo, hi, _UNIT, total)
        return total

    from . import _signals

    return np.sum(_signals.threaded(run, range(workers), workers), axis=0)
