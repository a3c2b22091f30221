"""Find the setting of a lossy codec that matches a .kmc file.

Two questions, each answered over every ladder of the codec (see
:mod:`kmcodec.rivals`):

*equal size*
    On each ladder, the quality whose file is closest to the target size
    (a binary search finds the largest quality at or under it; it or the
    next one up is the closest: no quality lies between them).  Of the
    ladders whose sizes span the target, the one whose file scores best.
*equal quality*
    On each ladder, the lowest quality whose score reaches the target
    (binary search, the score taken as growing with quality).  Of the
    ladders that reach it, the one with the smallest file.

When no ladder can, the answer is the nearest miss, with a note saying so.
Every encode and every score is remembered, so a search for the next
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

__all__ = ["Trials", "Match", "closest_size", "smallest_reaching"]

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
    original : ndarray, shape (H, W, 3), uint8
    score : callable
        Maps a decoded image (same shape) to the metric the searches match
        on, higher is better.
    """

    def __init__(self, codec: LossyCodec, original: np.ndarray, score: Scorer):
        self.codec = codec
        self.image = Image.fromarray(np.ascontiguousarray(original))
        self.ladders = codec.ladders()
        self.qualities = list(codec.qualities)
        self._score = score
        self._files: dict[tuple[int, int], tuple[bytes, float]] = {}
        self._scores: dict[tuple[int, int], float] = {}
        self.seconds = 0.0  # every encode, decode and score so far

    def file(self, ladder: int, quality: int) -> tuple[bytes, float]:
        """The encoded bytes and the seconds the encode took."""
        key = (ladder, quality)
        if key not in self._files:
            start = time.perf_counter()
            data = self.codec.encode(self.image, quality, self.ladders[ladder])
            seconds = time.perf_counter() - start
            self.seconds += seconds
            self._files[key] = (data, seconds)
        return self._files[key]

    def size(self, ladder: int, quality: int) -> int:
        return len(self.file(ladder, quality)[0])

    def score(self, ladder: int, quality: int) -> float:
        key = (ladder, quality)
        if key not in self._scores:
            data, _ = self.file(ladder, quality)
            start = time.perf_counter()
            value = self._score(self.codec.decode(data))
            self.seconds += time.perf_counter() - start
            self._scores[key] = -math.inf if math.isnan(value) else value
        return self._scores[key]

    def settings(self, match: Match) -> dict[str, object]:
        """Every setting of a match, quality first."""
        return {"quality": match.quality, **self.codec.fixed(), **self.ladders[match.ladder]}


def _closest_on(trials: Trials, ladder: int, target: int) -> int:
    qs = trials.qualities
    if trials.size(ladder, qs[0]) >= target:
        return qs[0]
    lo, hi = 0, len(qs) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if trials.size(ladder, qs[mid]) <= target:
            lo = mid
        else:
            hi = mid - 1
    if lo + 1 < len(qs):
        below, above = trials.size(ladder, qs[lo]), trials.size(ladder, qs[lo + 1])
        if abs(above - target) < abs(below - target):
            return qs[lo + 1]
    return qs[lo]


def closest_size(trials: Trials, target: int) -> Match:
    """The best-scoring file whose size is closest to ``target`` bytes (see the module docstring)."""
    qs = trials.qualities
    spans, candidates = [], []
    for ladder in range(len(trials.ladders)):
        q = _closest_on(trials, ladder, target)
        candidates.append((ladder, q))
        if trials.size(ladder, qs[0]) <= target <= trials.size(ladder, qs[-1]):
            spans.append((ladder, q))
    if spans:
        ladder, q = max(spans, key=lambda lq: (trials.score(*lq), -lq[0]))
        return Match(ladder, q, True)
    ladder, q = min(candidates, key=lambda lq: (abs(trials.size(*lq) - target), lq[0]))
    size = trials.size(ladder, q)
    if size < target:
        note = f"cannot reach {target:,} bytes: the largest file is {size:,} bytes"
    else:
        note = f"cannot get down to {target:,} bytes: the smallest file is {size:,} bytes"
    return Match(ladder, q, False, note)


def smallest_reaching(trials: Trials, target: float, unit: str = "") -> Match:
    """The smallest file whose score reaches ``target`` (see the module docstring).

    ``unit`` names the score in the note of a miss (" dB", " SSIMULACRA2").
    """
    qs = trials.qualities
    reached = []
    for ladder in range(len(trials.ladders)):
        if trials.score(ladder, qs[-1]) < target:
            continue
        lo, hi = 0, len(qs) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if trials.score(ladder, qs[mid]) >= target:
                hi = mid
            else:
                lo = mid + 1
        reached.append((ladder, qs[lo]))
    if reached:
        ladder, q = min(reached, key=lambda lq: (trials.size(*lq), -trials.score(*lq), lq[0]))
        return Match(ladder, q, True)
    ladder = max(range(len(trials.ladders)), key=lambda i: (trials.score(i, qs[-1]), -i))
    best = trials.score(ladder, qs[-1])
    return Match(ladder, qs[-1], False,
                 f"never reaches {target:.2f}{unit}: the best is {best:.2f}{unit}")
