"""The coded palette of format version 3 (spec section 14).

A canonical palette is a set: distinct entries in ascending order of their
canonical value (``R<<16 | G<<8 | B``, or ``A<<24 | R<<16 | G<<8 | B``
with alpha).  Interleaving that value's bits, most significant bit of every
byte first, gives each entry a key; the keys are coded as a binary tree,
two adaptive binary decisions a node at most.  Entries that share leading
bits share the nodes above them, so palettes whose colours cluster (the
anti-aliased shades of a few colours in a chart or a screenshot, most of a
photograph's 256 colours) cost well below their raw 24 bits an entry: 7,491
bytes down to 1,981 for a flow diagram of 2,497 colours.

Reading a stream needs the compiled walk of :mod:`kmcodec._palette_jit`,
loaded only when a version-3 file is decoded.
"""

from __future__ import annotations

import numpy as np

from .errors import FormatError

__all__ = ["canonical_values", "is_canonical", "encode", "decode"]


def canonical_values(palette: np.ndarray) -> np.ndarray:
    """Each entry's canonical value, the key of spec sections 4 and 12.2.

    Parameters
    ----------
    palette : ndarray of shape (K, 3) or (K, 4), uint8
        R, G, B (and A) entries.

    Returns
    -------
    ndarray of shape (K,), int64
        ``R<<16 | G<<8 | B``, or ``A<<24 | R<<16 | G<<8 | B`` with 4 channels.
    """
    p = palette.astype(np.int64)
    value = (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]
    if palette.shape[1] == 4:
        value |= p[:, 3] << 24
    return value


def is_canonical(palette: np.ndarray) -> bool:
    """Whether ``palette`` is strictly ascending by canonical value: a set
    that :func:`encode` can code."""
    values = canonical_values(palette)
    return bool(np.all(values[1:] > values[:-1]))


def _value_bytes(palette: np.ndarray) -> np.ndarray:
    # The canonical value's bytes, most significant first: R, G, B or A, R, G, B.
    if palette.shape[1] == 4:
        return palette[:, [3, 0, 1, 2]].astype(np.int64)
    return palette.astype(np.int64)


def _keys(palette: np.ndarray) -> np.ndarray:
    b = _value_bytes(palette)
    keys = np.zeros(len(palette), np.int64)
    for bit in range(7, -1, -1):
        for byte in range(b.shape[1]):
            keys = (keys << 1) | ((b[:, byte] >> bit) & 1)
    return keys


def _entries(keys: np.ndarray, channels: int) -> np.ndarray:
    out = np.zeros((len(keys), channels), np.int64)
    shift = 8 * channels - 1
    for bit in range(7, -1, -1):
        for byte in range(channels):
            out[:, byte] |= ((keys >> shift) & 1) << bit
            shift -= 1
    if channels == 4:
        out = out[:, [1, 2, 3, 0]]
    return out.astype(np.uint8)


def encode(palette: np.ndarray) -> bytes:
    """The coded palette (spec section 14.2) of a canonical palette.

    Parameters
    ----------
    palette : ndarray of shape (K, 3) or (K, 4), uint8
        Strictly ascending by canonical value (:func:`is_canonical`);
        trusted.

    Returns
    -------
    bytes
        The stream, at least 4 bytes.
    """
    from ._palette_jit import encode_keys

    depth = 8 * palette.shape[1]
    keys = np.sort(_keys(palette))
    # At most two decisions a node and colors * (depth + 1) nodes; a decision
    # emits at most 4 bytes (a carry-less coder's whole range can run out at once).
    out = np.zeros(8 * len(keys) * (depth + 1) + 16, np.uint8)
    _, _, size = encode_keys(keys, depth, out)
    return out[:size].tobytes()


def decode(stream: bytes | memoryview, colors: int, channels: int) -> np.ndarray:
    """Decode a coded palette into the canonical palette it codes.

    Parameters
    ----------
    stream : bytes-like
        The ``palette_bytes`` bytes of a version-3 file.
    colors : int
        K from the header, 1 to 65536.
    channels : int
        3, or 4 with alpha.

    Returns
    -------
    ndarray of shape (colors, channels), uint8
        Ascending by canonical value.

    Raises
    ------
    FormatError
        When the stream codes more or fewer than ``colors`` entries, or is
        not exactly as long as its decoding reads (spec section 14.3).
    """
    from ._palette_jit import STREAM_LENGTH, TOO_MANY, decode_keys

    data = np.frombuffer(stream, np.uint8)
    keys = np.zeros(colors, np.int64)
    status, found, used = decode_keys(keys, colors, 8 * channels, data, keys.view(np.uint8))
    if status == TOO_MANY:
        raise FormatError(f"palette codes more than colors = {colors} entries: corrupt")
    if status == STREAM_LENGTH:
        if used > len(data):
            raise FormatError(
                f"palette_bytes is {len(data)} but decoding the palette reads {used} bytes: truncated or corrupt"
            )
        raise FormatError(
            f"palette_bytes is {len(data)} but decoding the palette reads {used} bytes: "
            f"{len(data) - used} bytes left over"
        )
    if found != colors:
        raise FormatError(f"palette codes {found} entries, but colors is {colors}: corrupt")
    palette = _entries(keys, channels)
    return palette[np.argsort(canonical_values(palette), kind="stable")]
