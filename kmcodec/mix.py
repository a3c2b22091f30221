"""Coder 2 ("mix"): candidates from context tables and neighbours, mixed contexts, weighted prediction.

Work in progress (issue 17): the payload layout is coder 1's (stripe table,
then one arithmetic-coded stream per stripe); the model is in
:mod:`kmcodec._mix_jit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .coder import Coder, allocate_indices, register
from .entropy import _stripe_table, decode_payload, encode_payload, payload_layout

if TYPE_CHECKING:
    from .container import Header


class MixCoder(Coder):
    id = 2
    name = "mix"
    compare_row = "kmc-mix"
    summary = "context mixing with candidate indices and a weighted prediction (spec section 13)"

    def encode(self, indices: np.ndarray, palette: np.ndarray) -> bytes:
        return encode_payload(indices, len(palette), palette, engine="mix")

    def decode(self, payload: memoryview, header: Header, palette: np.ndarray) -> np.ndarray:
        _stripe_table(payload, header.height)
        indices = allocate_indices(header)
        decode_payload(payload, header.width, header.height, palette, indices, engine="mix")
        return indices.reshape(-1)

    def layout(self, payload: memoryview, header: Header) -> dict[str, int]:
        stripes = len(payload_layout(payload, header.height)[1])
        return {"stripes": stripes, "stripe_table_bytes": 4 + 4 * stripes}


register(MixCoder())
