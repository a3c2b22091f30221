"""The .kmc container: header, palette, index payload, CRC-32 trailer.

This module is the executable form of ``spec/kmc-format.md``; the two must
agree field for field.  All integers are little-endian.  Version 1 files
are opaque (palette entries R, G, B); version 2 files have the ``alpha``
flag and palette entries R, G, B, A (spec section 12).

======  ====  ======  ==================  ===================================
offset  size  type    field               allowed values
======  ====  ======  ==================  ===================================
0       4     bytes   magic               ``4B 4D 43 46`` ("KMCF")
4       1     u8      version             1 (opaque), 2 (alpha) or 3 (coded
                                          palette, either)
5       1     u8      coder               a registered coder (kmcodec.coder)
6       1     u8      bits_per_index      ceil(log2(colors)), 0 to 16
7       1     u8      flags               0 in version 1; 0x01 (alpha) in 2;
                                          0 or 0x01 in 3
8       4     u32     width               >= 1
12      4     u32     height              >= 1
16      4     u32     colors              1 to 65536
20      8     u64     payload_bytes       the payload's length (the packed
                                          coder: ceil(width*height*bits/8))
28      CK    u8[]    palette             K entries R, G, B (C = 3), or
                                          R, G, B, A (C = 4, alpha)
28+CK   P     bytes   payload             the coded indices
end-4   4     u32     crc32               CRC-32 of every byte before it
======  ====  ======  ==================  ===================================

Version 3 (spec section 14) has a 32-byte header: the fields above and
``palette_bytes`` (u32) at offset 28, the length of the coded palette
(:mod:`kmcodec.palette_code`) that follows it in place of the K raw
entries.  Writers use it when the index coder is not the packed one and
the coded palette is the smaller.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from dataclasses import asdict, dataclass, field
from typing import IO, BinaryIO

import numpy as np

from . import bitpack
from .coder import Coder, coders, find_coder, get_coder
from .errors import FormatError, ParameterError, PixelLimitError, UnsupportedFormatError

__all__ = [
    "MAGIC",
    "VERSION",
    "ALPHA_VERSION",
    "FLAG_ALPHA",
    "CODED_VERSION",
    "HEADER_SIZE",
    "CODED_HEADER_SIZE",
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
    "read_header_bytes",
    "read_palette",
    "parse",
    "info",
    "read_file",
    "coder_of",
]

MAGIC = b"KMCF"
VERSION = 1  # opaque files
ALPHA_VERSION = 2  # files whose palette holds alpha
CODED_VERSION = 3  # files whose palette is coded (spec section 14)
FLAG_ALPHA = 0x01
MAX_COLORS = 65536
_HEADER = struct.Struct("<4sBBBBIIIQ")
HEADER_SIZE = _HEADER.size  # 28
_PALETTE_LENGTH = struct.Struct("<I")
CODED_HEADER_SIZE = HEADER_SIZE + _PALETTE_LENGTH.size  # 32
TRAILER_SIZE = 4
OVERHEAD = HEADER_SIZE + TRAILER_SIZE  # 32: the same for every image


def bits_for_colors(colors: int) -> int:
    """``ceil(log2(colors))``: 0 for one colour, 1 for two, 8 for 256."""
    return (colors - 1).bit_length()


def file_size(width: int, height: int, colors: int, alpha: bool = False) -> int:
    """Exact size in bytes of a packed-coder file: 32 + 3K + ceil(N*b/8)
    (32 + 4K + ceil(N*b/8) with ``alpha``)."""
    n = width * height
    return OVERHEAD + (4 if alpha else 3) * colors + bitpack.packed_size(n, bits_for_colors(colors))


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
    #: Version 3's ``palette_bytes`` field, the coded palette's length; 0 before.
    coded_palette_bytes: int = 0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def alpha(self) -> bool:
        """Whether palette entries hold alpha (R, G, B, A)."""
        return bool(self.flags & FLAG_ALPHA)

    @property
    def channels(self) -> int:
        """Bytes per palette entry: 4 with alpha, else 3."""
        return 4 if self.alpha else 3

    @property
    def coded_palette(self) -> bool:
        """Whether the palette is coded (version 3) rather than K raw entries."""
        return self.version == CODED_VERSION

    @property
    def header_bytes(self) -> int:
        """28, or 32 in version 3."""
        return CODED_HEADER_SIZE if self.coded_palette else HEADER_SIZE

    @property
    def palette_bytes(self) -> int:
        """The palette's bytes in the file: C*K raw, or the coded length."""
        return self.coded_palette_bytes if self.coded_palette else self.channels * self.colors

    @property
    def total_bytes(self) -> int:
        return self.header_bytes + self.palette_bytes + self.payload_bytes + TRAILER_SIZE


