"""The .kmc v1 container: header, palette, index payload, CRC-32 trailer.

This module is the executable form of ``spec/kmc-format.md``; the two must
agree field for field.  All integers are little-endian.

======  ====  ======  ==================  ===================================
offset  size  type    field               allowed values
======  ====  ======  ==================  ===================================
0       4     bytes   magic               ``4B 4D 43 46`` ("KMCF")
4       1     u8      version             1
5       1     u8      coder               0 = packed, 1 = entropy
6       1     u8      bits_per_index      ceil(log2(colors)), 0 to 16
7       1     u8      flags               0
8       4     u32     width               >= 1
12      4     u32     height              >= 1
16      4     u32     colors              1 to 65536
20      8     u64     payload_bytes       ceil(width*height*bits/8) (packed);
                                          the payload's length (entropy)
28      3K    u8[]    palette             K triplets R, G, B
28+3K   P     bytes   payload             the coded indices
end-4   4     u32     crc32               CRC-32 of every byte before it
======  ====  ======  ==================  ===================================
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from dataclasses import asdict, dataclass

import numpy as np

from . import bitpack
from .errors import FormatError, PixelLimitError, UnsupportedFormatError

__all__ = [
    "MAGIC",
    "VERSION",
    "CODER_PACKED",
    "CODER_ENTROPY",
    "CODER_NAMES",
    "coder_id",
    "HEADER_SIZE",
    "TRAILER_SIZE",
    "OVERHEAD",
    "MAX_COLORS",
    "Header",
    "KmcInfo",
    "bits_for_colors",
    "file_size",
    "build",
    "write",
    "parse_header",
    "parse",
    "info",
    "read_file",
    "fits_in_memory",
]

MAGIC = b"KMCF"
VERSION = 1
CODER_PACKED = 0
CODER_ENTROPY = 1
CODER_NAMES = {CODER_PACKED: "packed", CODER_ENTROPY: "entropy"}
MAX_COLORS = 65536
_HEADER = struct.Struct("<4sBBBBIIIQ")
HEADER_SIZE = _HEADER.size  # 28
TRAILER_SIZE = 4
OVERHEAD = HEADER_SIZE + TRAILER_SIZE  # 32: the same for every image


def bits_for_colors(colors: int) -> int:
    """``ceil(log2(colors))``: 0 for one colour, 1 for two, 8 for 256."""
    return (colors - 1).bit_length()


def coder_id(coder: str | int) -> int:
    """The header value of a coder given by name ("packed", "entropy") or id."""
    for number, name in CODER_NAMES.items():
        if coder == name or (isinstance(coder, int) and not isinstance(coder, bool) and coder == number):
            return number
    from .errors import ParameterError

    known = ", ".join(repr(n) for n in CODER_NAMES.values())
    raise ParameterError(f"coder is {coder!r}; it must be one of {known}")


def file_size(width: int, height: int, colors: int) -> int:
    """Exact size in bytes of a packed-coder file: 32 + 3K + ceil(N*b/8)."""
    n = width * height
    return OVERHEAD + 3 * colors + bitpack.packed_size(n, bits_for_colors(colors))


@dataclass(frozen=True)
class Header:
    """The fixed 28-byte header, validated."""

    version: int
    coder: int
    bits_per_index: int
    flags: int
    width: int
    height: int
    colors: int
    payload_bytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def palette_bytes(self) -> int:
        return 3 * self.colors

    @property
    def total_bytes(self) -> int:
        return OVERHEAD + self.palette_bytes + self.payload_bytes


@dataclass(frozen=True)
class KmcInfo:
    """What ``kmc info`` reports: dimensions, palette and byte breakdown.

    ``formula_bits`` is the textbook count 24K + N*ceil(log2 K); the file
    is ``ceil(formula_bits / 8)`` bytes plus the fixed 32-byte overhead
    (header 28 + trailer 4) for the packed coder.  For the entropy coder,
    ``index_bytes`` is the whole payload: a stripe table of
    ``stripe_table_bytes`` and ``stripes`` coded streams.
    """

    width: int
    height: int
    colors: int
    bits_per_index: int
    coder: str
    version: int
    header_bytes: int
    palette_bytes: int
    index_bytes: int
    trailer_bytes: int
    total_bytes: int
    formula_bits: int
    stripes: int = 1
    stripe_table_bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _pixel_limit() -> int | None:
    # Read at call time so that a caller's change to the limit is honoured.
    from PIL import Image

    return Image.MAX_IMAGE_PIXELS


def parse_header(data: bytes | memoryview, total_size: int | None = None) -> Header:
    """Validate the header of a .kmc file without touching pixel memory.

    Parameters
    ----------
    data : bytes-like
        At least the first 28 bytes of the file (more is ignored).
    total_size : int, optional
        Length of the whole file.  When given, it must equal the length the
        header declares, which catches truncation and trailing bytes.

    Returns
    -------
    Header

    Raises
    ------
    FormatError
        For every rule of ``spec/kmc-format.md`` section "Decoder checks"
        that the header breaks.
    UnsupportedFormatError
        For a version or coder this reader does not implement.
    PixelLimitError
        If width * height exceeds ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    magic = bytes(data[: len(MAGIC)])
    if magic != MAGIC[: len(magic)]:
        raise FormatError(f"magic is {magic!r}, expected {MAGIC!r}: not a .kmc file")
    if len(data) < HEADER_SIZE:
        raise FormatError(
            f"file is {len(data)} bytes, shorter than the {HEADER_SIZE}-byte "
            "header: truncated"
        )
    _, version, coder, bits, flags, width, height, colors, payload = _HEADER.unpack_from(data)
    if version != VERSION:
        raise UnsupportedFormatError(
            f"version is {version}; this reader supports version {VERSION} only"
        )
    if coder not in CODER_NAMES:
        known = ", ".join(f"{k} ({v})" for k, v in CODER_NAMES.items())
        raise UnsupportedFormatError(
            f"unsupported coder {coder}; this reader supports {known}"
        )
    if flags != 0:
        raise FormatError(f"flags is {flags:#04x}, must be 0 in version 1")
    if width == 0 or height == 0:
        raise FormatError(f"width x height is {width} x {height}; both must be >= 1")
    if not 1 <= colors <= MAX_COLORS:
        raise FormatError(f"colors is {colors}, must be from 1 to {MAX_COLORS}")
    if bits != bits_for_colors(colors):
        raise FormatError(
            f"bits_per_index is {bits}, must be ceil(log2(colors)) = "
            f"{bits_for_colors(colors)} for colors = {colors}"
        )
    limit = _pixel_limit()
    if limit is not None and width * height > limit:
        raise PixelLimitError(
            f"width x height is {width} x {height} = {width * height} pixels, "
            f"above the limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS); raise "
            "the limit only for files you trust"
        )
    expected = bitpack.packed_size(width * height, bits)
    if coder == CODER_PACKED and payload != expected:
        raise FormatError(
            f"payload_bytes is {payload}, must be ceil({width}*{height}*{bits}/8)"
            f" = {expected} for the packed coder"
        )
    header = Header(version, coder, bits, flags, width, height, colors, payload)
    if total_size is not None and total_size != header.total_bytes:
        declared = (
            f"the header declares {header.total_bytes} ({HEADER_SIZE} header + "
            f"{header.palette_bytes} palette + {payload} payload + "
            f"{TRAILER_SIZE} crc32)"
        )
        if total_size < header.total_bytes:
            raise FormatError(f"file is {total_size} bytes but {declared}: truncated")
        raise FormatError(
            f"file is {total_size} bytes but {declared}: "
            f"{total_size - header.total_bytes} trailing bytes"
        )
    return header


