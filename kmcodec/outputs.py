"""Writing a decoded .kmc file as an ordinary image: formats and their limits.

The formats are those a decoded palette image can be written as faithfully
(or, for JPEG, as asked).  Each has size limits in its own header fields;
they are checked against the .kmc header before anything is decoded, so a
70000-pixel-wide image asked for as TGA is a clear error naming TGA's limit,
not a failure deep inside Pillow after the work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from . import container
from .errors import KmcError, ParameterError

__all__ = ["OutputFormat", "OUTPUT_FORMATS", "output_format", "suffix_for", "check_size", "save_options",
           "write_image", "JPEG_QUALITY", "LOSSY", "NoAlphaError"]


class NoAlphaError(ParameterError):
    """An image with alpha asked for in a format without it, and no background given."""


@dataclass(frozen=True)
class OutputFormat:
    """A format decoded images can be written as.

    ``max_side`` is the largest width or height its header can hold;
    ``max_bytes`` bounds the raw pixel bytes where a 32-bit size or offset
    field does (None: no such limit); ``alpha``: whether it keeps
    transparency; ``max_pixels`` bounds width * height where the format
    counts pixels (None: no such limit).
    """

    name: str
    suffixes: tuple[str, ...]
    max_side: int
    max_bytes: int | None = None
    why: str = ""
    alpha: bool = False
    max_pixels: int | None = None


_U16 = 65535
OUTPUT_FORMATS = {
    f.name: f
    for f in (
        OutputFormat("PNG", (".png",), 2**31 - 1, None, "PNG's 31-bit width and height", True),
        OutputFormat("BMP", (".bmp", ".dib"), 2**31 - 1, 2**32 - 1, "BMP's 32-bit size fields"),
        OutputFormat("TIFF", (".tif", ".tiff"), 2**32 - 1, 2**32 - 2**20,
                     "classic TIFF's 32-bit offsets", True),
        OutputFormat("GIF", (".gif",), _U16, None, "GIF's 16-bit width and height"),
        OutputFormat("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), 65500, None,
                     "libjpeg's largest dimension"),
        OutputFormat("WEBP", (".webp",), 16383, None, "WebP's 14-bit width and height", True),
        OutputFormat("PPM", (".ppm", ".pnm"), 2**31 - 1, None, "the PPM reader's limit"),
        OutputFormat("TGA", (".tga", ".icb", ".vda", ".vst"), _U16, None,
                     "TGA's 16-bit width and height", True),
        OutputFormat("PCX", (".pcx",), _U16 - 1, None, "PCX's 16-bit bytes per line, rounded up to even"),
        OutputFormat("SGI", (".sgi", ".rgb", ".bw"), _U16, None,
                     "SGI's 16-bit width and height", True),
        OutputFormat("QOI", (".qoi",), 2**32 - 1, None, "QOI's pixel limit", True, 400_000_000),
    )
}


def output_format(suffix_or_name: str) -> OutputFormat:
    """The format for an output suffix (``".png"``) or name (``"png"``, ``"PNG"``).

    Raises
    ------
    ParameterError
        For anything else, naming the formats accepted; ``.kmc`` is refused
        with the advice to copy the file.
    """
    text = suffix_or_name.strip()
    key = text.lower() if text.startswith(".") else "." + text.lower()
    if key == ".kmc":
        raise ParameterError(
            "decoding to .kmc would quantise the image again; to duplicate a .kmc"
            " file, copy it (cp)"
        )
    for fmt in OUTPUT_FORMATS.values():
        if key in fmt.suffixes or text.upper() == fmt.name:
            return fmt
    known = ", ".join(f.suffixes[0] for f in OUTPUT_FORMATS.values())
    what = "output suffix" if text.startswith(".") else "output format"
    raise ParameterError(
        f"{what} {suffix_or_name!r} names no format kmcodec writes; use one of {known}"
    )


def suffix_for(suffix_or_name: str) -> str:
    """The file suffix for a format given by suffix or name ("JPEG" -> ".jpg").

    A suffix the format has is kept as given (``.tiff`` stays ``.tiff``).
    """
    fmt = output_format(suffix_or_name)
    suffix = "." + suffix_or_name.strip().lower().lstrip(".")
    return suffix if suffix in fmt.suffixes else fmt.suffixes[0]


def check_size(fmt: OutputFormat, width: int, height: int, channels: int = 3) -> None:
    """Raise ParameterError if a width x height image of ``channels``
    bytes a pixel does not fit ``fmt``."""
    for name, value in (("width", width), ("height", height)):
        if value > fmt.max_side:
            raise ParameterError(
                f"{name} is {value}, above {fmt.max_side}, the largest {fmt.name} can hold"
                f" ({fmt.why}); choose another output format"
                + ("" if fmt.name == "PNG" else ", such as PNG")
            )
    if fmt.max_pixels is not None and width * height > fmt.max_pixels:
        raise ParameterError(
            f"width x height is {width} x {height} = {width * height} pixels, above"
            f" {fmt.max_pixels}, the most {fmt.name} can hold ({fmt.why})"
        )
    raw = channels * width * height
    if fmt.max_bytes is not None and raw > fmt.max_bytes:
        raise ParameterError(
            f"width x height is {width} x {height}: {raw} bytes of pixels, above"
            f" {fmt.max_bytes}, the most {fmt.name} can hold ({fmt.why})"
        )


#: JPEG quality when none is asked for (ImageMagick's default), always
#: without chroma subsampling: a palette image has sharp colour edges that
#: 4:2:0 would smear.
JPEG_QUALITY = 92

#: Formats that can be written lossy, at a quality from 0 to 100.
LOSSY = ("JPEG", "WEBP")


def save_options(fmt: OutputFormat, quality: int | None = None) -> tuple[dict, str]:
    """Pillow's save() keywords for ``fmt``, and how to describe the result.

    WebP is lossless unless a ``quality`` is given; JPEG is lossy at
    ``quality`` (default :data:`JPEG_QUALITY`), 4:4:4.

    Raises
    ------
    ParameterError
        For a ``quality`` with a format that is always lossless, or out of 0..100.
    """
    if quality is not None:
        if fmt.name not in LOSSY:
            raise ParameterError(
                f"quality is {quality} but {fmt.name} is always lossless; a quality applies to"
                f" {' and '.join(LOSSY)} outputs only"
            )
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise ParameterError(f"quality is {quality!r}; it must be an integer from 0 to 100")
    if fmt.name == "WEBP":
        if quality is None:
            return {"lossless": True, "exact": True}, "RGB WEBP (lossless)"
        return {"lossless": False, "quality": quality, "method": 6}, f"RGB WEBP (lossy, quality {quality})"
    if fmt.name == "JPEG":
        q = JPEG_QUALITY if quality is None else quality
        return {"quality": q, "subsampling": 0, "optimize": True}, f"RGB JPEG (quality {q}, 4:4:4)"
    return {}, f"RGB {fmt.name}"


def write_image(source: str | os.PathLike | BinaryIO, fh: BinaryIO, fmt: OutputFormat,
                quality: int | None = None, background: tuple[int, int, int] | None = None
                ) -> tuple[int, int, str]:
    """Decode the .kmc file ``source`` into ``fh`` as an image of format ``fmt``.

    Parameters
    ----------
    source : str, os.PathLike or binary file
        The .kmc file's path, or an open file (standard input) read to the
        end its header declares.
    fh : binary file
        Where the image goes.
    fmt : OutputFormat
    quality : int, optional
        For the lossy formats (see :func:`save_options`).
    background : (R, G, B), optional
        For a file with alpha: the colour it is composited onto (see
        :func:`kmcodec.alpha.composite`).  Without it, such a file keeps
        its alpha, and a format without alpha is refused.

    The header is checked, and the size against the format's limits, before
    anything is decoded.  PNG is written row by row (a palette PNG when
    K <= 256: the same pixels, alpha in its tRNS chunk), so memory stays
    near the size of the indices; other formats go through Pillow, which
    needs the whole image.

    Raises
    ------
    NoAlphaError
        For a file with alpha, a format without it and no ``background``.

    Returns
    -------
    width, height, description
    """
    from PIL import Image

    from .codec import decode_palette, expand

    options, how = save_options(fmt, quality)
    data = container.read_file(source)
    header = container.parse_header(data, len(data))
    if header.alpha and background is None and not fmt.alpha:
        kept = ", ".join(f.name for f in OUTPUT_FORMATS.values() if f.alpha)
        raise NoAlphaError(f"the image has transparency and {fmt.name} has none: composite it onto a"
                           f" background colour, or write a format that keeps alpha ({kept})")
    alpha = header.alpha and background is None
    check_size(fmt, header.width, header.height, 4 if alpha else 3)
    palette, indices = decode_palette(data)
    del data
    if header.alpha and background is not None:
        from .alpha import composite

        palette = composite(palette, background)
    height, width = indices.shape
    mode = "RGBA" if alpha else "RGB"
    if fmt.name == "PNG":
        from .pngstream import write_png

        write_png(fh, palette, indices)
        if len(palette) <= 256:
            return width, height, "palette PNG" + (" with transparency" if alpha else "")
        return width, height, f"{mode} PNG"
    how = how.replace("RGB ", f"{mode} ", 1)
    try:
        image = Image.fromarray(np.ascontiguousarray(expand(palette, indices)), mode)
        image.save(fh, format=fmt.name, **options)
    except KmcError:
        raise
    except OSError as exc:
        if exc.errno is not None:
            raise  # a real write failure
        raise ParameterError(f"cannot write the image as {fmt.name}: {exc}") from None
    except Exception as exc:  # Pillow's writers raise many types on limits
        raise ParameterError(f"cannot write the image as {fmt.name}: {exc}") from None
    return width, height, how
