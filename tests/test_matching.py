"""The setting searches of kmc compare, on hand-made codecs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from kmcodec.matching import Trials, closest_size, smallest_reaching
from kmcodec.rivals import LossyCodec

# Two ladders over qualities 1..5: (size, score) by quality.  Ladder "a" is
# big and good (like 4:4:4), ladder "b" small and capped (like 4:2:0).
TABLE = {
    "a": {1: (100, 20.0), 2: (200, 30.0), 3: (300, 40.0), 4: (400, 45.0), 5: (500, 50.0)},
    "b": {1: (60, 18.0), 2: (120, 28.0), 3: (180, 33.0), 4: (240, 35.0), 5: (300, 36.0)},
}


class Table(LossyCodec):
    """Encodes to ``size`` zero bytes; "decodes" to an image whose one pixel is the score."""

    name = family = "table"
    format = "none"
    qualities = range(1, 6)

    def ladders(self):
        return [{"ladder": "a"}, {"ladder": "b"}]

    def encode(self, image, quality, ladder):
        size, score = TABLE[ladder["ladder"]][quality]
        return bytes([int(score)]) + bytes(size - 1)

    def decode(self, data):
        return np.array([[[data[0], 0, 0]]], np.uint8)


@pytest.fixture
def trials():
    return Trials(Table(), np.zeros((1, 1, 3), np.uint8), lambda decoded: float(decoded[0, 0, 0]))


def test_equal_quality_takes_the_smallest_ladder_that_reaches(trials):
    # 33 dB: "a" needs q3 (300 bytes), "b" q3 (180 bytes): "b" wins.
    m = smallest_reaching(trials, 33.0)
    assert (m.ladder, m.quality, m.reached) == (1, 3, True)
    # 38 dB: "b" never gets there (36 at best); "a" does at q3.
    m = smallest_reaching(trials, 38.0)
    assert (m.ladder, m.quality, m.reached) == (0, 3, True)
    assert trials.settings(m) == {"quality": 3, "ladder": "a"}


def test_equal_quality_out_of_reach_is_the_best_try_with_a_note(trials):
    m = smallest_reaching(trials, 60.0, " dB")
    assert (m.ladder, m.quality, m.reached) == (0, 5, False)
    assert m.note == "never reaches 60.00 dB: the best is 50.00 dB"


def test_equal_size_takes_the_closest_size_on_each_ladder_then_the_best_score(trials):
    # 190 bytes: "a" closest is q2 (200, score 30), "b" q3 (180, score 33): "b".
    m = closest_size(trials, 190)
    assert (m.ladder, m.quality, m.reached) == (1, 3, True)
    # 260 bytes: "a" q3 (300, 40) against "b" q4 (240, 35): "a" scores better.
    m = closest_size(trials, 260)
    assert (m.ladder, m.quality, m.reached) == (0, 3, True)
    # 400 bytes: out of "b"'s span (60..300), so "a" q4 although "b" q5 is near.
    m = closest_size(trials, 400)
    assert (m.ladder, m.quality) == (0, 4)


def test_equal_size_out_of_reach_says_so_with_the_largest_or_smallest_file(trials):
    m = closest_size(trials, 10_000)
    assert (m.ladder, m.quality, m.reached) == (0, 5, False)
    assert m.note == "cannot reach 10,000 bytes: the largest file is 500 bytes"
    m = closest_size(trials, 10)
    assert (m.ladder, m.quality, m.reached) == (1, 1, False)
    assert m.note == "cannot get down to 10 bytes: the smallest file is 60 bytes"


def test_every_encode_is_made_once(trials):
    calls = []
    codec = trials.codec
    original = codec.encode
    codec.encode = lambda *a: calls.append(a[1:]) or original(*a)
    for target in (190, 200, 260, 33, 38):
        closest_size(trials, target)
        smallest_reaching(trials, float(target))
    assert len(calls) == len(set(map(repr, calls))) <= 10