def read_file(path: str | os.PathLike) -> bytes:
    """The bytes of the .kmc file at ``path``, never more than its header declares.

    The header is read and checked first (against the file's size when it is
    a regular file), so that a device or pipe of endless bytes, or a forged
    length, is an error after 28 bytes rather than a read of everything.
    One byte past the declared end is read, so that trailing bytes are
    reported by :func:`parse`.
    """
    with open(path, "rb") as fh:
        head = fh.read(HEADER_SIZE)
        st = os.fstat(fh.fileno())
        header = parse_header(head, st.st_size if stat.S_ISREG(st.st_mode) else None)
        parts = [head]
        wanted = header.total_bytes + 1 - len(head)
        while wanted > 0:
            chunk = fh.read(min(wanted, 1 << 24))
            if not chunk:
                break
            parts.append(chunk)
            wanted -= len(chunk)
    return b"".join(parts)


def _check_crc(data: memoryview, header: Header) -> None:
    end = header.total_bytes - TRAILER_SIZE
    stored = int.from_bytes(data[end : end + TRAILER_SIZE], "little")
    actual = zlib.crc32(data[:end])
    if stored != actual:
        raise FormatError(
            f"crc32 is {stored:#010x} but the bytes before it give "
            f"{actual:#010x}: the file is corrupt"
        )


def info(data: bytes | memoryview) -> KmcInfo:
    """Check a whole file and describe it.

    Every decoder check is made, except that the coded streams of an
    entropy-coded file are not decoded (its CRC-32, stripe table and
    lengths are checked): describing a file stays fast.
    """
    view = memoryview(data).cast("B")
    header = parse_header(view, len(view))
    stripes, table = 1, 0
    if header.coder == CODER_PACKED:
        parse(view)
    else:
        _check_crc(view, header)
        from .entropy import payload_layout

        start = HEADER_SIZE + header.palette_bytes
        lengths = payload_layout(view[start : start + header.payload_bytes], header.height)[1]
        stripes, table = len(lengths), 4 + 4 * len(lengths)
    return KmcInfo(
        width=header.width,
        height=header.height,
        colors=header.colors,
        bits_per_index=header.bits_per_index,
        coder=CODER_NAMES[header.coder],
        version=header.version,
        header_bytes=HEADER_SIZE,
        palette_bytes=header.palette_bytes,
        index_bytes=header.payload_bytes,
        trailer_bytes=TRAILER_SIZE,
        total_bytes=header.total_bytes,
        formula_bits=24 * header.colors + header.pixels * header.bits_per_index,
        stripes=stripes,
        stripe_table_bytes=table,
    )


