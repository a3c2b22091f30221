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
the error itself to :data:`LIMIT`.  Where the palette is so fine that
neighbouring entries are hardly told apart (its median spacing between
nearest entries is below :data:`FINE`, in the clustering space with its
chroma weight; with alpha, among the entries opaque pixels may take),
bands cannot show and dithering would only add grain that the coders pay
for: the strength is scaled by the spacing over :data:`FINE` there
(greyscale photographs and a sky at K = 64: 7 to 9% smaller files for at
most a point of SSIMULACRA2, ``bench/perceptual.py``).  With
transparency, fully transparent
pixels neither take nor pass on error, opaque pixels take only opaque
entries and translucent ones any entry, so alpha stays exact where it must.

The dither map (``--dither-map``, off by default; after libimagequant's,
its run term): where the undithered entries change every few pixels the
image is texture, which hides banding, and dithering there only adds
grain; where one entry holds for a run, bands would show.  So each
pixel's share of its error is also scaled by 1 - MAP / (MAP + n), n
being 10 for each pixel of the run of one undithered entry it lies in
(along its row) and 15 for each pixel above or below the run that holds
the same entry; :data:`MAP` is 20.  A pixel alone in its run passes on
1/3 of its error (2/3 with its entry above and below it), one in a run
of 20 pixels 91% (98% with the run's entry above and below all of it).
Measured on photographs at K = 16 and 64 (``bench/perceptual.py``): on
images whose smaller side is below 225 pixels, a median of 1.9 more
SSIMULACRA2 points for 3% fewer bytes; on larger ones, 0.5 to 1 point
less for 3% fewer bytes, so ``--dither-map auto`` (what ``--perceptual``
sets) uses it on the small ones only.

Rate-aware dithering (``--dither-rate``, 0 by default): error diffusion
makes a fine grain of entries that the entropy coders pay for pixel by
pixel, while an entry that a neighbour already holds (the previous pixel
in scan order, or one of the three above) costs them few bits.  So a
pixel may take the nearest such entry instead of its nearest entry when
it is only a little farther; the difference is error like any other,
passed on where the method passes error on (everywhere with ``fs``, so
areas keep their mean colour; only in smooth areas with ``selective``,
which drops it in texture).  "A little" is
``rate`` x (5% of the palette's median spacing between nearest entries
plus 12% of the pixel's activity, its largest distance in the clustering
space to one of its four neighbours, this second term at most half the
median spacing): more where texture or noise hides the error, almost
nothing in smooth gradients, where clumps would show.  The cap matters
where the palette is fine beside the texture (a greyscale texture at
K = 64), where 12% of the activity would be many times the palette's own
error.
"""


from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .colorspace import points

if TYPE_CHECKING:
    from .quantized import Quantized

__all__ = ["METHODS", "LIMIT", "FINE", "BAND_ROWS", "remap", "dithered"]

_CHUNK = 1 << 20
#: The dithering methods, ``none`` first.
METHODS = ("none", "fs", "selective")
#: ``selective``'s two contrasts (see the module's docstring).
_SELECTIVE = (8, 32)
#: Largest error a pixel receives, per channel, in units of the space
#: (8-bit values in RGB; 255 x Oklab): half the range, so that two entries
#: as far apart as black and white still mix.
LIMIT = 128.0
#: Rows dithered as one band: bands run on all the threads, each starting
#: without error from above (as the image's top row does), so that the
#: result does not depend on the number of threads.
BAND_ROWS = 256
#: The nearest entry of an opaque pixel is looked up in a grid of _CELLS
#: cells a side over the palette's box, each listing the entries (at most
#: _CELL_LIST) that can be nearest in it, for palettes of at most
#: _CELL_COLORS entries (building it costs K * 32**3 distances); beyond,
#: in cells with longer lists, and with alpha, it is searched outward.
_CELLS = 32
_CELL_LIST = 64
_CELL_COLORS = 1024
#: The rate-aware choice's allowance at ``rate`` 1: this share of the
#: palette's median spacing, plus this share of the pixel's activity but
#: at most this share of the median spacing.
_RATE = (0.05, 0.12, 0.5)
#: Below this median spacing between nearest entries, in units of the
#: space (8-bit values in RGB; 255 x Oklab, where it is 0.02, about one
#: just-noticeable difference), the strength is scaled by spacing / FINE.
FINE = 5.1
#: The dither map's constant: a pixel in a run whose count is n passes on
#: 1 - MAP / (MAP + n) of its error (see the module's docstring).
MAP = 20.0


def remap(pixels: np.ndarray, palette: np.ndarray, guess: np.ndarray, method: str, level: float,
          space: str, rate: float = 0.0, chroma: float = 1.0, mapped: bool = False) -> np.ndarray:
    """Each pixel's palette entry, dithered: :func:`_remap`'s entries."""
    return _remap(pixels, palette, guess, method, level, space, rate, chroma, mapped)[0]


def _remap(pixels: np.ndarray, palette: np.ndarray, guess: np.ndarray, method: str, level: float,
           space: str, rate: float = 0.0, chroma: float = 1.0, mapped: bool = False) -> tuple[np.ndarray, int]:
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
        Strength, 0 to 1: the share of the error passed on (scaled down
        for a palette finer than :data:`FINE`).
    space : {"rgb", "oklab"}
        Where the error is measured.
    rate : float, default 0.0
        Weight of the rate-aware choice (see the module's docstring); 0
        always takes the nearest entry.
    chroma : float, default 1.0
        Oklab's a and b are multiplied by it (:mod:`kmcodec.colorspace`).
    mapped : bool, default False
        Whether the dither map scales each pixel's share of its error.

    Returns
    -------
    entries : (H, W) uint16 ndarray
    squared : int
        The sum over pixels and channels of (8-bit value - entry's) ** 2.
    """
    from . import _dither_jit, colorspace
    from .clustering import _engine, _Table, _read_only

    height, width, channels = pixels.shape
    flat = pixels.reshape(-1, channels)
    pal = np.ascontiguousarray(points(palette, space, chroma))
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
        # With alpha, among the entries opaque pixels may take: faint
        # translucent entries lie close together whatever the opaque ones do.
        spacing = _spacing(order, dist, allowed[0])
        level *= min(1.0, spacing / FINE)
        lo, hi = pal.min(0), pal.max(0)
        out = np.empty((height, width), np.uint16)  # K <= 65536
        args = (_read_only(np.ascontiguousarray(pixels, np.uint8)), space == "oklab", colorspace._LINEAR,
                colorspace._M1, colorspace.oklab_matrix(chroma), pal, np.ascontiguousarray(guess, np.uint16),
                kind.reshape(height, width), allowed,
                np.ascontiguousarray(order, np.int64), np.ascontiguousarray(dist), float(level), LIMIT, lo, hi,
                out, *(_SELECTIVE if method == "selective" else (0, 0)), rate * _RATE[0] * spacing,
                rate * _RATE[1], rate * _RATE[2] * spacing, MAP if mapped else 0.0)
        pal8 = palette.astype(np.int64)
        if channels == 3 and len(palette) <= _CELL_COLORS:
            grid = _CELLS
            entries, start, scale = _dither_jit.cells(pal, lo, hi, grid, _CELL_LIST)
        else:  # with alpha (kinds, 4 channels) or many entries: the walk
            grid, entries, start, scale = 0, np.zeros(1, np.uint16), np.zeros(2, np.int32), np.zeros(3)
        bands = [(y, min(y + BAND_ROWS, height)) for y in range(0, height, BAND_ROWS)]
        # Opaque three-channel images with cell lists take the specialised kernel.
        kernel: Callable[..., int] = _dither_jit.floyd_steinberg3 if grid else _dither_jit.floyd_steinberg
        kargs = args[:7] + args[9:] if grid else args

        def run(band: tuple[int, int]) -> int:
            return int(kernel(*kargs, *band, pal8, grid, entries, start, scale))

        from . import _signals

        workers = min(len(bands), _threads())
        if workers > 1:  # load the compiled code once, before any thread wants it (row 0 is done again)
            _signals.threaded(run, [(0, 1)], 1)
        squared = sum(_signals.threaded(run, bands, workers))
    return out, squared


def _threads() -> int:
    """Threads the bands run on: Numba's count (``NUMBA_NUM_THREADS``)."""
    from numba import get_num_threads

    return int(get_num_threads())


def _spacing(order: np.ndarray, dist: np.ndarray, among: np.ndarray) -> float:
    """The median distance from an entry to its nearest other entry, both
    among the entries ``among`` (K,) bool marks; 0 without two of them."""
    rows = np.flatnonzero(among)
    if dist.shape[1] == 0 or len(rows) < 2:
        return 0.0
    if len(rows) == len(among):  # every entry: each row's first is its nearest
        return float(np.median(dist[:, 0]))
    hit = among[order[rows]]
    found = hit.any(1)
    if not found.any():
        return 0.0
    first = hit.argmax(1)
    return float(np.median(dist[rows[found], first[found]]))


def dithered(pixels: np.ndarray, q: Quantized, method: str, level: float, space: str,
             rate: float = 0.0, chroma: float = 1.0, mapped: bool = False) -> Quantized:
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

    entries, squared = _remap(pixels, q.palette, q.indices, method, level, space, rate, chroma, mapped)
    key = _keys if q.palette.shape[1] == 4 else None
    palette, labels = _canonical(q.palette, entries.reshape(-1), key)
    if pixels.shape[2] == 3:
        return Quantized(palette, labels.reshape(q.indices.shape), q.iterations, squared)
    flat = pixels.reshape(-1, 4)
    error = 0.0
    for start in range(0, len(flat), _CHUNK):  # bounded temporaries on huge images
        part, chosen = flat[start : start + _CHUNK], labels[start : start + _CHUNK]
        diff = premultiplied(part) - premultiplied(palette)[chosen]
        error += float(np.einsum("ij,ij->", diff, diff))
    return Quantized(palette, labels.reshape(q.indices.shape), q.iterations, error)
