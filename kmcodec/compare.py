"""What a .kmc file really costs, beside PNG, JPEG, WebP and GIF.

For each image and K, :func:`compare` produces one :class:`Row` per method:

``kmc``
    the real .kmc file, the same bytes ``kmc encode`` writes.
``kmc-entropy``
    the same palette and indices with the entropy coder
    (``kmc encode --coder entropy``): the same pixels, fewer bytes.
``png8``, ``gif``, ``webp-lossless``
    the *same quantised pixels* stored losslessly by general-purpose coders
    (an optimised palette PNG, a GIF when K <= 256, lossless WebP at its
    slowest, best setting): the price of the raw bit-packed layout.
``jpeg@size``, ``webp@size``
    the original image at the quality whose file size is closest to the
    .kmc file: quality at equal size.
``jpeg@psnr``, ``webp@psnr``
    the original image at the lowest quality whose PSNR reaches the .kmc
    file's: size at equal quality.

and, once per image, ``png``: the original stored losslessly.
Every size is the length of bytes actually produced; every quality number
is measured on the bytes decoded again.
"""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from . import codec, container
from .coder import coders, get_coder
from .images import to_rgb_array
from .metrics import mse, psnr_from_mse, ssim

__all__ = ["Row", "compare", "elbow", "DEFAULT_KS", "JSON_KEYS"]

DEFAULT_KS = (2, 4, 8, 16, 32, 64, 128, 256)
JSON_KEYS = ("image", "k", "method", "bytes", "bpp", "psnr", "ssim", "encode_s", "decode_s")


