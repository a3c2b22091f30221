"""A .kmc decoder written from ``spec/kmc-format.md`` alone.

Standard library only, no kmcodec imports: this file exists to show that
the specification is precise enough to decode every frozen vector.  Names
follow the spec; ``# §n`` comments point at its sections.  It is slow
(pure Python) and meant for tests, not for use.

    width, height, palette, indices = decode(data)
    pixel i (row-major from the top-left) = palette[indices[i]]

(palette entries are (R, G, B), or (R, G, B, A) in a version-2 file and in
a version-3 file with flags 0x01; a version-3 palette is coded, section 14.)
"""

from __future__ import annotations

import struct
import zlib
from itertools import islice
from operator import add

__all__ = ["SpecError", "decode", "DEFAULT_MAX_PIXELS"]

# §3 magic "KMCF"
MAGIC = b"KMCF"
HEADER_SIZE = 28
HEADER_SIZE_V3 = 32  # §14.1: the 28 bytes of §3, then palette_bytes
# §7 check 9: kmcodec uses PIL.Image.MAX_IMAGE_PIXELS; Pillow's default.
DEFAULT_MAX_PIXELS = 89_478_485


class SpecError(ValueError):
    """The bytes break a rule of the .kmc specification."""


Palette = list[tuple[int, ...]]


