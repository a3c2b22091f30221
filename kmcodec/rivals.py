"""The codecs ``kmc compare`` measures .kmc files against, one class each.

A :class:`LossyCodec` codes the original image; its settings form
*ladders*: families of settings in which only the quality varies, so that
file size and fidelity both grow along a ladder (JPEG has four: 4:4:4 or
4:2:0 chroma, baseline or progressive).  :mod:`kmcodec.matching` searches
the ladders for the setting that matches a .kmc file.  A
:class:`LosslessCodec` stores the .kmc file's own quantised pixels, which
prices the .kmc layout against a general-purpose lossless coder.

Every codec runs in-process through Pillow or a Pillow plugin; a codec
whose library is absent reports why in :meth:`missing` and its rows are
left out.  ``LOSSY`` and ``LOSSLESS`` are the registries, by row name.
"""

from __future__ import annotations

import io
from typing import ClassVar

import numpy as np
from PIL import Image, features

__all__ = ["LossyCodec", "LosslessCodec", "LOSSY", "LOSSLESS", "FAMILIES", "versions"]

_EXTRA = 'pip install "kmcodec[compare]"'


def _save(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def _load(data: bytes, fmt: str, alpha: bool = False) -> np.ndarray:
    with Image.open(io.BytesIO(data), formats=[fmt]) as im:
        return np.asarray(im.convert("RGBA" if alpha else "RGB"))


def _distribution(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class LossyCodec:
    """A lossy codec of the original image.

    Attributes
    ----------
    name : str
        The row name's stem: rows are ``NAME@size`` and ``NAME@METRIC``.
    family : str
        What ``kmc compare --codecs`` calls it.
    qualities : range
        The quality settings of every ladder, from worst to best.
    scan_all : bool
        Whether encoding is cheap enough to try every setting, not only
        those near a bisection's answer (see :mod:`kmcodec.matching`).
    alpha : bool
        Whether it stores transparency (images with alpha are compared only
        with codecs that do).
    """

    name: ClassVar[str]
    family: ClassVar[str]
    format: ClassVar[str]
    qualities: ClassVar[range] = range(1, 101)
    scan_all: ClassVar[bool] = True
    alpha: ClassVar[bool] = True

    def missing(self) -> str | None:
        """Why this codec cannot run here, or None when it can."""
        return None

    def ladders(self) -> list[dict[str, object]]:
        """The settings besides quality, one dict per ladder."""
        return [{}]

    def fixed(self) -> dict[str, object]:
        """Settings common to every ladder, reported with each row."""
        return {}

    def encode(self, image: Image.Image, quality: int, ladder: dict[str, object]) -> bytes:
        return _save(image, self.format, quality=quality, **self._params(ladder))

    def _params(self, ladder: dict[str, object]) -> dict[str, object]:
        return {**self.fixed(), **ladder}

    def decode(self, data: bytes, alpha: bool = False) -> np.ndarray:
        """(H, W, 3) RGB, or (H, W, 4) RGBA with ``alpha``."""
        return _load(data, self.format, alpha)


class Jpeg(LossyCodec):
    """Pillow's JPEG (libjpeg-turbo) with optimised Huffman tables."""

    name = family = "jpeg"
    format = "JPEG"
    alpha = False

    def ladders(self):
        return [{"subsampling": s, "progressive": p} for s in ("4:4:4", "4:2:0") for p in (False, True)]

    def fixed(self):
        return {"optimize": True}


class Webp(LossyCodec):
    """libwebp's lossy mode at its slowest, best method; always 4:2:0 chroma."""

    name = family = "webp"
    format = "WEBP"
    qualities = range(101)

    def fixed(self):
        return {"method": 6}


class Avif(LossyCodec):
    """AVIF (libavif with the AOM encoder) through Pillow 11.3 or later.

    Speed 6, Pillow's default, which the searches can afford: at the same
    quality setting speeds 2 and 4 give 0.3 to 0.7 dB more PSNR in bytes
    within 3%, at 5 to 23 times the encode time (bench/rival_settings.py;
    bench/README.md), so AVIF here is a little short of its best.
    """

    name = family = "avif"
    format = "AVIF"
    qualities = range(101)
    scan_all = False  # 5-10x slower than the others; tests/test_compare.py checks the window finds the same

    def missing(self):
        if not features.check("avif"):
            return (f"AVIF rows skipped: this Pillow ({_distribution('pillow')}) was built without libavif"
                    " (Pillow's wheels have it from 11.3 on)")
        return None

    def ladders(self):
        return [{"subsampling": s} for s in ("4:4:4", "4:2:0")]

    def fixed(self):
        # One thread: libaom's output depends on the thread count, and the
        # same input and settings must give the same bytes on any machine.
        return {"speed": 6, "max_threads": 1}


def _jxl_missing() -> str | None:
    try:
        import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
    except ImportError:
        return f"JPEG XL rows skipped: pillow-jxl-plugin is not installed ({_EXTRA})"
    return None


class Jxl(LossyCodec):
    """JPEG XL (libjxl, through pillow-jxl-plugin) in its lossy VarDCT mode, effort 7.

    libjxl's default effort; effort 9 makes files 1.3 to 3.6% smaller at
    4 to 7 times the time (bench/rival_settings.py).
    """

    name = family = "jxl"
    format = "JXL"
    # Quality 100 is distance 0, which libjxl codes only in lossless mode.
    qualities = range(1, 100)

    def missing(self):
        return _jxl_missing()

    def fixed(self):
        return {"effort": 7}

    def _params(self, ladder):
        # One thread, as for AVIF: timings of one core, like the others'.
        return {**self.fixed(), **ladder, "num_threads": 1}


class LosslessCodec:
    """A lossless codec of the quantised pixels.

    Attributes
    ----------
    name : str
        The row name.
    family : str
        What ``kmc compare --codecs`` calls it.
    settings : dict
        The settings used, reported with each row.
    """

    name: ClassVar[str]
    family: ClassVar[str]
    format: ClassVar[str]
    settings: ClassVar[dict[str, object]] = {}
    alpha: ClassVar[bool] = True

    def missing(self) -> str | None:
        return None

    def encode(self, pixels: np.ndarray, palette: np.ndarray, indices: np.ndarray) -> tuple[bytes, str]:
        """The file and a note on it.

        Parameters
        ----------
        pixels : ndarray, shape (H, W, 3), or (H, W, 4) RGBA; uint8
            The quantised image.
        palette : ndarray, shape (K, 3) or (K, 4), uint8
        indices : ndarray, shape (H, W)
            ``palette[indices]`` is ``pixels``.
        """
        return _save(Image.fromarray(pixels), self.format, **self.settings), ""

    def decode(self, data: bytes, alpha: bool = False) -> np.ndarray:
        """(H, W, 3) RGB, or (H, W, 4) RGBA with ``alpha``."""
        return _load(data, self.format, alpha)


def _palette_image(palette: np.ndarray, indices: np.ndarray) -> Image.Image | None:
    """A "P" image, its entries' alphas (if any) as ``info["transparency"]``."""
    if len(palette) > 256:
        return None
    im = Image.fromarray(indices.astype(np.uint8), "P")
    im.putpalette(palette[:, :3].tobytes())
    if palette.shape[1] == 4:
        im.info["transparency"] = palette[:, 3].tobytes()
    return im


class Png8(LosslessCodec):
    """An optimised palette PNG (an RGB PNG above 256 colours)."""

    name = "png8"
    family = "png"
    format = "PNG"
    settings: ClassVar[dict[str, object]] = {"optimize": True}

    def encode(self, pixels, palette, indices):
        im = _palette_image(palette, indices)
        if im is None:
            mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
            return _save(Image.fromarray(pixels), "PNG", optimize=True), f"more than 256 colours: {mode} PNG"
        return _save(im, "PNG", optimize=True, **{k: v for k, v in im.info.items() if k == "transparency"}), ""


class Gif(LosslessCodec):
    """GIF, which holds at most 256 colours: no row above."""

    name = family = "gif"
    format = "GIF"
    settings: ClassVar[dict[str, object]] = {"optimize": True}
    alpha = False  # one transparent entry at most: not the alpha of a .kmc file

    def encode(self, pixels, palette, indices):
        im = _palette_image(palette, indices)
        if im is None:
            raise ValueError("GIF holds at most 256 colours")
        return _save(im, "GIF", optimize=True), ""


class WebpLossless(LosslessCodec):
    """Lossless WebP at its slowest, best setting (method 6, quality 100)."""

    name = "webp-lossless"
    family = "webp"
    format = "WEBP"
    # exact: keep the colour under alpha 0, or the file would not be the same pixels
    settings: ClassVar[dict[str, object]] = {"lossless": True, "quality": 100, "method": 6, "exact": True}


class JxlLossless(LosslessCodec):
    """Lossless JPEG XL (modular mode, which finds the palette itself), effort 9."""

    name = "jxl-lossless"
    family = "jxl"
    format = "JXL"
    settings: ClassVar[dict[str, object]] = {"lossless": True, "effort": 9}

    def missing(self):
        return _jxl_missing()

    def encode(self, pixels, palette, indices):
        return _save(Image.fromarray(pixels), "JXL", **self.settings, num_threads=1), ""


LOSSY: dict[str, LossyCodec] = {c.name: c for c in (Jpeg(), Webp(), Jxl(), Avif())}
LOSSLESS: dict[str, LosslessCodec] = {c.name: c for c in (Png8(), Gif(), WebpLossless(), JxlLossless())}
#: The names ``kmc compare --codecs`` takes; each selects its lossy and lossless rows.
FAMILIES = ("png", "gif", "jpeg", "webp", "jxl", "avif")


def versions() -> dict[str, str]:
    """The version of every codec library, for reports."""
    out = {"Pillow": _distribution("pillow") or "?"}
    turbo = features.version_feature("libjpeg_turbo")
    out["libjpeg-turbo" if turbo else "libjpeg"] = turbo or features.version("jpg") or "?"
    for label, feature in (("zlib", "zlib"), ("libwebp", "webp"), ("libavif", "avif")):
        version = features.version(feature)
        if version:
            out[label] = version
    if features.check("avif"):
        from PIL import _avif

        out["libavif codecs"] = _avif.codec_versions()
    jxl = _distribution("pillow-jxl-plugin")
    if jxl:
        out["pillow-jxl-plugin"] = jxl
    s2 = _distribution("ssimulacra2")
    if s2:
        out["ssimulacra2"] = s2
    return out