def parse(data: bytes | memoryview) -> tuple[Header, np.ndarray, np.ndarray]:
    """Validate a whole file and return its header, palette and indices.

    Returns
    -------
    header : Header
    palette : ndarray of shape (K, 3), uint8
    indices : ndarray of shape (height * width,), uint8 or uint16
        Row-major from the top-left; every value is below K.
    """
    view = memoryview(data).cast("B")
    header = parse_header(view, len(view))
    _check_crc(view, header)
    start = HEADER_SIZE
    palette = np.frombuffer(view, np.uint8, header.palette_bytes, start).reshape(-1, 3)
    start += header.palette_bytes
    payload = view[start : start + header.payload_bytes]
    if header.coder == CODER_ENTROPY:
        from .entropy import decode_payload, payload_layout

        payload_layout(payload, header.height)  # checked before any pixel memory
        indices = _allocate(header)
        decode_payload(payload, header.width, header.height, palette, indices)
        return header, palette.copy(), indices.reshape(-1)
    pad = bitpack.padding_bits(header.pixels, header.bits_per_index)
    if pad and payload[-1] & ((1 << pad) - 1):
        raise FormatError(
            f"the last payload byte is {payload[-1]:#04x}; its {pad} padding "
            "bits must be zero"
        )
    if not fits_in_memory(header.pixels * bitpack.index_dtype(header.bits_per_index).itemsize):
        raise _too_big(header)
    try:
        indices = bitpack.unpack(payload, header.pixels, header.bits_per_index)
    except (MemoryError, ValueError):  # the length was checked: only size fails here
        raise _too_big(header) from None
    if header.colors < (1 << header.bits_per_index):
        top = int(indices.max())
        if top >= header.colors:
            where = int(np.argmax(indices >= header.colors))
            raise FormatError(
                f"index {top} at pixel {where} (row {where // header.width}, "
                f"column {where % header.width}) is >= colors = {header.colors}"
            )
    return header, palette.copy(), indices


def _allocate(header: Header) -> np.ndarray:
    """The (H, W) index array, or a clean error when memory cannot hold it.

    Reached only within the pixel limit, or with the limit removed by the
    caller; then a forged size may still be more than memory.
    """
    dtype = np.uint8 if header.colors <= 256 else np.uint16
    if not fits_in_memory(header.pixels * np.dtype(dtype).itemsize):
        raise _too_big(header)
    try:
        return np.empty((header.height, header.width), dtype)
    except (MemoryError, ValueError):  # ValueError: more than the address space
        raise _too_big(header) from None


def fits_in_memory(nbytes: int) -> bool:
    """False when ``nbytes`` is more than this machine's physical memory.

    Virtual memory may be overcommitted, so ``np.empty`` of a forged size
    can succeed and decoding then runs for hours: such sizes are refused.
    """
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return True
    return nbytes <= ram


def _too_big(header: Header) -> PixelLimitError:
    return PixelLimitError(
        f"width x height is {header.width} x {header.height} = {header.pixels} pixels,"
        " more than this machine's memory can hold"
    )


def write(fh, width: int, height: int, palette: np.ndarray, indices: np.ndarray,
          coder: int = CODER_PACKED) -> int:
    """Write a .kmc file to the binary file ``fh``; return its size.

    The same bytes as :func:`build`, without holding the whole file in
    memory: 8-bit packed indices are written straight from their array.
    """
    colors = len(palette)
    bits = bits_for_colors(colors)
    flat = np.ascontiguousarray(indices).reshape(-1)
    if coder == CODER_ENTROPY:
        from .entropy import encode_payload

        payload = memoryview(encode_payload(flat.reshape(height, width), colors, palette))
    elif bits == 8:
        payload = flat.astype(np.uint8, copy=False).data
    else:
        payload = memoryview(bitpack.pack(flat, bits))
    head = _HEADER.pack(MAGIC, VERSION, coder, bits, 0, width, height, colors, payload.nbytes)
    pal = np.ascontiguousarray(palette, np.uint8).tobytes()
    crc = zlib.crc32(payload, zlib.crc32(pal, zlib.crc32(head)))
    for part in (head, pal, payload, crc.to_bytes(TRAILER_SIZE, "little")):
        fh.write(part)
    return len(head) + len(pal) + payload.nbytes + TRAILER_SIZE


def build(width: int, height: int, palette: np.ndarray, indices: np.ndarray,
          coder: int = CODER_PACKED) -> bytes:
    """Assemble a .kmc file; inputs are trusted (validated upstream).

    Parameters
    ----------
    width, height : int
    palette : ndarray of shape (K, 3), uint8
    indices : ndarray of shape (width * height,), values < K
    """
    buf = io.BytesIO()
    write(buf, width, height, palette, indices, coder)
    return buf.getvalue()
