"""What a .kmc file really costs, beside PNG, JPEG, WebP, JPEG XL, AVIF and GIF.

For each image and K, :func:`compare` produces one :class:`Row` per method:

``kmc``, ``kmc-entropy``
    the real .kmc file with each coder (``kmc encode --coder packed`` /
    ``entropy``): the same palette and indices, so the same pixels, made
    with the clustering settings of ``options`` (``init``, ``refine``,
    ``engine``, ...).
``kmc-perceptual``
    the file of ``kmc encode --perceptual --coder entropy`` (Oklab,
    dithered: :data:`kmcodec.options.PERCEPTUAL`), its own pixels and
    scores; the ``CODEC@...`` rows are matched to it as well (``against``
    says which).  Left out with ``dithered=False``.
``png8``, ``gif``, ``webp-lossless``, ``jxl-lossless``
    the *same quantised pixels* stored losslessly by general-purpose coders
    (an optimised palette PNG, a GIF when K <= 256, lossless WebP and
    JPEG XL at their slowest, best settings): the price of the .kmc layout.
``CODEC@size`` for CODEC in jpeg, webp, jxl, avif
    the original image at the setting whose file size is closest to a .kmc
    file's, one row for each kmc row (``against`` names it): quality at
    equal size.
``CODEC@psnr`` (or ``@ssim``, ``@ssimulacra2``: the ``metric``)
    the original image at the smallest file whose metric reaches the .kmc
    file's: size at equal quality.  Made once for the coders, their pixels
    being the same (``against`` is ``kmc``), and once for
    ``kmc-perceptual``.

and, once per image, ``png``: the original stored losslessly.

An image with transparency is compared as RGBA: with the codecs that keep
alpha only (JPEG and GIF rows are left out, with a note), and with PSNR
from the MSE over premultiplied values (R*A/255, G*A/255, B*A/255, A);
SSIM and SSIMULACRA2 take the worse of the images composited onto black
and onto white (:mod:`kmcodec.metrics`).  Its rows say ``alpha`` in
``extra``.  Every
setting search covers all of a codec's ladders (JPEG: 4:4:4 and 4:2:0
chroma, baseline and progressive; AVIF: 4:4:4 and 4:2:0; see
:mod:`kmcodec.rivals` and :mod:`kmcodec.matching`) and each matched row
says the ``settings`` it used.  Every size is the length of bytes actually
produced; every quality number is measured on the bytes decoded again.
Codecs whose library is absent are left out, with a logged note.
"""

from __future__ import annotations

import io
import logging
import math
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from . import codec, container
from .coder import coders, get_coder
from .images import to_pixels
from .matching import Trials, closest_size, smallest_reaching
from .metrics import METRIC_NAMES, METRICS, mse, psnr_from_mse, ssim, ssimulacra2
from .options import EncodeOptions
from .rivals import FAMILIES, LOSSLESS, LOSSY, LosslessCodec, LossyCodec

__all__ = ["Row", "compare", "compare_one", "elbow", "available_codecs", "DEFAULT_KS", "JSON_KEYS"]

DEFAULT_KS = (2, 4, 8, 16, 32, 64, 128, 256)
JSON_KEYS = ("image", "k", "method", "bytes", "bpp", "psnr", "ssim", "ssimulacra2", "encode_s", "decode_s")
_UNITS = {"psnr": " dB", "ssim": " SSIM", "ssimulacra2": " SSIMULACRA2"}
_PERFECT = {"psnr": math.inf, "ssim": 1.0, "ssimulacra2": 100.0}  # what an exact copy scores
_log = logging.getLogger(__name__)


