"""Find the setting of a lossy codec that matches a .kmc file.

Two questions, each answered over every ladder of the codec (see
:mod:`kmcodec.rivals`):

*equal size*
    On each ladder, the highest quality whose file is no larger than the
    target (every quality above it is larger: the target lies within one
    quality step).  Of the ladders whose sizes span the target, the one
    whose file scores best.  Files are never allowed over the target: a
    closest-either-side rule, with the best score breaking the tie between
    ladders, hands the other codec more bytes nearly every time.
*equal quality*
    Of all settings whose score reaches the target, the smallest file.

Size and score do not always grow with quality: JPEG XL and WebP sizes
dip here and there, and on small images every codec's do, by a byte or a
hundredth of a dB.  So for a codec with ``scan_all`` (cheap to encode:
JPEG, WebP, JPEG XL) sizes are read at every quality of every ladder, and
scores too when they are cheap (PSNR).  Otherwise (AVIF, several times
slower to encode; a costly score: SSIM, SSIMULACRA2) values are read
where a bisection of each ladder lands and :data:`WINDOW` qualities either
side of it, and at the top quality (the top :data:`WINDOW` for scores) to
decide that a ladder cannot reach the target.

When no setting can, the answer is the nearest miss, with a note saying
so.  Every encode and every score is remembered, so a search for the next
target reuses them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .rivals import LossyCodec

__all__ = ["Trials", "Match", "closest_size", "smallest_reaching", "WINDOW"]

#: Qualities read either side of a binary search's result when scores are costly.
WINDOW = 8

Scorer = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Match:
    """The setting chosen for a target: a ladder and a quality on it."""

    ladder: int
    quality: int
    reached: bool
    note: str = ""


class Trials:
    """Every encode of one codec on one image, remembered by (ladder, quality).

    Parameters
    ----------
    codec : LossyCodec
    original : ndarray, shape (H, W, 3), or (H, W, 4) RGBA; uint8
    score : callable
        Maps a decoded image (same shape) to the metric the searches match
        on, higher is better.
    exhaustive : bool, default True
        Read the score at every setting; False when it is costly (see the
        module docstring).
    """

    def __init__(self, codec: LossyCodec, original: np.ndarray, score: Scorer, exhaustive: bool = True):
        self.codec = codec
        self.image = Image.fromarray(np.ascontiguousarray(original))
        self.alpha = original.shape[2] == 4
        self.ladders = codec.ladders()
        self.qualities = list(codec.qualities)
        self._score = score
        self.exhaustive = exhaustive
        self._files: dict[tuple[int, int], tuple[bytes, float]] = {}
        self._scores: dict[tuple[int, int], float] = {}

    def file(self, ladder: int, quality: int) -> tuple[bytes, float]:
        """The encoded bytes and the seconds the encode took."""
        key = (ladder, quality)
        if key not in self._files:
            start = time.perf_counter()
            data = self.codec.encode(self.image, quality, self.ladders[ladder])
            self._files[key] = (data, time.perf_counter() - start)
        return self._files[key]

    def size(self, ladder: int, quality: int) -> int:
        return len(self.file(ladder, quality)[0])

    def score(self, ladder: int, quality: int) -> float:
        key = (ladder, quality)
        if key not in self._scores:
            value = self._score(self.codec.decode(self.file(ladder, quality)[0], self.alpha))
            self._scores[key] = -math.inf if math.isnan(value) else value
        return self._scores[key]

    def seen(self) -> list[tuple[int, int]]:
        """Every (ladder, quality) encoded so far."""
        return list(self._files)

    def settings(self, match: Match) -> dict[str, object]:
        """Every setting of a match, quality first."""
        return {"quality": match.quality, **self.codec.fixed(), **self.ladders[match.ladder]}


def _highest_fitting(trials: Trials, ladder: int, target: int) -> tuple[int | None, bool]:
    """The highest quality of ``ladder`` whose file is at most ``target`` bytes
    (None if none is), and whether some file of the ladder is larger."""
    qs = trials.qualities
    if trials.codec.scan_all:
        looked = qs
    else:
        lo, hi = 0, len(qs) - 1
        while lo < hi:  # the highest quality at or under the target, sizes taken as growing
            mid = (lo + hi + 1) // 2
            if trials.size(ladder, qs[mid]) <= target:
                lo = mid
            else:
                hi = mid - 1
        looked = sorted({*qs[max(0, lo - WINDOW) : lo + WINDOW + 1], qs[-1]})
    sizes = [trials.size(ladder, q) for q in looked]
    fits = [q for q, size in zip(looked, sizes) if size <= target]
    return (max(fits) if fits else None), max(sizes) > target


def closest_size(trials: Trials, target: int) -> Match:
    """The best-scoring file at or under ``target`` bytes (see the module docstring)."""
    spans, under = [], []
    for ladder in range(len(trials.ladders)):
        q, larger = _highest_fitting(trials, ladder, target)
        if q is not None:
            under.append((ladder, q))
            if larger:
                spans.append((ladder, q))
    if spans:
        ladder, q = max(spans, key=lambda lq: (trials.score(*lq), -lq[0]))
        return Match(ladder, q, True)
    everything = [(trials.size(ladder, q), ladder, q) for ladder, q in trials.seen()]
    if under:  # every file is smaller than the target
        size, ladder, q = max(everything, key=lambda slq: (slq[0], -slq[1], slq[2]))
        return Match(ladder, q, False, f"cannot reach {target:,} bytes: the largest file is {size:,} bytes")
    size, ladder, q = min(everything, key=lambda slq: (slq[0], slq[1], -slq[2]))
    return Match(ladder, q, False, f"cannot get down to {target:,} bytes: the smallest file is {size:,} bytes")


def _binary_search(trials: Trials, ladder: int, target: float) -> int:
    """Index of the lowest quality of ``ladder`` whose score reaches ``target``,
    scores taken as growing with quality (the top one must reach it)."""
    qs = trials.qualities
    lo, hi = 0, len(qs) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if trials.score(ladder, qs[mid]) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _looked_at(trials: Trials, ladder: int, target: float) -> list[int]:
    """The qualities of ``ladder`` whose score the equal-quality search reads."""
    qs = trials.qualities
    if trials.exhaustive and trials.codec.scan_all:
        return qs  # every file is made anyway, for the sizes
    top = qs[-WINDOW:]
    if max(trials.score(ladder, q) for q in top) < target:
        return top
    at = _binary_search(trials, ladder, target)
    return sorted({*qs[max(0, at - WINDOW) : at + WINDOW + 1], *top})


def smallest_reaching(trials: Trials, target: float, unit: str = "") -> Match:
    """The smallest file whose score reaches ``target`` (see the module docstring).

    ``unit`` names the score in the note of a miss (" dB", " SSIMULACRA2").
    """
    if not math.isfinite(target):
        raise ValueError(f"the target score is {target}; it must be finite")
    seen = [(ladder, q) for ladder in range(len(trials.ladders)) for q in _looked_at(trials, ladder, target)]
    reached = [lq for lq in seen if trials.score(*lq) >= target]
    if reached:
        ladder, q = min(reached, key=lambda lq: (trials.size(*lq), -trials.score(*lq), lq[0], lq[1]))
        return Match(ladder, q, True)
    ladder, q = max(seen, key=lambda lq: (trials.score(*lq), -trials.size(*lq), -lq[0]))
    best = trials.score(ladder, q)
    return Match(ladder, q, False, f"never reaches {target:.2f}{unit}: the best is {best:.2f}{unit}")
