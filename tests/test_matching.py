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

    def decode(self, data, alpha=False):
        return np.array([[[data[0], 0, 0]]], np.uint8)


@pytest.fixture(params=[False, True], ids=["scanned", "bisected"])
def trials(request):
    codec = Table()
    codec.scan_all = not request.param  # type: ignore[misc]
    return Trials(codec, np.zeros((1, 1, 3), np.uint8), lambda decoded: float(decoded[0, 0, 0]))


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


def test_equal_size_takes_the_best_file_at_or_under_the_target_on_each_ladder(trials):
    # 190 bytes: "a" has q1 (100 bytes, score 20) under it, "b" q3 (180, 33): "b".
    m = closest_size(trials, 190)
    assert (m.ladder, m.quality, m.reached) == (1, 3, True)
    # 260 bytes: "a" q2 (200, 30) against "b" q4 (240, 35); "a" q3 (300) is over.
    m = closest_size(trials, 260)
    assert (m.ladder, m.quality, m.reached) == (1, 4, True)
    # 400 bytes: "b" (60..300) cannot span it, so "a" q4, its quality at 400.
    m = closest_size(trials, 400)
    assert (m.ladder, m.quality, m.reached) == (0, 4, True)


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
    if not codec.scan_all:  # bisection and a window as wide as the ladder: every setting too
        assert len(calls) == 10


# A ladder whose size and score dip: q3 is smaller than q2 and scores more;
# q4 scores less than q3.
DIPS = {"c": {1: (100, 20.0), 2: (150, 30.0), 3: (140, 31.0), 4: (300, 29.0), 5: (400, 40.0)}}


@pytest.mark.parametrize("exhaustive", [True, False])
def test_dips_in_size_and_score_do_not_mislead_the_searches(monkeypatch, exhaustive):
    monkeypatch.setitem(TABLE, "c", DIPS["c"])
    codec = Table()
    monkeypatch.setattr(codec, "ladders", lambda: [{"ladder": "c"}])
    t = Trials(codec, np.zeros((1, 1, 3), np.uint8), lambda d: float(d[0, 0, 0]), exhaustive=exhaustive)
    # 30: q2 reaches it (a binary search stops there), but q3 is smaller and reaches it too.
    assert smallest_reaching(t, 30.0).quality == 3
    # 145 bytes: q3 (140) is the highest quality under it; q2 (150) is not.
    assert closest_size(t, 145).quality == 3
    # 35: only q5.
    assert smallest_reaching(t, 35.0).quality == 5


def test_a_target_that_is_not_a_number_is_refused(trials):
    with pytest.raises(ValueError, match="the target score is nan; it must be finite"):
        smallest_reaching(trials, float("nan"))