@dataclass
class Row:
    """One method's result on one image (and one K, for K-dependent methods).

    ``psnr`` is None or infinite for a file that reproduces the original
    exactly; ``ssim``/``ssimulacra2`` are None when not computed.
    ``lossless`` says what a lossless row reproduces ("original" or
    "quantized" pixels).  A matched row (``CODEC@size``, ``CODEC@METRIC``)
    has ``against``, the kmc row it was matched to, and ``settings``, every
    setting used; ``quality`` repeats the quality setting.
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
    ssimulacra2: float | None = None
    lossless: str | None = None
    quality: int | None = None
    note: str = ""
    against: str | None = None
    settings: dict | None = None
    extra: dict = field(default_factory=dict)

    def metric(self, name: str) -> float:
        """The value of metric ``name``; lossless PSNR is ``inf``, not computed NaN."""
        value = getattr(self, name)
        if value is None:
            return math.inf if name == "psnr" and self.lossless == "original" else math.nan
        return value

    def to_dict(self) -> dict:
        out = asdict(self)
        extra = out.pop("extra")
        out.update(extra)
        for key in ("psnr", "ssim", "ssimulacra2"):
            if out[key] is not None and not math.isfinite(out[key]):
                out[key] = None
        return out


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def available_codecs(families: Iterable[str] = FAMILIES) -> tuple[list[LossyCodec], list[LosslessCodec], list[str]]:
    """The lossy and lossless codecs of ``families`` that can run here, and notes on those that cannot."""
    wanted = set(families)
    lossy = {c: c.missing() for c in LOSSY.values() if c.family in wanted}
    lossless = {c: c.missing() for c in LOSSLESS.values() if c.family in wanted}
    notes = list(dict.fromkeys(why for why in [*lossy.values(), *lossless.values()] if why is not None))
    return [c for c, why in lossy.items() if why is None], [c for c, why in lossless.items() if why is None], notes


class _Scorer:
    """Computes the metrics of decoded images against one original."""

    def __init__(self, original: np.ndarray, want_ssim: bool, want_ssimulacra2: bool):
        self.original = original
        self.want_ssim = want_ssim
        self.want_ssimulacra2 = want_ssimulacra2

    def one(self, name: str, decoded: np.ndarray) -> float:
        if name == "psnr":
            return psnr_from_mse(mse(decoded, self.original))
        if name == "ssim":
            return ssim(decoded, self.original)
        return ssimulacra2(self.original, decoded)

    def all(self, decoded: np.ndarray) -> dict[str, float | None]:
        m = mse(decoded, self.original)
        return {
            "psnr": None if m == 0 else psnr_from_mse(m),
            "ssim": ssim(decoded, self.original) if self.want_ssim else None,
            "ssimulacra2": ssimulacra2(self.original, decoded) if self.want_ssimulacra2 else None,
        }


class _Clock:
    """Seconds spent per method, to say which one the run waits for."""

    def __init__(self):
        self.spent: dict[str, float] = {}

    def add(self, method: str, seconds: float) -> None:
        self.spent[method] = self.spent.get(method, 0.0) + seconds

    def slowest(self) -> tuple[str, float, float] | None:
        """(codec, its seconds, its share of all) for the slowest other codec; None before any."""
        total = sum(self.spent.values())
        others = {m: s for m, s in self.spent.items() if m not in ("kmc", "png")}
        if not total or not others:
            return None
        method = max(others, key=others.__getitem__)
        return method, others[method], others[method] / total

    def note(self) -> str | None:
        """A note naming the codec that took over half the time, if one did."""
        slow = self.slowest()
        if slow is None or slow[2] <= 0.5:
            return None
        return f"{slow[0]} took {slow[1]:.1f} s, {100 * slow[2]:.0f}% of the run's time (--codecs leaves codecs out)"


def compare_one(path, ks=DEFAULT_KS, seed: int = 0, want_ssim: bool = True, progress=None,
                thumbs: dict | None = None, *, metric: str = "psnr", want_ssimulacra2: bool = True,
                codecs: Iterable[str] = FAMILIES, clock: _Clock | None = None, dithered: bool = True,
                options: EncodeOptions | None = None) -> list[Row]:
    """All rows for one image (see the module docstring and :func:`compare`).

    When ``thumbs`` is a dict, small copies of the original and of each
    decoded image are put in it, keyed (image, None) and (image, K), for
    :func:`kmcodec.plots.comparison_figure`.
    """
    clock = clock or _Clock()
    lossy, lossless, _ = available_codecs(codecs)
    name = os.fspath(path)
    original = np.ascontiguousarray(to_pixels(path))
    alpha = original.shape[2] == 4
    if alpha:
        for dropped in [c for c in lossy if not c.alpha] + [c for c in lossless if not c.alpha]:
            _log.warning("%s: %s rows left out: the image has transparency and %s has no alpha",
                         os.path.basename(name), dropped.name, dropped.format)
        lossy = [c for c in lossy if c.alpha]
        lossless = [c for c in lossless if c.alpha]
    height, width, _ = original.shape
    n = width * height
    input_bytes = os.path.getsize(path)
    scorer = _Scorer(original, want_ssim, want_ssimulacra2)
    rows = []
    png, enc = _timed(_png, original)
    rows.append(_lossless_row(name, None, "png", png, enc, original, scorer, n, LOSSLESS["png8"]))
    rows[-1].extra = {"alpha": alpha} if alpha else {}
    clock.add("png", enc)
    if thumbs is not None:
        from .plots import thumbnail

        thumbs[(name, None)] = thumbnail(original)

    def score(decoded: np.ndarray) -> float:
        return scorer.one(metric, decoded)

    # PSNR costs a decode and a subtraction: read it at every setting.
    trials = {c.name: Trials(c, original, score, exhaustive=metric == "psnr") for c in lossy}
    matched: dict = {}  # (codec, ladder, quality) -> row scores, for files matched twice
    broken: set[str] = set()  # codecs that failed on this image
    kmc_rows = []
    base = options or EncodeOptions()
    # The kmc rows say how they were clustered when it is not the default way.
    settings = {f: getattr(base, f) for f in ("init", "refine") if getattr(base, f) != getattr(EncodeOptions, f)}
    for k in ks:
        start = time.perf_counter()
        q, enc = _timed(codec.quantize, original, k, seed, options=options)
        coded = _kmc_rows(name, k, q, enc, original, scorer, n, input_bytes)
        for row in coded:
            row.extra.update(settings)
        clock.add("kmc", time.perf_counter() - start)
        rows.extend(coded)
        kmc = coded[0]
        kmc_rows.append(kmc)
        targets = [kmc]  # the rows of distinct pixels, each matched at equal quality
        if dithered:
            start = time.perf_counter()
            variant = _perceptual_row(name, k, seed, original, scorer, n, options)
            variant.extra.update(settings)
            clock.add("kmc", time.perf_counter() - start)
            rows.append(variant)
            coded = [*coded, variant]
            if variant.lossless is None:  # else the same pixels as kmc's
                targets.append(variant)
        quantized = np.ascontiguousarray(q.palette[q.indices])
        if thumbs is not None:
            thumbs[(name, k)] = thumbnail(quantized)
        for c in lossless:
            if c.name in broken or (c.name == "gif" and len(q.palette) > 256):
                continue
            start = time.perf_counter()
            try:
                (data, note), enc = _timed(c.encode, quantized, q.palette, q.indices)
            except (ValueError, OSError, RuntimeError) as exc:
                _give_up(name, c.name, exc, broken)
                continue
            row = _lossless_row(name, k, c.name, data, enc, quantized, scorer, n, c, same_as=kmc)
            row.note = note
            rows.append(row)
            clock.add(c.name, time.perf_counter() - start)
        for target in targets:
            if not math.isfinite(target.metric(metric)) and not target.lossless:
                why = f"no @{metric} rows: {METRIC_NAMES[metric]} is undefined on an image this small"
                target.note = f"{target.note}; {why}" if target.note else why
        for rival in lossy:
            if rival.name in broken:
                continue
            t = trials[rival.name]
            start = time.perf_counter()
            try:
                found = [(f"{rival.name}@size", closest_size(t, target.bytes), target.method) for target in coded]
                for target in targets:
                    value = target.metric(metric)
                    if math.isfinite(value) and not target.lossless and value < _PERFECT[metric]:
                        match = smallest_reaching(t, value, _UNITS[metric])
                        found.append((f"{rival.name}@{metric}", match, target.method))
            except (ValueError, OSError, RuntimeError) as exc:
                _give_up(name, rival.name, exc, broken)
                continue
            rows += [_matched_row(name, k, method, t, match, scorer, n, against, matched)
                     for method, match, against in found]
            clock.add(rival.name, time.perf_counter() - start)
        if progress is not None:
            progress.update(1)
            slow = clock.slowest()
            if slow is not None:
                progress.set_postfix_str(f"slowest: {slow[0]} {100 * slow[2]:.0f}% of the time", refresh=False)
    knee = elbow([r.k for r in kmc_rows], [r.metric("psnr") for r in kmc_rows])
    for r in kmc_rows:
        r.extra["elbow"] = r.k == knee
    return rows


def _give_up(name: str, method: str, exc: Exception, broken: set[str]) -> None:
    """Leave out a codec that failed on this image (an image past its size limit, say), saying why."""
    broken.add(method)
    _log.warning("%s: %s rows left out: %s", os.path.basename(name), method, str(exc).strip() or type(exc).__name__)


def _file_row(name, k, method, q, coder_id, enc, original, scorer, n) -> tuple[Row, bytes, np.ndarray]:
    """The row of ``q`` stored with coder ``coder_id``, scored on its decoded
    pixels; also the file and those pixels."""
    data, pack = _timed(q.to_bytes, coder_id)
    decoded, dec = _timed(_decode_like, data, original)
    scores = scorer.all(decoded)
    row = Row(name, k, method, len(data), 8 * len(data) / n, scores["psnr"], scores["ssim"], enc + pack, dec,
              ssimulacra2=scores["ssimulacra2"], lossless="original" if scores["psnr"] is None else None)
    return row, data, decoded


def _kmc_rows(name, k, q, enc, original, scorer, n, input_bytes) -> list[Row]:
    """One row per kmc coder, the packed one first, each on its real file."""
    packed = get_coder("packed")
    kmc, data, decoded = _file_row(name, k, packed.compare_row, q, packed.id, enc, original, scorer, n)
    colors = len(q.palette)
    channels = q.palette.shape[1]
    kmc.extra = {
        "colors": colors,
        "formula_bits": 8 * channels * colors + n * container.bits_for_colors(colors),
        "ratio_raw": channels * n / len(data),
        "ratio_input": input_bytes / len(data),
        **({"alpha": True} if q.alpha else {}),
    }
    rows = [kmc]
    for other in coders():
        if other is packed:
            continue
        coded, pack1 = _timed(q.to_bytes, other.id)
        decoded1, dec1 = _timed(_decode_like, coded, original)
        if not np.array_equal(decoded1, decoded):
            raise AssertionError(f"the {other.name} coder did not reproduce the packed coder's pixels")
        row = Row(name, k, other.compare_row, len(coded), 8 * len(coded) / n, kmc.psnr, kmc.ssim,
                  enc + pack1, dec1, ssimulacra2=kmc.ssimulacra2, lossless=kmc.lossless)
        row.extra = {"colors": colors, "ratio_packed": len(coded) / len(data)}
        rows.append(row)
    return rows


def _perceptual_row(name, k, seed, original, scorer, n, options=None) -> Row:
    """The ``kmc-perceptual`` row: ``--perceptual --coder entropy``, on its own pixels,
    with the clustering settings of ``options``."""
    base = options or EncodeOptions()
    clustering = {f: getattr(base, f) for f in ("n_init", "engine", "max_iter", "tol", "init", "refine")}
    q, enc = _timed(codec.quantize, original, k, seed, perceptual=True, **clustering)
    row, _, _ = _file_row(name, k, "kmc-perceptual", q, get_coder("entropy").id, enc, original, scorer, n)
    row.note = "--perceptual --coder entropy"
    row.extra = {"colors": len(q.palette), **({"alpha": True} if q.alpha else {})}
    return row


def _decode_like(data: bytes, original: np.ndarray) -> np.ndarray:
    """The .kmc file's pixels with the original's channels: an image with
    alpha whose entries all came out opaque is a version-1 file (RGB)."""
    decoded = codec.decode(data)
    if original.shape[2] == 4 and decoded.shape[2] == 3:
        decoded = np.dstack([decoded, np.full(decoded.shape[:2], 255, np.uint8)])
    return decoded


def _lossless_row(name, k, method, data, enc, reference, scorer, n, c: LosslessCodec,
                  same_as: Row | None = None) -> Row:
    decoded, dec = _timed(c.decode, data, reference.shape[2] == 4)
    if not np.array_equal(decoded, reference):
        raise AssertionError(f"{method} did not reproduce its input exactly")
    if same_as is not None:  # the kmc row's pixels: its scores
        scores = {"psnr": same_as.psnr, "ssim": same_as.ssim, "ssimulacra2": same_as.ssimulacra2}
    else:
        scores = scorer.all(decoded)
    return Row(name, k, method, len(data), 8 * len(data) / n, scores["psnr"], scores["ssim"], enc, dec,
               ssimulacra2=scores["ssimulacra2"],
               lossless="original" if same_as is None or same_as.lossless else "quantized",
               settings=dict(c.settings) or None)


def _matched_row(name, k, method, trials: Trials, match, scorer, n, against: str, matched: dict) -> Row:
    data, enc = trials.file(match.ladder, match.quality)
    decoded, dec = _timed(trials.codec.decode, data, trials.alpha)
    key = (trials.codec.name, match.ladder, match.quality)
    if key not in matched:
        matched[key] = scorer.all(decoded)
    scores = matched[key]
    return Row(name, k, method, len(data), 8 * len(data) / n, scores["psnr"], scores["ssim"], enc, dec,
               ssimulacra2=scores["ssimulacra2"], quality=match.quality, note=match.note,
               against=against, settings=trials.settings(match))


def compare(images, ks=DEFAULT_KS, seed: int = 0, want_ssim: bool = True, progress: bool = False,
            thumbs: dict | None = None, *, metric: str = "psnr", want_ssimulacra2: bool = True,
            codecs: Iterable[str] = FAMILIES, dithered: bool = True,
            options: EncodeOptions | None = None) -> list[Row]:
    """Rows for every image and K.

    Parameters
    ----------
    images : sequence of paths
    ks : sequence of int, default :data:`DEFAULT_KS`
    seed : int, default 0
    want_ssim, want_ssimulacra2 : bool, default True
        Compute these metrics for every row (each costs time on big images).
    progress : bool, default False
        Show a tqdm bar on stderr, with the method that takes the most time.
    thumbs : dict, optional
        Filled with thumbnails for :func:`kmcodec.plots.comparison_figure`.
    metric : {"psnr", "ssim", "ssimulacra2"}, default "psnr"
        What the equal-quality rows match: ``CODEC@METRIC``.
    codecs : iterable of str, default all of :data:`kmcodec.rivals.FAMILIES`
        The codecs to compare with; those whose library is absent are left
        out with a logged note.
    dithered : bool, default True
        Add the ``kmc-perceptual`` rows (and the rows matched to them).
    options : EncodeOptions, optional
        How the ``kmc`` rows are quantised (``k`` and ``seed`` are set per
        row); the ``kmc-perceptual`` rows take its clustering settings
        (``n_init``, ``engine``, ``max_iter``, ``tol``, ``init``,
        ``refine``).

    Returns
    -------
    list of Row
    """
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is none of {', '.join(METRICS)}")
    if (metric == "ssim" and not want_ssim) or (metric == "ssimulacra2" and not want_ssimulacra2):
        raise ValueError(f"the rows are matched on {metric}, which is switched off")
    codecs = list(codecs)
    unknown = sorted(set(codecs) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown codec {unknown[0]!r}: use {', '.join(FAMILIES)}")
    for note in available_codecs(codecs)[2]:
        _log.warning("%s", note)
    clock = _Clock()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(images) * len(ks), unit="K", desc="kmc compare")
    try:
        rows = [row for path in images
                for row in compare_one(path, ks, seed, want_ssim, bar, thumbs, metric=metric,
                                       want_ssimulacra2=want_ssimulacra2, codecs=codecs, clock=clock,
                                       dithered=dithered, options=options)]
    finally:
        if bar is not None:
            bar.close()
    slow = clock.note()
    if slow:
        _log.warning("%s", slow)
    return rows


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
