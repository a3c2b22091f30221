"""Fixed-width bit packing of palette indices, MSB-first.

Index ``i`` occupies bits ``[i*b, (i+1)*b)`` of the stream, where bit ``j``
of the stream is bit ``7 - j % 8`` of byte ``j // 8`` (the most significant
bit of each byte comes first, and each index is written most significant
bit first).  The last byte is padded with zero bits.

The fast path packs groups of ``g`` indices into one big-endian 64-bit word
(``g * b`` a multiple of 8 and at most 64), which covers every width but the
odd ones above 8; those go through NumPy's ``packbits`` on a bit matrix, in
chunks so that memory stays bounded.  ``tests/test_bitpack.py`` checks both
against bitarray, an independent implementation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["packed_size", "pack", "unpack", "index_dtype", "padding_bits"]

MAX_BITS = 16
_CHUNK = 1 << 20  # indices per chunk on the bit-matrix path; a multiple of 8


def packed_size(n: int, bits: int) -> int:
    """Bytes needed for ``n`` indices of ``bits`` bits: ``ceil(n*bits/8)``."""
    return (n * bits + 7) // 8


def padding_bits(n: int, bits: int) -> int:
    """Number of zero bits that pad the last byte (0 to 7)."""
    return -(n * bits) % 8


def index_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype holding a ``bits``-bit index (uint8 or uint16)."""
    return np.dtype(np.uint8 if bits <= 8 else np.uint16)


def _group(bits: int) -> int:
    """Indices per 64-bit word, or 0 when no group fits a whole byte count."""
    for g in (8, 4, 2, 1):
        if g * bits % 8 == 0 and g * bits <= 64:
            return g
    return 0


def pack(indices: np.ndarray, bits: int) -> bytes:
    """Pack indices at ``bits`` bits each, MSB-first.

    Parameters
    ----------
    indices : ndarray of shape (n,), unsigned integer dtype
        Every value must be below ``2**bits``; this is trusted, not checked.
    bits : int
        Width of one index, 0 to 16.  With 0 the result is empty.

    Returns
    -------
    bytes
        ``packed_size(n, bits)`` bytes; padding bits are zero.
    """
    idx = np.ascontiguousarray(indices).reshape(-1)
    n = idx.size
    if bits == 0 or n == 0:
        return b""
    if bits == 8:
        return idx.astype(np.uint8, copy=False).tobytes()
    if bits == 16:
        return idx.astype(">u2").tobytes()
    g = _group(bits)
    if g == 0:
        return _pack_bitmatrix(idx, bits)
    groups = -(-n // g)
    padded = np.zeros(groups * g, dtype=np.uint64)
    padded[:n] = idx
    grid = padded.reshape(groups, g)
    acc = np.zeros(groups, dtype=np.uint64)
    for i in range(g):
        acc |= grid[:, i] << np.uint64(64 - bits * (i + 1))
    nbytes = g * bits // 8
    out = acc.astype(">u8").view(np.uint8).reshape(groups, 8)[:, :nbytes]
    return out.tobytes()[: packed_size(n, bits)]


def unpack(data: bytes | memoryview | np.ndarray, n: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`.

    Parameters
    ----------
    data : bytes-like
        Exactly ``packed_size(n, bits)`` bytes.
    n : int
        Number of indices to read.
    bits : int
        Width of one index, 0 to 16.

    Returns
    -------
    ndarray of shape (n,)
        dtype ``index_dtype(bits)``.  Padding bits are ignored here; the
        container checks them.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != packed_size(n, bits):
        raise ValueError(
            f"unpack: got {buf.size} bytes, {n} indices of {bits} bits need "
            f"{packed_size(n, bits)}"
        )
    dtype = index_dtype(bits)
    if bits == 0:
        return np.zeros(n, dtype=dtype)
    if bits == 8:
        return buf.copy()
    if bits == 16:
        return buf.view(">u2").astype(np.uint16)
    if 8 % bits == 0:
        # 1, 2 or 4 bits: several whole indices per byte, shifted out in place.
        per = 8 // bits
        out = np.empty((buf.size, per), dtype=np.uint8)
        mask = (1 << bits) - 1
        for i in range(per):
            np.bitwise_and(buf >> (8 - bits * (i + 1)), mask, out=out[:, i])
        return out.reshape(-1)[:n]
    g = _group(bits)
    if g == 0:
        return _unpack_bitmatrix(buf, n, bits)
    nbytes = g * bits // 8
    groups = -(-n // g)
    flat = np.zeros(groups * nbytes, dtype=np.uint8)
    flat[: buf.size] = buf
    # Byte j of a group goes to byte 7 - j of a native little-endian word,
    # so the group's first bit is the word's most significant bit.
    words = np.zeros((groups, 8), dtype=np.uint8)
    words[:, 8 - nbytes :] = flat.reshape(groups, nbytes)[:, ::-1]
    acc = words.view("<u8").reshape(groups)
    out = np.empty((groups, g), dtype=dtype)
    mask = np.uint64((1 << bits) - 1)
    for i in range(g):
        out[:, i] = (acc >> np.uint64(64 - bits * (i + 1))) & mask
    return out.reshape(-1)[:n]


def _pack_bitmatrix(idx: np.ndarray, bits: int) -> bytes:
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint16)
    parts = []
    for start in range(0, idx.size, _CHUNK):
        chunk = idx[start : start + _CHUNK].astype(np.uint16, copy=False)
        matrix = ((chunk[:, None] >> shifts) & 1).astype(np.uint8)
        parts.append(np.packbits(matrix.reshape(-1)).tobytes())
    return b"".join(parts)


def _unpack_bitmatrix(buf: np.ndarray, n: int, bits: int) -> np.ndarray:
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint16)
    out = np.empty(n, dtype=np.uint16)
    chunk_bytes = _CHUNK * bits // 8
    for i, start in enumerate(range(0, n, _CHUNK)):
        count = min(_CHUNK, n - start)
        raw = buf[i * chunk_bytes : i * chunk_bytes + packed_size(count, bits)]
        matrix = np.unpackbits(raw, count=count * bits).reshape(count, bits)
        out[start : start + count] = matrix.astype(np.uint16) @ weights
    return out
