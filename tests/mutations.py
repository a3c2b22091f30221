"""Byte-level mutations shared by the fuzz tests' hypothesis strategies."""

from __future__ import annotations

from hypothesis import strategies as st

#: The mutations :func:`mutate_bytes` knows.
BYTE_MUTATIONS = ("flip", "truncate", "insert", "delete")


def mutate_bytes(draw, data: bytearray, kind: str, chunk: int) -> bytearray:
    """``data`` with one mutation of ``kind``: up to 8 bit flips, a
    truncation, or an insertion or deletion of up to ``chunk`` bytes."""
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=chunk))
    elif kind == "delete":
        i = draw(st.integers(0, len(data) - 1))
        del data[i : i + draw(st.integers(1, chunk))]
    else:
        raise ValueError(f"kind is {kind!r}; it must be one of {BYTE_MUTATIONS}")
    return data