@dataclass
class Row:
    """One method's result on one image (and one K, for K-dependent methods).

    ``psnr`` is None for a file that reproduces the original exactly;
    ``lossless`` says what a lossless row reproduces ("original" or
    "quantized" pixels).  ``quality`` is the JPEG/WebP quality setting.
    """

    image: str
    k: int | None
    method: str
    bytes: int
    bpp: float
    psnr: float | None
    ssim: float | None
    encode_s: float
    decode_s: float
    lossless: str | None = None
    quality: int | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        extra = out.pop("extra")
        out.update(extra)
        if out["psnr"] is not None and math.isinf(out["psnr"]):
            out["psnr"] = None
        return out


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _save(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def _load(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


_LOSSY: dict[str, tuple[str, dict[str, object], range]] = {
    "jpeg": ("JPEG", dict(optimize=True), range(1, 101)),
    "webp": ("WEBP", dict(method=4), range(101)),
}


class _Lossy:
    """Encodes the original at any quality, remembering every result."""

    def __init__(self, original: np.ndarray, codec_name: str):
        self.original = original
        self.image = Image.fromarray(np.ascontiguousarray(original))
        self.fmt, self.params, self.qualities = _LOSSY[codec_name]
        self.cache: dict[int, tuple[bytes, float]] = {}

    def size(self, quality: int) -> int:
        return len(self._encode(quality)[0])

    def psnr(self, quality: int) -> float:
        data, _ = self._encode(quality)
        return psnr_from_mse(mse(_load(data), self.original))

    def _encode(self, quality: int) -> tuple[bytes, float]:
        if quality not in self.cache:
            data, seconds = _timed(_save, self.image, self.fmt, quality=quality, **self.params)
            self.cache[quality] = (data, seconds)
        return self.cache[quality]

    def closest_size(self, target: int) -> int:
        """Quality whose size is closest to ``target`` bytes.

        Sizes grow with quality, so a binary search finds the largest
        quality at or under the target; it or the next quality up is the
        closest (the tolerance: no quality between them exists).
        """
        qs = list(self.qualities)
        lo, hi = 0, len(qs) - 1
        if self.size(qs[0]) >= target:
            return qs[0]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.size(qs[mid]) <= target:
                lo = mid
            else:
                hi = mid - 1
        best = qs[lo]
        if lo + 1 < len(qs) and abs(self.size(qs[lo + 1]) - target) < abs(self.size(best) - target):
            best = qs[lo + 1]
        return best

    def lowest_reaching(self, target_psnr: float) -> tuple[int, bool]:
        """Lowest quality whose PSNR reaches ``target_psnr`` (binary search,
        PSNR taken as growing with quality); (best quality, False) if none does."""
        qs = list(self.qualities)
        if self.psnr(qs[-1]) < target_psnr:
            return qs[-1], False
        lo, hi = 0, len(qs) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.psnr(qs[mid]) >= target_psnr:
                hi = mid
            else:
                lo = mid + 1
        return qs[lo], True

    def row(self, image, method, k, quality, n, want_ssim, note=""):
        data, enc = self._encode(quality)
        decoded, dec = _timed(_load, data)
        m = mse(decoded, self.original)
        return Row(image, k, method, len(data), 8 * len(data) / n, psnr_from_mse(m),
                   ssim(decoded, self.original) if want_ssim else None, enc, dec,
                   quality=quality, note=note)


def _lossless_row(image_name, k, method, data, enc, reference, original, n, want_ssim, fmt):
    decoded, dec = _timed(_load, data)
    if not np.array_equal(decoded, reference):
        raise AssertionError(f"{method} did not reproduce its input exactly ({fmt})")
    m = mse(decoded, original)
    return Row(image_name, k, method, len(data), 8 * len(data) / n,
               None if m == 0 else psnr_from_mse(m),
               ssim(decoded, original) if want_ssim else None, enc, dec,
               lossless="original" if reference is original else "quantized")


def compare_one(path, ks=DEFAULT_KS, seed: int = 0, want_ssim: bool = True, progress=None,
                thumbs: dict | None = None) -> list[Row]:
    """All rows for one image (see the module docstring).

    When ``thumbs`` is a dict, small copies of the original and of each
    decoded image are put in it, keyed (image, None) and (image, K), for
    :func:`kmcodec.plots.comparison_figure`.
    """
    name = os.fspath(path)
    original = np.ascontiguousarray(to_rgb_array(path))
    height, width, _ = original.shape
    n = width * height
    input_bytes = os.path.getsize(path)
    rows = []
    png, enc = _timed(_save, Image.fromarray(original), "PNG", optimize=True)
    rows.append(_lossless_row(name, None, "png", png, enc, original, original, n, want_ssim, "PNG"))
    if thumbs is not None:
        from .plots import thumbnail

        thumbs[(name, None)] = thumbnail(original)
    lossy = {c: _Lossy(original, c) for c in _LOSSY}
    kmc_rows = []
    packed = get_coder("packed")
    for k in ks:
        q, enc = _timed(codec.quantize, original, k, seed)
        data, pack = _timed(q.to_bytes, packed.id)
        decoded, dec = _timed(codec.decode, data)
        m = mse(decoded, original)
        kmc = Row(name, k, "kmc", len(data), 8 * len(data) / n, None if m == 0 else psnr_from_mse(m),
                  ssim(decoded, original) if want_ssim else None, enc + pack, dec,
                  lossless="original" if m == 0 else None)
        colors = len(q.palette)
        kmc.extra = {
            "colors": colors,
            "formula_bits": 24 * colors + n * container.bits_for_colors(colors),
            "ratio_raw": 3 * n / len(data),
            "ratio_input": input_bytes / len(data),
        }
        rows.append(kmc)
        kmc_rows.append(kmc)
        for other in coders():
            if other is packed:
                continue  # its file is the "kmc" row above
            coded, pack1 = _timed(q.to_bytes, other.id)
            decoded1, dec1 = _timed(codec.decode, coded)
            if not np.array_equal(decoded1, decoded):
                raise AssertionError(f"the {other.name} coder did not reproduce the packed coder's pixels")
            row = Row(name, k, other.compare_row, len(coded), 8 * len(coded) / n, kmc.psnr, kmc.ssim,
                      enc + pack1, dec1, lossless=kmc.lossless)
            row.extra = {"colors": colors, "ratio_packed": len(coded) / len(data)}
            rows.append(row)
        quantized = np.ascontiguousarray(decoded)
        if thumbs is not None:
            thumbs[(name, k)] = thumbnail(quantized)
        pim = Image.fromarray(q.indices.astype(np.uint8), "P") if colors <= 256 else None
        if pim is not None:
            pim.putpalette(q.palette.tobytes())
            data8, enc8 = _timed(_save, pim, "PNG", optimize=True)
            rows.append(_lossless_row(name, k, "png8", data8, enc8, quantized, original, n, want_ssim, "PNG"))
            gif, encg = _timed(_save, pim, "GIF", optimize=True)
            rows.append(_lossless_row(name, k, "gif", gif, encg, quantized, original, n, want_ssim, "GIF"))
        else:
            data8, enc8 = _timed(_save, Image.fromarray(quantized), "PNG", optimize=True)
            row = _lossless_row(name, k, "png8", data8, enc8, quantized, original, n, want_ssim, "PNG")
            row.note = "more than 256 colours: RGB PNG"
            rows.append(row)
        webp, encw = _timed(_save, Image.fromarray(quantized), "WEBP", lossless=True, quality=100, method=6)
        rows.append(_lossless_row(name, k, "webp-lossless", webp, encw, quantized, original, n, want_ssim, "WebP"))
        for codec_name, coder in lossy.items():
            quality = coder.closest_size(len(data))
            rows.append(coder.row(name, f"{codec_name}@size", k, quality, n, want_ssim))
            if kmc.psnr is None:
                continue  # lossless .kmc: no lossy setting matches its quality
            quality, reached = coder.lowest_reaching(kmc.psnr)
            note = "" if reached else "best quality stays below the .kmc PSNR"
            rows.append(coder.row(name, f"{codec_name}@psnr", k, quality, n, want_ssim, note))
        if progress is not None:
            progress.update(1)
    knee = elbow([r.k for r in kmc_rows], [r.psnr if r.psnr is not None else math.inf for r in kmc_rows])
    for r in kmc_rows:
        r.extra["elbow"] = r.k == knee
    return rows


def compare(images, ks=DEFAULT_KS, seed: int = 0, want_ssim: bool = True, progress: bool = False,
            thumbs: dict | None = None) -> list[Row]:
    """Rows for every image and K; ``progress`` shows a tqdm bar on stderr."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(images) * len(ks), unit="K", desc="kmc compare")
    try:
        return [row for path in images for row in compare_one(path, ks, seed, want_ssim, bar, thumbs)]
    finally:
        if bar is not None:
            bar.close()


def elbow(ks, psnrs) -> int | None:
    """The K of diminishing returns on the PSNR-against-log2(K) curve.

    Kneedle's rule: normalise both axes to [0, 1] and take the point
    farthest above the chord from the first point to the last.  Infinite
    PSNR (lossless) is capped at the largest finite value.
    """
    if len(ks) < 3:
        return None
    finite = [p for p in psnrs if math.isfinite(p)]
    if not finite:
        return None
    cap = max(finite)
    x = np.log2(np.asarray(ks, dtype=float))
    y = np.asarray([min(p, cap) for p in psnrs])
    if x[-1] == x[0] or y.max() == y.min():
        return None
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (y - y.min()) / (y.max() - y.min())
    chord = yn[0] + (yn[-1] - yn[0]) * xn
    gap = yn - chord
    best = int(np.argmax(gap))
    return int(ks[best]) if gap[best] > 0 else None


# --- output -------------------------------------------------------------------


def write_json(rows, fh) -> None:
    import json

    json.dump([r.to_dict() for r in rows], fh, indent=1)
    fh.write("\n")


def write_csv(rows, fh) -> None:
    import csv

    dicts = [r.to_dict() for r in rows]
    keys = list(JSON_KEYS) + sorted({k for d in dicts for k in d} - set(JSON_KEYS))
    writer = csv.DictWriter(fh, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for d in dicts:
        writer.writerow({k: "" if d.get(k) is None else d.get(k) for k in keys})


def format_table(rows) -> str:
    """An aligned text table; ``*`` marks the best value of each (image, K) group.

    Best: fewest bytes, highest PSNR, highest SSIM.  The png row (the
    original, losslessly) stands alone at the top of each image.
    """
    header = ["image", "K", "method", "bytes", "bits/px", "x raw", "PSNR dB", "SSIM",
              "enc s", "dec s", "note"]
    lines = []
    groups: dict = {}
    for r in rows:
        groups.setdefault((r.image, r.k), []).append(r)
    for (image, k), group in groups.items():
        fewest = min(r.bytes for r in group)
        finite = [r.psnr if r.psnr is not None else math.inf for r in group]
        best_psnr = max(finite)
        ssims = [r.ssim for r in group if r.ssim is not None and not math.isnan(r.ssim)]
        best_ssim = max(ssims) if ssims else None
        several = len(group) > 1
        for r in group:
            p = r.psnr if r.psnr is not None else math.inf

            def mark(hit: bool, several: bool = several) -> str:
                return "*" if hit and several else " "

            notes = []
            if r.lossless:
                notes.append(f"lossless ({r.lossless} pixels)")
            if r.quality is not None:
                notes.append(f"quality {r.quality}")
            if r.extra.get("elbow"):
                notes.append("<- elbow")
            if r.note:
                notes.append(r.note)
            lines.append([
                os.path.basename(image), "-" if k is None else str(k), r.method,
                f"{r.bytes:,}{mark(r.bytes == fewest)}", f"{r.bpp:.3f}",
                f"{24 / r.bpp:.1f}", ("inf" if math.isinf(p) else f"{p:.2f}") + mark(p == best_psnr),
                "-" if r.ssim is None else f"{r.ssim:.4f}" + mark(r.ssim == best_ssim),
                f"{r.encode_s:.3f}", f"{r.decode_s:.3f}", "; ".join(notes),
            ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    left = {0, 2, 10}
    fmt = "  ".join(f"{{:{'<' if i in left else '>'}{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header)] + [fmt.format(*line) for line in lines]
    out.append("* best in its (image, K) group: fewest bytes, highest PSNR, highest SSIM. "
               "x raw: compression ratio against 24-bit RGB.")
    return "\n".join(line.rstrip() for line in out)