def decode(
    data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[int, int, Palette, list[int]]:
    """Decode a .kmc file to ``(width, height, palette, indices)``.

    Makes the checks of §7 (with the changes of §14.3 in version 3) in
    the spec's order and raises SpecError on the first failure.
    ``max_pixels`` is the reader's pixel limit of check 9 (None disables it).
    """
    data = bytes(data)
    length = len(data)

    # §7 check 1: the first min(4, length) bytes differ from the magic.
    n = min(4, length)
    if data[:n] != MAGIC[:n]:
        raise SpecError("bad magic: not a .kmc file")
    # §7 check 2: shorter than the 28-byte header.
    if length < HEADER_SIZE:
        raise SpecError(f"truncated header: {length} bytes, need {HEADER_SIZE}")

    # §3 header fields, little-endian.
    version, coder, bits_per_index, flags = data[4], data[5], data[6], data[7]
    width, height, colors, payload_bytes = struct.unpack_from("<IIIQ", data, 8)

    # §7 check 3 (§14.3: versions 1, 2 and 3)
    if version not in (1, 2, 3):
        raise SpecError(f"unsupported version {version}")
    # §14.3 check 2, made after check 3: a version-3 file shorter than its 32-byte header.
    if version == 3 and length < HEADER_SIZE_V3:
        raise SpecError(f"truncated header: {length} bytes, need {HEADER_SIZE_V3} in version 3")
    # §7 check 4 / §8: name the coder, "unsupported coder".
    if coder not in (0, 1, 2):
        raise SpecError(f"unsupported coder {coder}")
    # §7 check 5 (§12.1: version 2 has flags 0x01, alpha; §14.1: version 3 has 0 or 0x01)
    palette_bytes = 0
    if version == 3:
        if flags not in (0, 1):
            raise SpecError(f"flags must be 0 or 1 in version 3, got {flags}")
        C = 4 if flags else 3  # §14.1: bytes per palette entry
        # §14.1 / §14.3 check 5: then palette_bytes (offset 28) below 4 is an error
        (palette_bytes,) = struct.unpack_from("<I", data, 28)
        if palette_bytes < 4:
            raise SpecError(f"palette_bytes is {palette_bytes}, must be >= 4")
    else:
        if flags != (0 if version == 1 else 1):
            raise SpecError(f"flags must be {0 if version == 1 else 1} in version {version}, got {flags}")
        C = 3 if version == 1 else 4  # §12.1: bytes per palette entry
    # §7 check 6
    if width == 0 or height == 0:
        raise SpecError(f"width and height must be >= 1, got {width} x {height}")
    # §7 check 7
    if not 1 <= colors <= 65536:
        raise SpecError(f"colors must be in 1..65536, got {colors}")
    # §7 check 8: b = ceil(log2 K) = bit length of K - 1.
    b = (colors - 1).bit_length()
    if bits_per_index != b:
        raise SpecError(f"bits_per_index is {bits_per_index}, must be {b} for {colors} colors")
    N = width * height
    # §7 check 9: strictly greater than the limit is rejected.
    if max_pixels is not None and width * height > max_pixels:
        raise SpecError(f"{width} x {height} = {N} pixels is above the pixel limit {max_pixels}")
    # §7 check 10: the coder's header rule (coder 0 only; none for coders 1, §11.7, and 2, §13.6).
    if coder == 0 and payload_bytes != (N * b + 7) // 8:
        raise SpecError(f"payload_bytes is {payload_bytes}, must be {(N * b + 7) // 8} for coder 0")
    # §7 check 11: file length = 32 + 3K + payload_bytes (32 + 4K + ... in version 2;
    # §14.3: 36 + palette_bytes + payload_bytes in version 3).
    if version == 3:
        expected = 36 + palette_bytes + payload_bytes
    else:
        expected = 32 + C * colors + payload_bytes
    if length < expected:
        raise SpecError(f"truncated file: {length} bytes, header says {expected}")
    if length > expected:
        raise SpecError(f"trailing bytes: {length} bytes, header says {expected}")
    # §7 check 12 / §3: CRC-32 (zlib) of everything before it, stored little-endian.
    (crc32,) = struct.unpack_from("<I", data, length - 4)
    if zlib.crc32(data[: length - 4]) != crc32:
        raise SpecError("crc32 mismatch")

    if version == 3:
        # §14.3: after check 12 and before check 13, the coded palette at 32 .. 31 + Q.
        palette = decode_palette(data[32 : 32 + palette_bytes], colors, C)
        start = 32 + palette_bytes
    else:
        # §4 palette: K entries R, G, B at 28 + 3i (§12.1: R, G, B, A at 28 + 4i).
        palette = [tuple(data[28 + C * i : 28 + C * (i + 1)]) for i in range(colors)]
        start = 28 + C * colors
    payload = data[start : start + payload_bytes]

    # §7 check 13: the coder's payload rules.
    if coder == 0:
        indices = decode_packed(payload, N, b, colors)
    elif coder == 1:
        indices = decode_entropy(payload, width, height, palette)
    else:
        indices = decode_mix(payload, width, height, palette)
    return width, height, palette, indices


# ---------------------------------------------------------------------------
# §5 coder 0, "packed"


def decode_packed(payload: bytes, N: int, b: int, colors: int) -> list[int]:
    """§5: N indices of b bits each, most significant bit first."""
    if b == 0:  # §5 K = 1: every index is 0, empty payload
        return [0] * N
    # §5 padding: the (-(N*b)) mod 8 least significant bits of the last byte MUST be zero.
    padding = (-(N * b)) % 8
    if padding and payload[-1] & ((1 << padding) - 1):
        raise SpecError("nonzero padding bits")
    # bit(j) = (payload[j div 8] >> (7 - j mod 8)) & 1; an index spans at most 3 bytes (b <= 16).
    padded = payload + b"\0\0"
    mask = (1 << b) - 1
    indices = [0] * N
    for i in range(N):
        j = i * b
        byte = j >> 3
        word = (padded[byte] << 16) | (padded[byte + 1] << 8) | padded[byte + 2]
        indices[i] = (word >> (24 - (j & 7) - b)) & mask
    # §5 / §7 check 13: every index MUST be below K.
    for i, v in enumerate(indices):
        if v >= colors:
            raise SpecError(f"index {v} at pixel {i} is not below colors = {colors}")
    return indices


# ---------------------------------------------------------------------------
# §11 coder 1, "entropy"

# §11.2
M = 2**32 - 1

# §11.3 counters: rate[n] = 655360 div (10n + 16)
RATE = [655360 // (10 * n + 16) for n in range(256)]

# §11.3 squash knots
T = [1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047,
     2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094]  # fmt: skip


def squash(d: int) -> int:
    """§11.3: d in -2048..2047 to 0..4095."""
    w = d & 127
    j = (d >> 7) + 16
    return (T[j] * (128 - w) + T[j + 1] * w + 64) >> 7


def _make_stretch() -> list[int]:
    """§11.3: stretch, the inverse of squash, for q in 0..4095."""
    table = [2047] * 4096  # "q values left over get 2047"
    nxt = 0  # one past the largest q assigned so far (none yet)
    for d in range(-2047, 2048):
        s = squash(d)
        for q in range(nxt, s + 1):
            table[q] = d
        nxt = max(nxt, s + 1)
    return table


STRETCH = _make_stretch()

# §11.3 / §11.4 sizes and offsets of the counter tables
HASH_BITS = 18
N_DIRECT = 12740
Q2_BASE = 256
Q2B_BASE = 2304
EXP_BASE = 10496
MANT_BASE = 11584
N_WEIGHT_SETS = 8
ABSENT = -1  # §11.4


def hash3(a: int, b: int, c: int) -> int:
    """§11.3: the hashed counter slot of hash(a, b, c) (b, c may be -1)."""
    h = (a * 0x9E3779B1 + b + 1) & M
    h = (h * 0x85EBCA77 + c + 1) & M
    h = (h * 0xC2B2AE3D) & M
    return h >> (32 - HASH_BITS)


class BinaryDecoder:
    """§11.3: the binary decoder of one stream, with a table of ``n_direct`` fresh
    counters for plain decisions (coder 1's direct counters; §14.2's palette counters)."""

    def __init__(self, stream: bytes, n_direct: int) -> None:
        self.stream = stream
        self.pos = 0  # bytes read so far, including past the end (read as 0)
        self.x1 = 0
        self.x2 = M
        self.x = 0
        for _ in range(4):  # the first 4 bytes, big-endian
            self.x = (self.x << 8) | self._next_byte()
        # §11.3 counters: p = 32768, n = 0
        self.direct_p = [32768] * n_direct
        self.direct_n = [0] * n_direct

    def _next_byte(self) -> int:
        # §11.3 stream length: bytes past the end are read as 0, and the stripe rejected later.
        pos = self.pos
        self.pos += 1
        return self.stream[pos] if pos < len(self.stream) else 0

    def code(self, p: int) -> int:
        """§11.3: decode one bit with probability p (of a 1) in units of 1/65536."""
        x1, x2 = self.x1, self.x2
        r = x2 - x1
        xmid = x1 + ((r >> 16) * p) + (((r & 65535) * p) >> 16)
        bit = 1 if self.x <= xmid else 0
        if bit:
            x2 = xmid
        else:
            x1 = xmid + 1
        while ((x1 ^ x2) & 0xFF000000) == 0:
            self.x = ((self.x << 8) & M) | self._next_byte()
            x1 = (x1 << 8) & M
            x2 = ((x2 << 8) & M) | 255
        self.x1, self.x2 = x1, x2
        return bit

    @staticmethod
    def _update(ps: list[int], ns: list[int], i: int, bit: int) -> None:
        """§11.3 counter update."""
        n = ns[i]
        ps[i] += (((bit * 65536) - ps[i]) * RATE[n]) >> 16
        ns[i] = min(n + 1, 255)

    def plain(self, ctx: int) -> int:
        """§11.3 plain decision on direct counter ``ctx``."""
        p = min(max(self.direct_p[ctx], 32), 65504)
        bit = self.code(p)
        self._update(self.direct_p, self.direct_n, ctx, bit)
        return bit


class StripeDecoder(BinaryDecoder):
    """§11.3: one stripe's binary decoder and its model (all fresh per stripe)."""

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream, N_DIRECT)
        # §11.3 counters: the hashed table, fresh like the direct one
        self.hashed_p = [32768] * (1 << HASH_BITS)
        self.hashed_n = [0] * (1 << HASH_BITS)
        # §11.3: 8 weight sets, initially 40000, 30000, 0
        self.weights = [[40000, 30000, 0] for _ in range(N_WEIGHT_SETS)]

    def mixed(self, a_ctx: int, b_slot: int, wset: int) -> int:
        """§11.3 mixed decision: direct counter A, hashed counter B, weight set ``wset``."""
        w = self.weights[wset]
        s1 = STRETCH[self.direct_p[a_ctx] >> 4]
        s2 = STRETCH[self.hashed_p[b_slot] >> 4]
        d = min(max(((w[0] * s1) + (w[1] * s2) + (w[2] * 256)) >> 16, -2047), 2047)
        p = min(max((squash(d) * 16) + 8, 32), 65504)
        bit = self.code(p)
        self._update(self.direct_p, self.direct_n, a_ctx, bit)
        self._update(self.hashed_p, self.hashed_n, b_slot, bit)
        e = ((bit * 65536) - p) >> 4
        w[0] += (s1 * e) >> 10
        w[1] += (s2 * e) >> 10
        w[2] += (256 * e) >> 10
        return bit


def grid_bits(K: int, C: int) -> int:
    """§11.6: the largest g <= 5 with 8^g * K <= 2^23 (g >= 1); §12.3: 16^g
    with the four channels of alpha."""
    g = 5
    while g > 1 and (2 ** (C * g)) * K > 2**23:
        g -= 1
    return g


class CellOrders:
    """§11.6 *Order*: each grid cell's ordering of the palette, built on first use."""

    def __init__(self, palette: Palette) -> None:
        self.K = len(palette)
        self.C = len(palette[0])  # §12.3: every channel, alpha too
        self.g = grid_bits(self.K, self.C)
        self.channels = [[c[ch] for c in palette] for ch in range(self.C)]
        self.cells: dict[int, list[int]] = {}
        self.squares: dict[tuple[int, int], list[int]] = {}

    def _squares(self, ch: int, centre: int) -> list[int]:
        """(palette[i][ch] - centre)^2 for every i."""
        key = (ch, centre)
        if key not in self.squares:
            self.squares[key] = [(v - centre) ** 2 for v in self.channels[ch]]
        return self.squares[key]

    def order(self, P: list[int]) -> list[int]:
        """The cell's order for the (clamped) prediction P, one value a channel."""
        g = self.g
        shift = 8 - g
        # §11.6: the cell (the channels' top g bits, R first; §12.3: then A)
        # and its centre ((P >> (8-g)) << (8-g)) + (2^(8-g) >> 1)
        cell = 0
        for v in P:
            cell = cell << g | (v >> shift)
        order = self.cells.get(cell)
        if order is None:
            half = (1 << shift) >> 1
            squares = [self._squares(ch, ((v >> shift) << shift) + half) for ch, v in enumerate(P)]
            dist2 = squares[0]
            for more in squares[1:]:
                dist2 = list(map(add, dist2, more))
            # sorted() is stable, so ties stay in index order as §11.6 asks
            order = sorted(range(self.K), key=dist2.__getitem__)
            self.cells[cell] = order
        return order


def _stripes(payload: bytes, height: int, coder: int) -> list[tuple[bytes, int, int]]:
    """§11.1 / §11.7 (and §13.6): the stripe table's checks, in their order;
    returns each stripe's stream and its rows y0 .. y1-1.  For coder 2,
    ``payload`` is the bytes after the orientation byte (§13)."""
    P = len(payload)
    what = f"coder {coder} payload" if coder == 1 else "coder 2 payload after the orientation byte"
    # §11.7: the payload is at least 4 bytes
    if P < 4:
        raise SpecError(f"{what}: {P} bytes, shorter than 4")
    # §11.1 / §11.7: stripe_rows >= 1
    (R,) = struct.unpack_from("<I", payload, 0)
    if R < 1:
        raise SpecError("stripe_rows must be >= 1")
    S = (height + R - 1) // R
    # §11.7: the stripe table fits
    if 4 + 4 * S > P:
        raise SpecError(f"stripe table of {S} entries does not fit in the {P} bytes of the {what}")
    stripe_bytes = struct.unpack_from(f"<{S}I", payload, 4)
    # §11.1 / §11.7: 4 + 4S + sum(stripe_bytes) MUST equal payload_bytes
    if 4 + 4 * S + sum(stripe_bytes) != P:
        raise SpecError(f"stripe lengths do not add up to the {P} bytes of the {what}")
    out = []
    offset = 4 + 4 * S
    for s in range(S):
        out.append((payload[offset : offset + stripe_bytes[s]], s * R, min((s + 1) * R, height)))
        offset += stripe_bytes[s]
    return out


def _check_length(dec: BinaryDecoder, stream: bytes, name: str) -> None:
    """§11.3 stream length: exactly the bytes its decoding reads (``name``: whose stream)."""
    if dec.pos != len(stream):
        what = "needs bytes past its end" if dec.pos > len(stream) else "has bytes left unread"
        raise SpecError(f"{name}: stream of {len(stream)} bytes {what} (decoding read {dec.pos})")


def decode_entropy(payload: bytes, width: int, height: int, palette: Palette) -> list[int]:
    """§11: coder 1's payload, with the checks of §11.7 in their order."""
    stripes = _stripes(payload, height, 1)
    orders = CellOrders(palette)  # §11.6
    indices = [0] * (width * height)
    for s, (stream, y0, y1) in enumerate(stripes):
        dec = StripeDecoder(stream)
        _decode_stripe(dec, indices, width, y0, y1, palette, orders)
        _check_length(dec, stream, f"stripe {s}")
    return indices


def _decode_stripe(
    dec: StripeDecoder,
    indices: list[int],
    width: int,
    y0: int,
    y1: int,
    palette: Palette,
    orders: CellOrders,
) -> None:
    """§11.4 / §11.5: rows y0 .. y1-1 in raster order."""
    for y in range(y0, y1):
        row = y * width
        for x in range(width):
            # §11.4 neighbours; outside the stripe (rows < y0, or columns outside
            # 0..width-1) they are absent (-1).
            L = indices[row + x - 1] if x >= 1 else ABSENT
            LL = indices[row + x - 2] if x >= 2 else ABSENT
            if y - 1 >= y0:
                up = row - width
                U = indices[up + x]
                UL = indices[up + x - 1] if x >= 1 else ABSENT
                UR = indices[up + x + 1] if x + 1 < width else ABSENT
            else:
                U = UL = UR = ABSENT
            UU = indices[row - 2 * width + x] if y - 2 >= y0 else ABSENT
            pat = (
                (L == U)
                | (L == UL) << 1
                | (L == UR) << 2
                | (U == UL) << 3
                | (U == UR) << 4
                | (UL == UR) << 5
                | (L == LL) << 6
                | (U == UU) << 7
            )
            indices[row + x] = _decode_index(dec, L, U, UL, UR, LL, UU, pat, palette, orders)


def _decode_index(
    dec: StripeDecoder,
    L: int,
    U: int,
    UL: int,
    UR: int,
    LL: int,
    UU: int,
    pat: int,
    palette: Palette,
    orders: CellOrders,
) -> int:
    """§11.5: coding one index X."""
    # §11.5 step 1: [X = L]
    if L != ABSENT and dec.mixed(pat, hash3(0, L, U), pat & 3):
        return L
    # §11.5 step 2: rest = U, UR, UL, LL, UU without absent ones, L and repeats
    rest: list[int] = []
    for v in (U, UR, UL, LL, UU):
        if v != ABSENT and v != L and v not in rest:
            rest.append(v)
    m = len(rest)
    if m > 0 and dec.mixed(Q2_BASE + 8 * pat + m, hash3(m, L, U), 4 + (pat & 3)):
        for i in range(m - 1):
            if dec.plain(Q2B_BASE + 8 * (256 * i + pat) + m):
                return rest[i]
        return rest[m - 1]
    # §11.5 step 3: a literal
    return _decode_literal(dec, L, U, UL, rest, palette, orders)


def _decode_literal(
    dec: StripeDecoder,
    L: int,
    U: int,
    UL: int,
    rest: list[int],
    palette: Palette,
    orders: CellOrders,
) -> int:
    """§11.6: a literal, none of the neighbours."""
    K = len(palette)
    C = len(palette[0])  # §12.3: with alpha, every sum runs over four channels
    # §11.6 prediction
    if L != ABSENT and U != ABSENT and UL != ABSENT:
        cL, cU, cUL = palette[L], palette[U], palette[UL]
        pred = [cL[ch] + cU[ch] - cUL[ch] for ch in range(C)]
        act = sum(abs(cL[ch] - cUL[ch]) + abs(cU[ch] - cUL[ch]) for ch in range(C))
    else:
        if L != ABSENT:
            pred = list(palette[L])
        elif U != ABSENT:
            pred = list(palette[U])
        else:
            pred = [128] * C
        act = 0
    P = [min(max(v, 0), 255) for v in pred]
    a = 7
    for cand in range(8):
        if act < (4 << cand):
            a = cand
            break

    # §11.6 order: the palette sorted by squared distance to the centre of P's cell
    order = orders.order(P)

    # §11.6 excluded: the distinct present neighbour values (rest plus L)
    excluded = set(rest)
    if L != ABSENT:
        excluded.add(L)
    nc = len(excluded)
    left = K - nc
    if left == 0:
        raise SpecError("literal with left = 0 (every palette entry is a neighbour)")

    # §11.6 number: v = r + 1 as Elias gamma; exponent counters (a, nc, k)
    emax = left.bit_length() - 1  # floor(log2 left)
    e = 0
    while e < emax and dec.plain(EXP_BASE + 17 * (8 * a + nc) + e):
        e += 1
    # mantissa: bits k = e-1 .. 0; counter (e, k, c), c = bits known so far for the first two
    v = 1
    for k in range(e - 1, -1, -1):
        c = v if k >= e - 2 else 0
        v = (v << 1) | dec.plain(MANT_BASE + 4 * (17 * e + k) + c)
    r = v - 1
    if r >= left:
        raise SpecError(f"literal rank r = {r} is not below left = {left}")

    # X is the entry at position r of the order counting only non-excluded entries;
    # at most nc excluded entries come before it.
    candidates = [X for X in order[: r + nc + 1] if X not in excluded]
    return candidates[r]


# ---------------------------------------------------------------------------
# §13 coder 2, "mix"

MIX_HASH_BITS = 18  # §13.1 H: 2^18
MIX_D = 131072  # §13.1 D
MIX_E = 19720  # §13.5 E
MIX_SETS = 738  # §13.1 weight sets w[s], s = 0..737, initially 10000
MIX_SET_SIZE = 11  # §13.1 of 11 weights each (a two-layer decision: 10 inputs and a bias)
MIX_FINAL = 8  # §13.1 final weight sets f of 3, initially 21845
N_SUB = 13  # §13.2 sub-predictors q_0 .. q_12
N_CELL_SOURCES = 16  # §13.3 sources t = 8..23 from the cell's order
T1_BITS = 17
T2_BITS = 15
MT_BITS = 18  # §13.1 match table MT: 2^18
MATCH_SRC = 15  # §13.3 the match value's source, src[0] = 15
MATCH_PIN = 8  # §13.3 a match with mlen >= 8 is pinned
# §13.5 offsets in E
EXP_AQ, EXP_SQ, EXP_SA, MAN_E, MAN_SQ = 0, 1224, 3060, 4692, 5848
# §13.2 sub-predictor weights: rw(e) = max(1, 2^28 div e^2)
RW = [0] + [max(1, 2**28 // (e * e)) for e in range(1, 4096)]
MIX_BIAS = 3072  # §13.1 bias records B[bc], bc = 0..3071
MIX_MAPS = 1408  # §13.1 probability maps maps[m], m = 0..1407, of 33 knots
MAPS_BY_ENTRY = 384  # §13.4 m2 = 384 + (v mod 1024)
# §13.1 a fresh map's knots: 16 * squash(min(128*j - 2048, 2047)), j = 0..32
MAP_INIT = [16 * squash(min(128 * j - 2048, 2047)) for j in range(33)]


def hash5(a: int, b: int, c: int, d: int, e: int) -> int:
    """§13.1: hash5, every argument and step modulo 2^32."""
    h = ((a & M) * 0x9E3779B1 + (b & M) + 1) & M
    h = (h * 0x85EBCA77 + (c & M) + 1) & M
    h = (h * 0xC2B2AE3D + (d & M) + 1) & M
    h = (h * 0x27D4EB2F + (e & M) + 1) & M
    return (h * 0x165667B1) & M


def slot(h: int, n: int) -> int:
    """§13.1: the top n bits of h."""
    return h >> (32 - n)


def qs(e: int) -> int:
    """§13.4: a signed difference reduced to a step, 0..7 for e >= 0 and 17..23
    for e < 0 (16 never occurs); bitlen is Python's int.bit_length (bitlen(0) = 0)."""
    return min(e.bit_length(), 7) if e >= 0 else 16 + min((-e).bit_length(), 7)


class BiasRecord:
    """§13.2: a bias record B[bc]: sums s[0..C-1], count n and gain g, fresh 0."""

    def __init__(self, C: int) -> None:
        self.s = [0] * C
        self.n = 0
        self.g = 0


class MixStripeDecoder(StripeDecoder):
    """§13.1: the binary decoder of §11.3 with coder 2's tables, all fresh
    (C: the number of channels, for the bias records' sums)."""

    def __init__(self, stream: bytes, C: int) -> None:
        super().__init__(stream)
        # counters as (table of p, table of n): "H", "D", "E"
        self.tables = {
            name: ([32768] * size, [0] * size)
            for name, size in (("H", 1 << MIX_HASH_BITS), ("D", MIX_D), ("E", MIX_E))
        }
        self.w = [[10000] * MIX_SET_SIZE for _ in range(MIX_SETS)]
        self.f = [[21845] * 3 for _ in range(MIX_FINAL)]
        self.T1 = [-1] * (1 << T1_BITS)
        self.T2 = [-1] * (1 << T2_BITS)
        self.MT = [-1] * (1 << MT_BITS)
        # §13.3 the match's offset and length (carried from pixel to pixel within the stripe)
        self.moff = 0
        self.mlen = 0
        self.B = [BiasRecord(C) for _ in range(MIX_BIAS)]
        self.maps = [list(MAP_INIT) for _ in range(MIX_MAPS)]

    def mix(self, inputs: list[tuple[str, int]], s: int) -> int:
        """§13.1: a mixed decision of n inputs (table, index) with weight set s."""
        w = self.w[s]
        n = len(inputs)
        t = [STRETCH[self.tables[name][0][i] >> 4] for name, i in inputs]
        d = min(max((sum(w[j] * t[j] for j in range(n)) + w[n] * 256) >> 16, -2047), 2047)
        p = min(max(squash(d) * 16 + 8, 32), 65504)
        bit = self.code(p)
        for name, i in inputs:  # in order; a shared counter is updated twice
            ps, ns = self.tables[name]
            self._update(ps, ns, i, bit)
        e = ((bit * 65536) - p) >> 4
        for j in range(n):
            w[j] = min(max(w[j] + ((t[j] * e) >> 12), -(2**31)), 2**31)
        w[n] = min(max(w[n] + ((256 * e) >> 12), -(2**31)), 2**31)
        return bit

    def mix2(self, inputs: list[tuple[str, int]], sets: tuple[int, int, int], r: int, maps: tuple[int, int]) -> int:
        """§13.1: a two-layer decision of 10 inputs (table, index), with first-layer
        weight sets s0, s1, s2, final set f[r] and probability maps m1, m2."""
        n = len(inputs)
        t = [STRETCH[self.tables[name][0][i] >> 4] for name, i in inputs]
        ds = []
        for s in sets:
            w = self.w[s]
            ds.append(min(max((sum(w[j] * t[j] for j in range(n)) + w[n] * 256) >> 16, -2047), 2047))
        f = self.f[r]
        d = min(max((f[0] * ds[0] + f[1] * ds[1] + f[2] * ds[2]) >> 16, -2047), 2047)
        p = min(max(squash(d) * 16 + 8, 32), 65504)
        # the maps refine p: knots kn and kn+1, interpolated by fr
        kn = (d + 2048) >> 7  # 0..31
        fr = (d + 2048) & 127
        m1, m2 = (self.maps[m] for m in maps)
        q1 = (m1[kn] * (128 - fr) + m1[kn + 1] * fr) >> 7
        q2 = (m2[kn] * (128 - fr) + m2[kn + 1] * fr) >> 7
        bit = self.code(min(max((p + q1 + 2 * q2) >> 2, 32), 65504))
        for knots in (m1, m2):
            for k in (kn, kn + 1):
                knots[k] += ((bit * 65536) - knots[k]) >> 6
        for name, i in inputs:  # in order; a shared counter is updated twice
            ps, ns = self.tables[name]
            self._update(ps, ns, i, bit)
        for s, d_k in zip(sets, ds):
            w = self.w[s]
            p_k = min(max(squash(d_k) * 16 + 8, 32), 65504)
            e = ((bit * 65536) - p_k) >> 4
            for j in range(n):
                w[j] = min(max(w[j] + ((t[j] * e) >> 12), -(2**31)), 2**31)
            w[n] = min(max(w[n] + ((256 * e) >> 12), -(2**31)), 2**31)
        e = ((bit * 65536) - p) >> 6  # the final set learns from the mixed p, not the coded one
        for k in range(3):
            f[k] = min(max(f[k] + ((ds[k] * e) >> 12), -(2**31)), 2**31)
        return bit


def decode_mix(payload: bytes, width: int, height: int, palette: Palette) -> list[int]:
    """§13: coder 2's payload; the checks of §13.6 in order: the orientation
    byte, then those of §11.7 on the bytes after it and the coded image."""
    # §13.6: the payload is at least 1 byte and orientation is 0 or 1
    if len(payload) < 1:
        raise SpecError("coder 2 payload of 0 bytes has no orientation byte")
    orientation = payload[0]
    if orientation not in (0, 1):
        raise SpecError(f"orientation must be 0 or 1, got {orientation}")
    # §13: the coded image is the stored one (0) or its transpose (1): width and
    # height swapped, its pixel (x, y) the stored image's pixel (y, x)
    cw, cht = (width, height) if orientation == 0 else (height, width)
    stripes = _stripes(payload[1:], cht, 2)  # §11.1 of the coded image
    orders = CellOrders(palette)  # §13.5 uses §11.6's cells and orders
    coded = [0] * (cw * cht)
    for s, (stream, y0, y1) in enumerate(stripes):
        dec = MixStripeDecoder(stream, len(palette[0]))
        try:
            _decode_mix_stripe(dec, coded, cw, y0, y1, palette, orders)
        except SpecError as e:  # §13.5's literal checks: name the stripe, as _check_length does
            raise SpecError(f"stripe {s}: {e}") from None
        _check_length(dec, stream, f"stripe {s}")
    if orientation == 0:
        return coded
    # §13 / §6: back in the stored image's row-major order; stored (x, y) is coded (y, x)
    return [coded[x * cw + y] for y in range(height) for x in range(width)]


def _decode_mix_stripe(
    dec: MixStripeDecoder,
    indices: list[int],
    width: int,
    y0: int,
    y1: int,
    palette: Palette,
    orders: CellOrders,
) -> None:
    K = len(palette)
    C = len(palette[0])
    err: dict[int, int] = {}  # §13.4 err(p) of the stripe's pixels (absent: 0)
    serr: dict[int, list[int]] = {}  # serr(p, i)
    zero_serr = [0] * N_SUB

    def at(x: int, y: int) -> int:
        # §11.4: absent outside the image's columns or above the stripe
        return indices[y * width + x] if 0 <= x < width and y >= y0 else ABSENT

    tones = [sum(c) for c in palette]  # §13.4 tone(v) = Σ(v), the sum of c(v)'s channels

    def tone(v: int) -> int:
        return tones[v]

    def rel(v: int, nb: int) -> int:
        # §13.4 rel(v, N) = tone(v) - tone(N), or 0 if N is absent
        return tones[v] - tones[nb] if nb != ABSENT else 0

    for y in range(y0, y1):
        for x in range(width):
            L, LL = at(x - 1, y), at(x - 2, y)
            U, UL, UR, UU = at(x, y - 1), at(x - 1, y - 1), at(x + 1, y - 1), at(x, y - 2)
            pat = (
                (L == U)
                | (L == UL) << 1
                | (L == UR) << 2
                | (U == UL) << 3
                | (U == UR) << 4
                | (UL == UR) << 5
                | (L == LL) << 6
                | (U == UU) << 7
            )

            def e_at(px: int, py: int) -> int:
                return err.get(py * width + px, 0) if at(px, py) != ABSENT else 0

            def s_at(px: int, py: int) -> list[int]:
                return serr.get(py * width + px, zero_serr) if at(px, py) != ABSENT else zero_serr

            # §13.2 the prediction
            full = L != ABSENT and U != ABSENT
            q: list[list[int]] = []
            if full:
                weights = []
                for i in range(N_SUB):
                    e_i = s_at(x - 1, y)[i] + s_at(x, y - 1)[i] + s_at(x - 1, y - 1)[i] + s_at(x + 1, y - 1)[i] + 1
                    weights.append(RW[min(e_i, 4095)])
                S = sum(weights)
                wp, act = [], 0
                for ch in range(C):
                    a, b, cc = palette[L][ch], palette[U][ch], palette[UL][ch]
                    d = palette[UR][ch] if UR != ABSENT else b
                    ll = palette[LL][ch] if LL != ABSENT else a
                    uu = palette[UU][ch] if UU != ABSENT else b
                    q_ch = [a + b - cc, a + ((d - cc) >> 1), b + ((a - cc) >> 1), (a + d + 1) >> 1,
                            2 * a - ll, 2 * b - uu, (a + b + 1) >> 1, a + d - b, (a + b + cc + d + 2) >> 2,
                            b, a, d, cc]  # fmt: skip
                    q.append(q_ch)
                    A = sum(w_i * q_i for w_i, q_i in zip(weights, q_ch))
                    wp.append(min(max((A + (S >> 1)) // S, 0), 255))  # Python // is floor
                    act += abs(a - cc) + abs(b - cc)
            else:
                wp = list(palette[L]) if L != ABSENT else list(palette[U]) if U != ABSENT else [128] * C
                act = 0
            esum = 2 * e_at(x - 1, y) + 2 * e_at(x, y - 1) + e_at(x - 1, y - 1) + e_at(x + 1, y - 1)
            sq = next((k for k in range(12) if esum < 6 << k), 11)
            aq = next((k for k in range(8) if act < 4 << k), 7)

            # §13.2 bias correction (only when the prediction is full)
            if full:
                w0 = wp
                S0 = sum(w0)
                bits = 0
                for k, nb in enumerate((L, U, UL, UR, LL, UU)):
                    if nb != ABSENT and sum(palette[nb]) > S0:
                        bits |= 1 << k
                # 2a - ll and 2b - uu, summed over channels: q_4 and q_5 of the sub-predictions
                bits |= (sum(q[ch][4] for ch in range(C)) > S0) << 6
                bits |= (sum(q[ch][5] for ch in range(C)) > S0) << 7
                bc = 256 * sq + bits
                rec = dec.B[bc]
                w1 = w0
                if rec.n >= 16:
                    w1 = []
                    for ch in range(C):
                        sc, n = rec.s[ch], rec.n
                        corr = (sc + (n >> 1)) // n if sc >= 0 else -((-sc + (n >> 1)) // n)
                        w1.append(min(max(w0[ch] + corr, 0), 255))
                    if rec.g > 0:
                        wp = w1

            # §13.3 candidates
            h1 = slot(hash5(L, U, UL, UR, LL), T1_BITS)
            h2 = slot(hash5(L, U, 7, 7, 7), T2_BITS)
            p1, p2 = dec.T1[h1], dec.T2[h2]

            # §13.3 the match: L3, L4, UR2 absent by the same rule; here = position in the stripe
            L3, L4, UR2 = at(x - 3, y), at(x - 4, y), at(x + 2, y - 1)
            here = (y - y0) * width + x
            hm = slot(hash5(hash5(L, LL, L3, L4, U), UL, UR, UR2, UU), MT_BITS)
            flat = L == LL == L3 == L4 == U == UL == UR == UR2 == UU
            if dec.moff == 0 and not flat and dec.MT[hm] != -1:
                dec.moff = here - dec.MT[hm]
                dec.mlen = 0
                if dec.moff <= 2 or dec.moff in (width - 1, width, width + 1, 2 * width):
                    dec.moff = 0
            # the match value: the pixel at position here - moff of the stripe (already coded)
            mv = indices[y0 * width + here - dec.moff] if dec.moff > 0 else -1

            # §13.3 the list: the match value first (src 15, distance not doubled), if any
            cands: list[tuple[int, int, int]] = []  # (v, src, dist), kept in order of dist
            if mv != -1:
                cands.append((mv, MATCH_SRC, sum((palette[mv][ch] - wp[ch]) ** 2 for ch in range(C))))
            pinned = mv != -1 and dec.mlen >= MATCH_PIN  # nothing is inserted before it
            lo = 1 if pinned else 0  # lo for t < 8
            # sources t = 0..7, then t = 8..23: the first 16 entries of the cell's order (§13.5)
            cell_order = orders.order(wp)
            sources = [p1, p2, L, U, UR, UL, LL, UU, *cell_order[:N_CELL_SOURCES]]
            for t, v in enumerate(sources):
                if t == 8 and p1 != -1 and p1 == p2:  # lo is fixed when the scan reaches t = 8
                    lo = [c for c, _, _ in cands].index(p1) + 1  # one past p1's position
                if v == -1 or any(v == c for c, _, _ in cands):
                    continue
                d2 = sum((palette[v][ch] - wp[ch]) ** 2 for ch in range(C))
                dist = d2 if t < 8 else 2 * d2 + 1
                # stable insertion, never before position lo
                j = len(cands)
                while j > lo and cands[j - 1][2] > dist:
                    j -= 1
                cands.insert(j, (v, min(t, 14), dist))

            # §13.4 one decision per candidate
            pc = 0  # the prediction's coarse colour
            for ch in range(C):
                pc = pc * 16 + (wp[ch] >> 4)

            # §13.4 relative contexts
            wps = sum(wp)  # wp after the bias correction
            # once per pixel: G = sum over channels of clamp(a + b - cc, 0, 255) (q_0, clamped), and
            # gw = qs(G - S0), S0 the sum of wp's channels *before* the bias correction; else 15
            if full:
                G = sum(min(max(q[ch][0], 0), 255) for ch in range(C))
                gw = qs(G - S0)
            else:
                G, gw = 0, 15  # (G is then unused)
            X = -1
            for i, (v, src, dist) in enumerate(cands):
                i7 = min(i, 7)
                dq = next((k for k in range(1, 12) if dist < 4 << k), 11)
                icf = (v == p1) | (v == p2) << 1
                fl = (v == L) | (v == U) << 1 | (v == UR) << 2 | (v == UL) << 3
                mm = 0 if v != mv else 1 + next((b for b in range(8) if dec.mlen < 2**b), 7)
                rel_l, rel_u, rel_ur = rel(v, L), rel(v, U), rel(v, UR)
                rl, ru, rp = qs(rel_l), qs(rel_u), qs(tone(v) - wps)
                gv = qs(tone(v) - G) if full else 15  # 15: a value qs never gives
                sg = 2 * (tone(v) < wps) + (rel_l * rel_u < 0)
                inputs = [
                    ("D", 4 * (256 * (16 * i7 + src) + pat) + icf),
                    ("H", slot(hash5(100 + i7, v, L, U, dq), MIX_HASH_BITS)),
                    ("H", slot(hash5(200 + i7, rl, ru, qs(rel(v, LL)), qs(rel(v, UU))), MIX_HASH_BITS)),
                    ("H", slot(hash5(400 + src, dq, fl, icf, pat), MIX_HASH_BITS)),
                    ("H", slot(hash5(500 + i7, dq, sq, mm, 0), MIX_HASH_BITS)),
                    ("H", slot(hash5(600, v, dq, L, 0), MIX_HASH_BITS)),
                    ("H", slot(hash5(700, v, pc, 0, 0), MIX_HASH_BITS)),
                    ("H", slot(hash5(800, gv, gw, sq, min(i, 1)), MIX_HASH_BITS)),
                    ("H", slot(hash5(900 + i7, rl, ru, qs(rel_ur), qs(rel(v, UL))), MIX_HASH_BITS)),
                    ("H", slot(hash5(1000 + i7, ru, qs(rel_ur), qs(rel_ur - rel_u), rp), MIX_HASH_BITS)),
                ]
                sets = (4 * (16 * i7 + src) + icf, 546 + 12 * i7 + dq, 642 + 12 * i7 + sq)
                maps = (4 * (12 * i7 + sq) + sg, MAPS_BY_ENTRY + v % 1024)
                if dec.mix2(inputs, sets, i7, maps):
                    X = v
                    break
            if X == -1:
                X = _decode_mix_literal(dec, palette, cell_order, wp, [c for c, _, _ in cands], aq, sq, K, C)

            indices[y * width + x] = X
            dec.T1[h1] = X
            dec.T2[h2] = X
            # §13.3 the match learns, in this order
            if dec.moff > 0:
                if mv == X:
                    dec.mlen += 1
                else:
                    dec.moff = 0
                    dec.mlen = 0
            if not flat:
                dec.MT[hm] = here
            err[y * width + x] = sum(abs(palette[X][ch] - wp[ch]) for ch in range(C))  # wp after 13.2's step
            if full:  # §13.2: B[bc] learns, in this order
                cX = palette[X]
                gain = sum(abs(cX[ch] - w0[ch]) - abs(cX[ch] - w1[ch]) for ch in range(C))
                for ch in range(C):
                    rec.s[ch] += cX[ch] - w0[ch]
                rec.g += 16 * gain - (rec.g >> 6)
                rec.n += 1
                if rec.n == 128:
                    rec.n = 64
                    rec.s = [sc >> 1 for sc in rec.s]
            serr[y * width + x] = (
                [sum(abs(palette[X][ch] - min(max(q[ch][i], 0), 255)) for ch in range(C)) for i in range(N_SUB)]
                if full
                else zero_serr
            )


def _decode_mix_literal(
    dec: MixStripeDecoder,
    palette: Palette,
    cell_order: list[int],
    wp: list[int],
    cands: list[int],
    aq: int,
    sq: int,
    K: int,
    C: int,
) -> int:
    """§13.5: a literal (``cell_order``: the order of the cell of wp)."""
    nc = len(cands)
    n8 = min(nc, 8)
    top = min(32, K)

    def dist(v: int) -> int:
        return sum((palette[v][ch] - wp[ch]) ** 2 for ch in range(C))

    order = sorted(cell_order[:top], key=lambda v: (dist(v), v)) + cell_order[top:]
    left = K - nc
    if left == 0:
        raise SpecError("literal with left = 0 (every palette entry is a candidate)")
    emax = left.bit_length() - 1
    e = 0
    while e < emax and dec.mix(
        [("E", EXP_AQ + 17 * (9 * aq + n8) + e), ("E", EXP_SQ + 17 * (9 * sq + n8) + e),
         ("E", EXP_SA + 17 * (8 * sq + aq) + e)], 512 + e):  # fmt: skip
        e += 1
    v = 1
    for k in range(e - 1, -1, -1):
        c = v if k >= e - 2 else 0
        v = (v << 1) | dec.mix(
            [("E", MAN_E + 4 * (17 * e + k) + c), ("E", MAN_SQ + 4 * (17 * (17 * sq + e) + k) + c)], 529 + e)
    r = v - 1
    if r >= left:
        raise SpecError(f"literal rank r = {r} is not below left = {left}")
    # X is the entry at position r of the order counting only non-candidates
    taken = set(cands)
    return next(islice((X for X in order if X not in taken), r, None))


# ---------------------------------------------------------------------------
# §14 a coded palette: format version 3


def decode_palette(stream: bytes, K: int, C: int) -> Palette:
    """§14.2 / §14.3: the coded palette (``palette_bytes`` bytes) of K entries of
    C bytes, with its checks; returns the entries sorted by canonical value."""
    D = 8 * C  # §14.2: key bits
    # §14.2: one binary-coder stream, plain decisions, all counters fresh:
    # BOTH[d][s] at d * 4 + s, then ONE[d][s] at D * 4 + d * 4 + s.
    dec = BinaryDecoder(stream, 2 * D * 4)
    keys: list[int] = []

    def visit(d: int, prefix: int, s: int) -> None:
        """§14.2: visit node (d, prefix) with parent symbol s."""
        if d == D:
            # the node is an entry; §14.3: rejected at the first entry too many
            if len(keys) == K:
                raise SpecError(f"coded palette holds more than colors = {K} entries")
            keys.append(prefix)
            return
        both = dec.plain(d * 4 + s)  # [both halves hold keys], BOTH[d][s]
        one = 0
        if both:
            sym = 2
        else:
            one = dec.plain(D * 4 + d * 4 + s)  # [only the bit-1 half holds keys], ONE[d][s]
            sym = one
        if both or one == 0:
            visit(d + 1, 2 * prefix, sym)
        if both or one == 1:
            visit(d + 1, 2 * prefix + 1, sym)

    visit(0, 0, 3)  # the root (0, 0), s = 3
    # §14.3: after the last node, the stream length rule of §11.3; then fewer than K entries
    _check_length(dec, stream, "coded palette")
    if len(keys) < K:
        raise SpecError(f"coded palette holds {len(keys)} entries, colors = {K}")

    entries: list[tuple[int, tuple[int, ...]]] = []
    for key in keys:
        # §14.3: byte v[j mod C] gets key bit j as its bit 7 - (j div C)
        v = [0] * C
        for j in range(D):
            v[j % C] |= ((key >> (D - 1 - j)) & 1) << (7 - j // C)
        value = int.from_bytes(bytes(v), "big")  # §14.2: canonical value, v[0] most significant
        # §14.2: v is R, G, B or A, R, G, B; entries are stored R, G, B(, A) (§4, §12)
        entries.append((value, tuple(v) if C == 3 else (v[1], v[2], v[3], v[0])))
    # §14.3: sorted by ascending canonical value (not the order of the keys)
    entries.sort()
    return [entry for _, entry in entries]
