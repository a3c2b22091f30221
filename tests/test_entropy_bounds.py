"""Coder 1 (entropy): the stripe layout cannot make decoding expensive, and
coding many small stripes gives the bytes the coder always gave.

The frozen vectors of ``test_entropy.py`` pin the format; the digests here
pin it further for layouts those vectors do not reach (one-row stripes, one
column, thousands of stripes).  They were recorded from the encoder that
coded each stripe in its own call, before stripes shared one model state.
"""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec import container, entropy
from kmcodec.errors import FormatError

_M32 = np.uint64(0xFFFFFFFF)


def _indices(height: int, width: int, k: int, salt: int) -> np.ndarray:
    """Indices below ``k``: runs and gradients mixed with hashed noise.

    Integer arithmetic only, so the same on every machine and NumPy: the
    digests below depend on it.
    """
    y, x = np.mgrid[:height, :width].astype(np.uint64)
    h = (x * np.uint64(0x9E3779B1) + y * np.uint64(0x85EBCA77) + np.uint64(salt)) & _M32
    h = ((h ^ (h >> np.uint64(15))) * np.uint64(0x2C1B3C6D)) & _M32
    h ^= h >> np.uint64(12)
    smooth = (x // np.uint64(5) + y // np.uint64(3)) % np.uint64(k)
    noise = h % np.uint64(k)
    flat = np.zeros_like(h)
    pick = h % np.uint64(8)
    out = np.where(pick < 3, smooth, np.where(pick < 5, flat, noise))
    return out.astype(np.uint8 if k <= 256 else np.uint16)


def _palette(k: int, salt: int) -> np.ndarray:
    i = np.arange(k, dtype=np.int64)
    return np.stack([(i * 37 + salt) % 256, (i * 101 + 3 * salt) % 256, (i * 53 + 7) % 256], 1).astype(np.uint8)


def _photo() -> tuple[np.ndarray, np.ndarray]:
    """A 90 x 120 photograph crop on a fixed 3-3-2 bit palette (K = 256)."""
    rgb = np.asarray(Image.open(Path(__file__).resolve().parent.parent / "samples" / "chelsea.png")
                     .convert("RGB"))[:90, :120].astype(np.int64)
    indices = ((rgb[..., 0] >> 5) << 5) | ((rgb[..., 1] >> 5) << 2) | (rgb[..., 2] >> 6)
    i = np.arange(256)
    palette = np.stack([(i >> 5) * 36 + 18, ((i >> 2) & 7) * 36 + 18, (i & 3) * 64 + 32], 1)
    return indices.astype(np.uint8), palette.astype(np.uint8)


def _case(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "photo":
        return _photo()
    shape, k, salt = CASES[name]
    return _indices(*shape, k, salt), _palette(k, salt)


# name -> ((height, width), K, salt)
CASES = {
    "k1-40x30": ((40, 30), 1, 1),
    "k2-40x30": ((40, 30), 2, 2),
    "k3-row-1x3000": ((1, 3000), 3, 3),
    "k3-column-3000x1": ((3000, 1), 3, 4),
    "k16-column-3000x1": ((3000, 1), 16, 5),
    "k256-row-1x3000": ((1, 3000), 256, 6),
    "k256-57x61": ((57, 61), 256, 7),
    "k300-column-3000x1": ((3000, 1), 300, 8),
    "k300-31x45": ((31, 45), 300, 9),
    "k5000-23x19": ((23, 19), 5000, 10),
    "photo": None,
}

# (name, stripe_rows) -> sha256 of the payload, as the per-stripe encoder
# produced it.  None is the default stripe_rows.
DIGESTS = {
    ('k1-40x30', 1): "7aa153db6dcb037cdf8ad68cf875e070a1e36b8f6dec2e915b5082464f2a2034",
    ('k1-40x30', 2): "c074e023ef9c30b96bbc287ccce7d605e179e5696d3bb1c36ad094079cacbcf7",
    ('k1-40x30', 7): "cf16829a73daf88ed8eebcd9f7e6969d43a68294bf51839840e4703206aa7e81",
    ('k1-40x30', None): "1d49185416e1bf2c381c0d10a800b4804bbe7e6ff268870be77c47fccab72ef0",
    ('k2-40x30', 1): "9653f59ebdf2e7421713338f529da596ed5f5015c45070b00de6688560486dbb",
    ('k2-40x30', 2): "b7af21304611adc04fd2810669f430c8c8b93e44fabfaf57286e0eb3dcc62be0",
    ('k2-40x30', 7): "7148e6030371596a2f0f327f4ecfe9c92fcf9e8928e08995e4f0d877d9bc419f",
    ('k2-40x30', None): "e9c848257411dc56e0f16a3713e061988a739feb219f10eaa79940064db37481",
    ('k3-row-1x3000', 1): "a272c12b301bb6048bbb5e7f841c41d2105774e9ee20d5681f110da6649806bf",
    ('k3-row-1x3000', 2): "8fcb08dfd6ec3eaf764926be49aff622eee4448c3f6020b7c1f6370385bff613",
    ('k3-row-1x3000', 7): "893095a3a619e284d5b853091cd97c2e153504b8afe696a206bfb5a008ef3641",
    ('k3-row-1x3000', None): "a272c12b301bb6048bbb5e7f841c41d2105774e9ee20d5681f110da6649806bf",
    ('k3-column-3000x1', 1): "1899d336865f55604ac66a1a9261a7e686b3431a3c9550894f95f779b4c01deb",
    ('k3-column-3000x1', 2): "f6a346a8b557403f132eea18b0a83c6643d74f466a7fa9167b87bc794aa0d6f2",
    ('k3-column-3000x1', 7): "9074c84ee0198522837d0d26f5feb5fa644721d04be65e974924781043e330cd",
    ('k3-column-3000x1', None): "2fbda6bbf1e66c034c9ff22666cefc609686614575a24c292d26c8c30fec4ee9",
    ('k16-column-3000x1', 1): "0aef5eec45dae9a78d5ab9b3e3a2271e64b473f0b326dc67ff05074f6056f9df",
    ('k16-column-3000x1', 2): "c9e9cede346736305549d01b2039acd51ee30490c0a15884fc21b08296237988",
    ('k16-column-3000x1', 7): "375c7b1882fada362831218450271ba37d235158f5e7ff3831ee929c5cdd0654",
    ('k16-column-3000x1', None): "f33d0ca97a58eeb77c32c92ca32e3f7a66acde5be8f001d7b127b82045d62096",
    ('k256-row-1x3000', 1): "9e928b15d2ac3e8a408178899f044476f3baa8dbd3ff259de68940fea8a407c7",
    ('k256-row-1x3000', 2): "1e79bde0ab04d12454467f805437e10abae7f1182a9732f0dbc624cf5561f39c",
    ('k256-row-1x3000', 7): "8320a03f6da303ea076ad2c2e74a29dab82f7aea5893e410609acd28333449fc",
    ('k256-row-1x3000', None): "9e928b15d2ac3e8a408178899f044476f3baa8dbd3ff259de68940fea8a407c7",
    ('k256-57x61', 1): "d0b908c5e4333d7b3bb457dfc66c7adfd014ddef9a31dbccd4ec74bf58144aaf",
    ('k256-57x61', 2): "e4e90b6998f6318955467fe37951059d29e1a834e0cc9af6bfc73bc9ec6dba43",
    ('k256-57x61', 7): "220354e7b2e10f843630fc8d439cdb9348ad0d33e58488a15a4c70f368752b05",
    ('k256-57x61', None): "0ee06c12359c3dd3f6c3e3f6576b8aa0fef6a1b03c28c3cdd8b951ea4b940757",
    ('k300-column-3000x1', 1): "bae8b39ae951f22ad766bb4afe797beb5f856f6d37782ae9ee4375f7f2add24c",
    ('k300-column-3000x1', 2): "b7e1f27453b0d1250836387af76d36c47247d45360ea64436eca62b08c8c86ee",
    ('k300-column-3000x1', 7): "87a4f87eeefa968a5db4c3c807f83a7e070f54eba97105e0269b2f5689e4f4df",
    ('k300-column-3000x1', None): "97a4577475903e91aef3d56fb6cff6f639ed4e30a0c32770f02a588bd873239d",
    ('k300-31x45', 1): "f2e743081e709316ba4f8c973eadd9794dc086a42ac84cc694a61c6318078590",
    ('k300-31x45', 2): "cf41262997fffb3361b6f9826d2d871875c21897dcf55af2819ea7a32718b770",
    ('k300-31x45', 7): "9a8e867d8a9a63a127b0db2700d3cb0d9c89d3d2485d800ea362bace88a35e4d",
    ('k300-31x45', None): "9f582ca1a2fc74693b2ce94141aa3c812dca317b811fafc0d5a595ba9af7d364",
    ('k5000-23x19', 1): "174e957b3dbb9ebe270d5b5f8695dbdd5c19961121c5fe3cce52dcd3dee941c8",
    ('k5000-23x19', 2): "42be31bc94a3f4584c91b925c4cfaad9f420c35553eaaebd9ca9478a5324c64a",
    ('k5000-23x19', 7): "943cea835477f2e3fb190969819b6014657f71e1da1e20af28ea8f1b2acb4243",
    ('k5000-23x19', None): "e756d2afb659387a3daafc1defe0408f53f188c66c03502045b8972bce5162ef",
    ('photo', 1): "66cd90637cf028ed309131c8b10493fc933f1579770f957518924f036dcc9f35",
    ('photo', 2): "196c786cca3754e81b1ea5c1f39492a429afe2fe1a8b0e440dda55d046a642e9",
    ('photo', 7): "077622dd2c829bc8e4f3b25a81386549e5b20c13ab24f5e8fc4f4b8d5e608677",
    ('photo', None): "ce73188bd7c7f2e09fb51ba5e3cc55f6f6fbafc4e59f751faf444ef810fc8b83",
}


@pytest.mark.parametrize("name, rows", sorted(DIGESTS, key=str))
def test_payload_bytes_unchanged(name, rows):
    indices, palette = _case(name)
    payload = entropy.encode_payload(indices, len(palette), palette, rows)
    assert hashlib.sha256(payload).hexdigest() == DIGESTS[name, rows]
    height, width = indices.shape
    stripes = -(-height // (rows or entropy.stripe_rows_for(width, height)))
    assert len(entropy.payload_layout(payload, height)[1]) == stripes
    out = np.empty_like(indices)
    entropy.decode_payload(payload, width, height, palette, out)
    assert np.array_equal(out, indices)


def test_digest_table_covers_every_case():
    assert {name for name, _ in DIGESTS} == set(CASES)


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 64, 4096, 4097])
def test_stripes_on_either_side_of_the_small_stripe_limit(rows):
    """Counters made fresh by the cheap reset and by the refill agree."""
    indices, palette = _indices(9000, 1, 7, 11), _palette(7, 11)
    payload = entropy.encode_payload(indices, 7, palette, rows)
    # Each stripe alone, as a one-stripe payload, gives the same stream.
    _, lengths = entropy.payload_layout(payload, 9000)
    start = 4 + 4 * len(lengths)
    for s in (0, 1, len(lengths) - 1):
        one = entropy.encode_payload(indices[s * rows : (s + 1) * rows], 7, palette, rows)
        stream = payload[start + sum(lengths[:s]) : start + sum(lengths[: s + 1])]
        assert one[8:] == stream
    out = np.empty_like(indices)
    entropy.decode_payload(payload, 1, 9000, palette, out)
    assert np.array_equal(out, indices)


def test_index_types_and_output_arrays():
    indices, palette = _indices(33, 17, 40, 12), _palette(40, 12)
    payload = entropy.encode_payload(indices, 40, palette, 3)
    assert entropy.encode_payload(indices.astype(np.int64), 40, palette, 3) == payload
    assert entropy.encode_payload(np.asfortranarray(indices), 40, palette, 3) == payload
    readonly = indices.copy()
    readonly.flags.writeable = False
    assert entropy.encode_payload(readonly, 40, palette, 3) == payload
    # Outputs the compiled decoder does not write directly get a copy.
    for out in (np.empty((33, 17), np.int32), np.empty((33, 17), np.uint8, order="F")):
        entropy.decode_payload(bytearray(payload), 17, 33, palette, out)
        assert np.array_equal(out, indices)


def _best(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_one_row_stripes_cost_about_one_stripe():
    """A 1 x 150000 image in 150000 stripes against the same in one stripe.

    Each stripe used to allocate and fill a fresh 1 MiB model: about 900
    times the one-stripe time, 5 us per payload byte.  Best of 3 runs, and
    compared with the one-stripe time of the same run, so a loaded machine
    slows both sides.
    """
    n = 150_000
    indices, palette = _indices(n, 1, 16, 13), _palette(16, 13)
    striped = entropy.encode_payload(indices, 16, palette, 1)
    whole = entropy.encode_payload(indices, 16, palette, n)
    assert len(striped) > 8 * n
    out = np.empty_like(indices)
    entropy.decode_payload(whole, 1, n, palette, out)  # compiled before timing
    t_striped = _best(lambda: entropy.decode_payload(striped, 1, n, palette, out))
    assert np.array_equal(out, indices)
    t_whole = _best(lambda: entropy.decode_payload(whole, 1, n, palette, out))
    assert t_striped < 10 * t_whole + 0.02, (t_striped, t_whole)
    assert t_striped / len(striped) < 1e-6, t_striped
    e_striped = _best(lambda: entropy.encode_payload(indices, 16, palette, 1))
    e_whole = _best(lambda: entropy.encode_payload(indices, 16, palette, n))
    assert e_striped < 10 * e_whole + 0.02, (e_striped, e_whole)


def _file(width: int, height: int, palette: np.ndarray, payload: bytes) -> bytes:
    body = struct.pack("<4sBBBBIIIQ", b"KMCF", 1, 1, container.bits_for_colors(len(palette)), 0,
                       width, height, len(palette), len(payload)) + palette.tobytes() + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize("fill", ["empty", "zeros", "ones", "noise"])
def test_many_garbage_stripes_decode_or_fail_quickly(fill, entropy_compiled):
    """A valid stripe table of 100000 one-row stripes over garbage streams."""
    width, height, colors = 2, 100_000, 5
    rng = np.random.default_rng(14)
    sizes = {"empty": np.zeros(height, np.int64), "zeros": np.full(height, 3),
             "ones": np.full(height, 6), "noise": rng.integers(0, 12, height)}[fill]
    streams = {"empty": b"", "zeros": bytes(int(sizes.sum())), "ones": b"\xff" * int(sizes.sum()),
               "noise": rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8).tobytes()}[fill]
    payload = struct.pack("<I", 1) + sizes.astype("<u4").tobytes() + streams
    data = _file(width, height, _palette(colors, 14), payload)
    start = time.perf_counter()
    try:
        indices = kmcodec.decode_palette(data)[1]
    except FormatError as exc:
        indices, error = None, str(exc)
    elapsed = time.perf_counter() - start
    if indices is None:
        assert "the coded data is corrupt" in error
    else:
        assert indices.shape == (height, width) and int(indices.max()) < colors
    assert elapsed < 2.0


@pytest.mark.parametrize("bad", [[5], [9_998], [7, 9_000]])
def test_error_names_the_first_bad_stripe(bad):
    """With K = 1 a stream of 0xff says 'not the left neighbour' at x = 1,
    which leaves no palette entry for a literal."""
    height, palette = 10_000, np.zeros((1, 3), np.uint8)
    payload = bytearray(entropy.encode_payload(np.zeros((height, 2), np.uint8), 1, palette, 1))
    lengths = entropy.payload_layout(bytes(payload), height)[1]
    start = 4 + 4 * height
    for s in bad:
        at = start + sum(lengths[:s])
        payload[at : at + lengths[s]] = b"\xff" * lengths[s]
    with pytest.raises(FormatError, match=rf"stripe {bad[0]} decodes to a literal where every palette"
                                          rf" entry is a neighbour at pixel \(x=1, y={bad[0]}\)"):
        kmcodec.decode_palette(_file(2, height, palette, bytes(payload)))