@dataclass(frozen=True)
class KmcInfo:
    """What ``kmc info`` reports: dimensions, palette and byte breakdown.

    ``formula_bits`` is the textbook count 24K + N*ceil(log2 K) (32K + ...
    when ``alpha``: palette entries of 4 bytes); the file is
    ``ceil(formula_bits / 8)`` bytes plus the fixed 32-byte overhead
    (header 28 + trailer 4) for the packed coder.  ``index_bytes`` is the
    whole payload.  ``coded_palette`` says whether the palette is coded
    (version 3): then ``palette_bytes`` is the coded length.  ``details`` holds what the coder reports of its
    payload's structure (coders 1 and 2: ``stripes``, the number of
    coded streams, and ``stripe_table_bytes``; coder 2 also ``orientation``,
    0 or 1); :meth:`to_dict` puts those
    keys beside the others.
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
    alpha: bool = False
    coded_palette: bool = False
    details: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The fields as a flat dict (``kmc info --json``)."""
        out = asdict(self)
        out.update(out.pop("details"))
        return out


def _pixel_limit() -> int | None:
    # Read at call time so that a caller's change to the limit is honoured.
    from .pixellimit import current

    return current()


def parse_header(data: bytes | memoryview, total_size: int | None = None) -> Header:
    """Validate the header of a .kmc file without touching pixel memory.

    Parameters
    ----------
    data : bytes-like
        At least the first 28 bytes of the file, 32 in version 3 (more is
        ignored).
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
    if version not in (VERSION, ALPHA_VERSION, CODED_VERSION):
        raise UnsupportedFormatError(
            f"version is {version}; this reader supports versions {VERSION}, {ALPHA_VERSION} and {CODED_VERSION}"
        )
    coded = 0
    if version == CODED_VERSION:
        if len(data) < CODED_HEADER_SIZE:
            raise FormatError(
                f"file is {len(data)} bytes, shorter than the {CODED_HEADER_SIZE}-byte "
                f"header of version {CODED_VERSION}: truncated"
            )
        (coded,) = _PALETTE_LENGTH.unpack_from(data, HEADER_SIZE)
    found = find_coder(coder)
    if found is None:
        known = ", ".join(f"{c.id} ({c.name})" for c in coders())
        raise UnsupportedFormatError(
            f"unsupported coder {coder}; this reader supports {known}"
        )
    if version == VERSION and flags != 0:
        raise FormatError(f"flags is {flags:#04x}, must be 0 in version {VERSION}")
    if version == ALPHA_VERSION and flags != FLAG_ALPHA:
        raise FormatError(f"flags is {flags:#04x}, must be {FLAG_ALPHA:#04x} (alpha) in version {ALPHA_VERSION}")
    if version == CODED_VERSION and flags not in (0, FLAG_ALPHA):
        raise FormatError(
            f"flags is {flags:#04x}, must be 0x00 or {FLAG_ALPHA:#04x} (alpha) in version {CODED_VERSION}"
        )
    if version == CODED_VERSION and coded < 4:
        raise FormatError(f"palette_bytes is {coded}, must be at least 4 (a coded palette's shortest stream)")
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
    header = Header(version, coder, bits, flags, width, height, colors, payload, coded)
    found.check_header(header)
    if total_size is not None and total_size != header.total_bytes:
        declared = (
            f"the header declares {header.total_bytes} ({header.header_bytes} header + "
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


def read_file(path: str | os.PathLike | BinaryIO) -> bytes:
    """The bytes of the .kmc file at ``path``, never more than its header declares.

    ``path`` may also be an open binary file (standard input).  The header
    is read and checked first (against the file's size when it is a regular
    file), so that a device or pipe of endless bytes, or a forged length, is
    an error after the header (28 bytes, 32 in version 3) rather than a read
    of everything.  One byte past
    the declared end is read, so that trailing bytes are reported by
    :func:`parse`.
    """
    if not isinstance(path, (str, os.PathLike)):
        return _read_declared(path)
    with open(path, "rb") as fh:
        return _read_declared(fh)


def read_header_bytes(fh: IO[bytes]) -> bytes:
    """The header's bytes from ``fh``: 28, or 32 when the version byte says 3
    (spec section 14.1).  Short when the file is; :func:`parse_header` says so."""
    head = fh.read(HEADER_SIZE)
    if head[4:5] == bytes([CODED_VERSION]):
        head += fh.read(CODED_HEADER_SIZE - HEADER_SIZE)
    return head


def _read_declared(fh: BinaryIO) -> bytes:
    head = read_header_bytes(fh)
    try:
        st = os.fstat(fh.fileno())
        size = st.st_size if stat.S_ISREG(st.st_mode) and fh.tell() == len(head) else None
    except (OSError, AttributeError, ValueError):  # no file descriptor: a BytesIO
        size = None
    header = parse_header(head, size)
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


def _payload(view: memoryview, header: Header) -> memoryview:
    start = header.header_bytes + header.palette_bytes
    return view[start : start + header.payload_bytes]


def _palette(view: memoryview, header: Header) -> np.ndarray:
    start = header.header_bytes
    if header.coded_palette:
        from . import palette_code

        return palette_code.decode(view[start : start + header.palette_bytes], header.colors, header.channels)
    return np.frombuffer(view, np.uint8, header.palette_bytes, start).reshape(-1, header.channels)


def read_palette(data: bytes | memoryview) -> tuple[Header, np.ndarray]:
    """Check a whole file's header, lengths and CRC-32, then read its palette.

    The palette of a version-3 file is decoded only after the CRC has
    checked out (spec section 14.3).  The payload is not decoded.

    Returns
    -------
    header : Header
    palette : ndarray of shape (K, 3), or (K, 4) with alpha; uint8
    """
    view = memoryview(data).cast("B")
    header = parse_header(view, len(view))
    _check_crc(view, header)
    return header, np.array(_palette(view, header))


def info(data: bytes | memoryview) -> KmcInfo:
    """Check a whole file and describe it.

    The header, the lengths, the CRC-32 and the payload's structure (its
    coder's :meth:`~kmcodec.coder.Coder.layout`) are checked; neither the
    payload nor a coded palette is decoded, so describing a file stays fast.
    """
    view = memoryview(data).cast("B")
    header = parse_header(view, len(view))
    _check_crc(view, header)
    details = coder_of(header).layout(_payload(view, header), header)
    return KmcInfo(
        width=header.width,
        height=header.height,
        colors=header.colors,
        bits_per_index=header.bits_per_index,
        coder=coder_of(header).name,
        version=header.version,
        header_bytes=header.header_bytes,
        palette_bytes=header.palette_bytes,
        index_bytes=header.payload_bytes,
        trailer_bytes=TRAILER_SIZE,
        total_bytes=header.total_bytes,
        formula_bits=8 * header.channels * header.colors + header.pixels * header.bits_per_index,
        alpha=header.alpha,
        coded_palette=header.coded_palette,
        details=details,
    )


def coder_of(header: Header) -> Coder:
    """The registered coder of a header that passed :func:`parse_header`."""
    found = find_coder(header.coder)
    assert found is not None  # parse_header refuses unknown coders
    return found


def parse(data: bytes | memoryview) -> tuple[Header, np.ndarray, np.ndarray]:
    """Validate a whole file and return its header, palette and indices.

    Returns
    -------
    header : Header
    palette : ndarray of shape (K, 3), or (K, 4) with alpha; uint8
    indices : ndarray of shape (height * width,), uint8 or uint16
        Row-major from the top-left; every value is below K.
    """
    view = memoryview(data).cast("B")
    header = parse_header(view, len(view))
    _check_crc(view, header)
    palette = _palette(view, header)
    indices = coder_of(header).decode(_payload(view, header), header, palette)
    return header, np.array(palette), indices


def _stored_palette(palette: np.ndarray, chosen: Coder, coded: bool | None) -> bytes | None:
    """The coded palette when it is to be written, else None (raw entries)."""
    from . import palette_code

    # A stream is at least 4 bytes, after the 4 of palette_bytes: 8 raw bytes or fewer always win.
    if coded is False or (coded is None and (chosen.name == "packed" or palette.size <= 8)):
        return None
    if not palette_code.is_canonical(palette):
        if coded:
            raise ParameterError("coded_palette is True but the palette is not strictly ascending by canonical"
                                 " value (spec sections 4, 12.2): only such a palette can be coded")
        return None
    stream = palette_code.encode(palette)
    if coded is None and _PALETTE_LENGTH.size + len(stream) >= palette.size:
        return None
    return stream


def write(fh, width: int, height: int, palette: np.ndarray, indices: np.ndarray,
          coder: str | int | Coder = "packed", coded_palette: bool | None = None) -> int:
    """Write a .kmc file to the binary file ``fh``; return its size.

    The same bytes as :func:`build`, without holding the whole file in
    memory: 8-bit packed indices are written straight from their array.
    ``coder`` is a registered coder, by name, id or instance.  A palette
    of 4 channels (R, G, B, A) makes a version-2 file with the alpha flag,
    unless every entry is opaque: then it is a version-1 file of R, G, B
    (spec section 12.2).  ``coded_palette`` chooses version 3, whose
    palette is coded (spec section 14): None (the default) codes it when
    the coder is not the packed one, the palette is canonical and the coded
    palette is the smaller; True always (the palette must be canonical);
    False never.
    """
    chosen = get_coder(coder)
    colors = len(palette)
    alpha = palette.shape[1] == 4 and bool((palette[:, 3] < 255).any())
    if palette.shape[1] == 4 and not alpha:
        palette = palette[:, :3]
    palette = np.ascontiguousarray(palette, np.uint8)
    stream = _stored_palette(palette, chosen, coded_palette)
    grid = np.ascontiguousarray(indices).reshape(height, width)
    payload = memoryview(chosen.encode(grid, palette)).cast("B")
    version = CODED_VERSION if stream is not None else ALPHA_VERSION if alpha else VERSION
    head = _HEADER.pack(MAGIC, version, chosen.id, bits_for_colors(colors),
                        FLAG_ALPHA if alpha else 0, width, height, colors, payload.nbytes)
    if stream is not None:
        head += _PALETTE_LENGTH.pack(len(stream))
    pal = palette.tobytes() if stream is None else stream
    crc = zlib.crc32(payload, zlib.crc32(pal, zlib.crc32(head)))
    for part in (head, pal, payload, crc.to_bytes(TRAILER_SIZE, "little")):
        fh.write(part)
    return len(head) + len(pal) + payload.nbytes + TRAILER_SIZE


def build(width: int, height: int, palette: np.ndarray, indices: np.ndarray,
          coder: str | int | Coder = "packed", coded_palette: bool | None = None) -> bytes:
    """Assemble a .kmc file; inputs are trusted (validated upstream).

    Parameters
    ----------
    width, height : int
    palette : ndarray of shape (K, 3), or (K, 4) for alpha; uint8
    indices : ndarray of shape (width * height,), values < K
    coder : str, int or Coder, default "packed"
    coded_palette : bool or None, default None
        As for :func:`write`.
    """
    buf = io.BytesIO()
    write(buf, width, height, palette, indices, coder, coded_palette)
    return buf.getvalue()
