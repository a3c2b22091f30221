"""Coder 2, "mix": the executable form of section 13 of ``spec/kmc-format.md``.

Each index is asked against up to 25 candidates (the match: the index
that followed the last copy of a wider neighbourhood, at the same offset
while it keeps predicting; the last index seen after the same
neighbourhood in two context tables, the neighbours, and the 16 entries
first in the palette order of the prediction's cell),
ordered by their distance to a weighted prediction of the colour (less
the mean error of its context, where that has helped), each question a
two-layer mix of ten adaptive counters (four of them relative: the
candidate's brightness against its neighbours', against the prediction
and against the gradient a + b - c) refined by two adaptive probability
maps; an index that is none of them is coded by its rank
around the prediction.  The payload layout (stripe table,
one arithmetic-coded stream per stripe) and the surfaces are coder 1's; the
model is in :mod:`kmcodec._mix_jit`.
"""

from __future__ import annotations

from .coder import register
from .entropy import EntropyCoder


class MixCoder(EntropyCoder):
    id = 2
    name = "mix"
    compare_row = "kmc-mix"
    summary = ("context mixing over candidate indices and a weighted prediction (spec section 13):"
               " smaller than entropy, several times slower")


register(MixCoder())
