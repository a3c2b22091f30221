"""Turning whatever the caller gives into an (H, W, 3) RGB or (H, W, 4) RGBA uint8 array.

A .kmc file stores 8-bit RGB, or RGBA (format version 2).  Inputs in other
modes are converted here, once, at the public boundary: greyscale and
palette images are expanded, CMYK and YCbCr converted by Pillow, 16-bit
samples scaled to 8 bits, EXIF orientation applied, and every kind of
transparency turned into an alpha channel, which :func:`to_pixels` keeps
(or composites onto a background) and :func:`to_rgb_array`, for callers
that take RGB only, composites onto white with a :class:`KmcWarning`.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import pixellimit
from .errors import InputError, KmcError, KmcWarning, ParameterError, PixelLimitError

__all__ = ["INPUT_FORMATS", "to_rgb_array", "to_pixels", "open_image", "pillow_errors", "read_stream", "named_warnings"]

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_ORIENTATION = 0x0112  # the EXIF Orientation tag


#: The formats kmcodec reads, by content (never by file name): raster
#: formats decoded in-process.  Formats that hand the file to an external
#: program (EPS and PostScript run Ghostscript) or are rarely images
#: (scientific stubs, fonts, thumbnails) are left out, so a hostile file
#: cannot reach their parsers.
INPUT_FORMATS = (
    "PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP", "DIB", "AVIF", "JPEG2000",
    "PPM", "TGA", "PCX", "SGI", "QOI", "ICO", "ICNS", "KMC",
)


def _check_pixel_limit(size: tuple[int, int], what: str) -> None:
    limit = pixellimit.current()
    width, height = size
    if limit is not None and width * height > limit:
        raise PixelLimitError(
            f"{what}: width x height is {width} x {height} = {width * height} "
            f"pixels, above the limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS)"
        )


def _allowed() -> list[str]:
    Image.init()  # loads every plugin once; later calls return at once
    return [f for f in INPUT_FORMATS if f in Image.OPEN]


def _common_format(prefix: bytes) -> list[str] | None:
    """``["PNG"]`` or ``["JPEG"]`` when the file starts like one, else None.

    Those two need only Pillow's first plugins: loading every plugin
    (:func:`_allowed`) costs 0.1 s of each ``kmc encode``.
    """
    Image.preinit()
    for fmt in ("PNG", "JPEG"):
        accept = Image.OPEN[fmt][1] if fmt in Image.OPEN else None
        if accept is not None and accept(prefix):
            return [fmt]
    return None


def _sniff(prefix: bytes) -> str | None:
    """The format Pillow would take a file for, from its first 16 bytes only.

    Only the formats' signature tests run (no parser), so a format we refuse
    is named without being opened.
    """
    for fmt in Image.ID:
        accept = Image.OPEN[fmt][1]
        try:
            verdict = accept(prefix) if accept is not None else False
        except Exception:  # a signature test that fails is not a match
            continue
        if verdict and not isinstance(verdict, str):
            return fmt
    return None


#: The most read from a pipe or device given as an input (it is read whole
#: before decoding, since image parsers seek).
STREAM_LIMIT = 2 << 30


def read_stream(fh: BinaryIO, name: str) -> bytes:
    """All the bytes of a pipe, device or open file, up to :data:`STREAM_LIMIT`.

    Raises
    ------
    InputError
        If there are more.
    """
    data = fh.read(STREAM_LIMIT + 1)
    if len(data) > STREAM_LIMIT:
        raise InputError(f"{name}: the stream holds more than {STREAM_LIMIT} bytes, the most"
                         " kmcodec reads from a pipe or device")
    return data


def _source(path: str | os.PathLike | BinaryIO) -> tuple[str | io.BytesIO, bytes]:
    """What to hand Pillow for ``path``, and the file's first 16 bytes.

    A regular file is opened by name.  A pipe, device or open binary file is
    read once, whole (a FIFO cannot be opened twice), up to
    :data:`STREAM_LIMIT` bytes.
    """
    if not isinstance(path, (str, os.PathLike)):
        data = read_stream(path, stream_name(path))
        return io.BytesIO(data), data[:16]
    name = os.fspath(path)
    if stat.S_ISREG(os.stat(name).st_mode):
        with open(name, "rb") as fh:
            return name, fh.read(16)
    with open(name, "rb") as fh:
        data = read_stream(fh, name)
    return io.BytesIO(data), data[:16]


def stream_name(fh) -> str:
    """How messages name an open file: its ``name`` (``<stdin>``) or ``<stream>``."""
    name = getattr(fh, "name", None)
    return name if isinstance(name, str) else "<stream>"


@contextlib.contextmanager
def pillow_errors(name: str) -> Iterator[None]:
    """The one place where Pillow's failures on an input become InputError.

    Pillow's plugins raise many types on malformed data (SyntaxError,
    TypeError, KeyError, IndexError, NotImplementedError, struct.error,
    zlib.error, EOFError, ...); every call on an input image runs inside
    this block.  kmcodec's own errors, and real I/O errors (an ``OSError``
    with an errno: missing file, permissions), pass through unchanged.
    """
    try:
        with warnings.catch_warnings():
            # Above the limit is an error, also for an image found only while
            # decoding (an ICO's embedded PNG larger than its directory says).
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except KmcError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PixelLimitError(f"{name}: {_bomb_message(str(exc))}") from None
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise InputError(f"{name}: cannot read image: {exc}") from None
    except MemoryError:
        raise InputError(f"{name}: cannot read image: out of memory while decoding it") from None
    except Exception as exc:
        text = str(exc) or type(exc).__name__
        raise InputError(f"{name}: cannot read image: {text}") from None


#: Formats decoded by a C library that prints its complaints straight to
#: file descriptor 2 (libtiff), where they would break the CLI's one line.
_NATIVE_NOISY = {"TIFF"}


@contextlib.contextmanager
def _native_messages(name: str) -> Iterator[None]:
    """Turn what C code writes on file descriptor 2 into KmcWarnings."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(1 << 16).decode("utf-8", "replace")
            for line in dict.fromkeys(t.strip() for t in text.splitlines() if t.strip()):
                warnings.warn(f"{name}: {line}", KmcWarning, stacklevel=3)


def _bomb_message(text: str) -> str:
    # Pillow's words ("could be decompression bomb DOS attack") in ours.
    numbers = re.findall(r"\d+", text)
    if len(numbers) >= 2:
        return (f"the image has {numbers[0]} pixels, above the limit of {pixellimit.current()}"
                " (PIL.Image.MAX_IMAGE_PIXELS)")
    return text


def open_image(path: str | os.PathLike | BinaryIO) -> Image.Image:
    """Open and fully load an image file of one of :data:`INPUT_FORMATS`.

    ``path`` may also be a binary file object (standard input), read whole.

    Raises
    ------
    InputError
        If the file is not one of those formats (naming the format it is,
        when known) or cannot be decoded.
    PixelLimitError
        Above ``PIL.Image.MAX_IMAGE_PIXELS``, before the pixels are read.
    OSError
        For real I/O errors (missing file, permissions, a folder).
    """
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else stream_name(path)
    with pillow_errors(name):
        source, prefix = _source(path)
        try:
            im = Image.open(source, formats=_common_format(prefix) or _allowed())
        except UnidentifiedImageError:
            allowed = _allowed()
            found = _sniff(prefix)
            if found is not None and found not in allowed:
                raise InputError(
                    f"{name}: the image is {found}, which kmcodec does not read; it reads "
                    + ", ".join(allowed)
                ) from None
            raise InputError(
                f"{name}: cannot read image: its content is none of the formats kmcodec reads ("
                + ", ".join(allowed) + ")"
            ) from None
        try:
            _check_pixel_limit(im.size, name)
            _note_png_depth(im)
            if im.format in _NATIVE_NOISY:
                with _native_messages(name):
                    im.load()
            else:
                im.load()
        except BaseException:
            im.close()  # do not leak the file handle on failure
            raise
    return im


#: ``im.info`` key: the sample depth of a PNG whose tRNS colour key Pillow
#: keeps at that depth while it scales the pixels to 8 bits (16-bit RGB,
#: 2- and 4-bit grey).
_KEY_DEPTH = "kmcodec: tRNS key depth"
_KEY_RAWMODES = {"RGB;16B": 16, "L;2": 2, "L;4": 4}


def _note_png_depth(im: Image.Image) -> None:
    """Record the depth of a PNG's tRNS key while the undecoded tile says it."""
    tile = getattr(im, "tile", None)  # an ImageFile's, before it is loaded
    if im.format == "PNG" and "transparency" in im.info and tile:
        depth = _KEY_RAWMODES.get(str(tile[0].args).removesuffix("I"))
        if depth is not None:
            im.info[_KEY_DEPTH] = depth


def _keyed(im: Image.Image) -> Image.Image | None:
    """A tRNS colour key Pillow keeps at the PNG's depth, as alpha on its
    8-bit pixels; None when Pillow's own conversion is right.

    2- and 4-bit grey: the key is scaled as Pillow scaled the pixels.
    16-bit RGB: Pillow keeps each sample's high byte, so a pixel is taken
    as keyed when its high bytes are the key's; other 16-bit colours that
    share them become transparent too, and a warning says so.
    """
    key = im.info.get("transparency")
    depth = im.info.get(_KEY_DEPTH)
    if im.mode == "L" and isinstance(key, int) and depth in (2, 4):
        grey = np.asarray(im)
        alpha = np.where(grey == key * (255 // ((1 << depth) - 1)), 0, 255).astype(np.uint8)
        return Image.fromarray(np.dstack([grey, grey, grey, alpha]), "RGBA")
    if im.mode == "RGB" and isinstance(key, tuple) and (depth == 16 or max(key) > 255):
        warnings.warn(
            f"the 16-bit tRNS colour key {tuple(key)} is matched on the high byte of each sample"
            " (Pillow reads 16-bit RGB as 8 bits): other colours sharing those bytes are transparent too",
            KmcWarning,
            stacklevel=4,
        )
        rgb = np.asarray(im.convert("RGB"))
        alpha = np.where((rgb == np.array([v >> 8 for v in key], np.uint8)).all(2), 0, 255).astype(np.uint8)
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    return None


#: How the RGBA pixels of an image with transparency become what the caller
#: takes: kept (when any is not opaque), or put onto a background colour.
_Alpha = Callable[[np.ndarray], np.ndarray]
_WHITE = (255, 255, 255)


def to_rgb_array(image) -> np.ndarray:
    """Return the pixels of ``image`` as an (H, W, 3) uint8 array.

    For callers that take RGB only: transparency is composited onto white,
    with a :class:`~kmcodec.errors.KmcWarning` (the encoder keeps it: see
    :func:`to_pixels`).

    Parameters
    ----------
    image : PIL.Image.Image, str, os.PathLike, binary file or ndarray
        A Pillow image, the path of an image file in one of
        :data:`INPUT_FORMATS`, a binary file object holding one (read
        whole: standard input), or an array of shape (H, W, 3) and dtype
        uint8 (used as is).

    Returns
    -------
    ndarray of shape (H, W, 3), uint8, C-contiguous
        Read-only when it comes from a PIL image or a file.

    Raises
    ------
    ParameterError
        For an array of the wrong shape or dtype, or an unsupported type.
    InputError
        For a file Pillow cannot read or a mode that has no RGB meaning.
    PixelLimitError
        For an image above ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    return to_pixels(image, _WHITE, _composite_on_white)


def to_pixels(image, background: tuple[int, int, int] | None = None,
              flatten: _Alpha | None = None) -> np.ndarray:
    """The pixels of ``image``, with its transparency.

    Parameters
    ----------
    image : PIL.Image.Image, str, os.PathLike, binary file or ndarray
        As for :func:`to_rgb_array`; an array may also be (H, W, 4) RGBA.
    background : (R, G, B), optional
        Composite transparency onto this colour (no warning).

    Returns
    -------
    ndarray of shape (H, W, 3), or (H, W, 4) RGBA, uint8
        RGBA (straight alpha) when any pixel is not fully opaque and no
        ``background`` is given: every kind of alpha counts (an alpha
        channel, a palette's tRNS alphas, a tRNS colour key, 16-bit ones).
        An alpha channel that is 255 everywhere is dropped.
    """
    if flatten is None:
        flatten = _keep if background is None else (lambda rgba: _composite(rgba, background))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise ParameterError(
                f"image array has shape {image.shape} and dtype {image.dtype}; "
                "it must have shape (H, W, 3) or, with alpha, (H, W, 4), and dtype uint8"
            )
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ParameterError(f"image array has shape {image.shape}: no pixels")
        return flatten(image) if image.shape[2] == 4 else np.ascontiguousarray(image)
    if isinstance(image, (str, os.PathLike)) or _is_binary_file(image):
        name = os.fspath(image) if isinstance(image, (str, os.PathLike)) else stream_name(image)
        # Multi-frame files keep their handle open after load(); close it.
        with named_warnings(name), open_image(image) as im, pillow_errors(name):
            return _pil_pixels(im, flatten)
    if not isinstance(image, Image.Image):
        raise ParameterError(
            f"image is a {type(image).__name__}; expected a PIL image, a path or "
            "an (H, W, 3) or (H, W, 4) uint8 array"
        )
    with pillow_errors("image"):
        return _pil_pixels(image, flatten)


def _is_binary_file(obj) -> bool:
    return callable(getattr(obj, "read", None)) and not isinstance(obj, (Image.Image, np.ndarray))


@contextlib.contextmanager
def named_warnings(name: str) -> Iterator[None]:
    """KmcWarnings raised in the block say which file they are about.

    Each is re-issued once as ``"NAME: message"``, unless it names the file
    already; other warnings pass through unchanged.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        _reissue(caught, name)


def _reissue(caught: list[warnings.WarningMessage], name: str) -> None:
    seen = set()
    for w in caught:
        if issubclass(w.category, KmcWarning):
            text = str(w.message)
            text = text if text.startswith(f"{name}: ") else f"{name}: {text}"
            if text not in seen:
                seen.add(text)
                warnings.warn(text, KmcWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _pil_pixels(im: Image.Image, flatten: _Alpha) -> np.ndarray:
    _check_pixel_limit(im.size, "image")
    if im.width == 0 or im.height == 0:
        raise InputError(f"image is {im.width} x {im.height}: no pixels")
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        warnings.warn(
            f"input has {frames} frames; only frame {im.tell()} is encoded",
            KmcWarning,
            stacklevel=3,
        )
    if im.getexif().get(_ORIENTATION, 1) not in (None, 1):
        # Only when there is something to undo: exif_transpose copies the
        # whole image even when the orientation is already upright.
        im = ImageOps.exif_transpose(im)
    _note_png_depth(im)  # a PIL image passed in, not yet loaded
    keyed = _keyed(im)
    if keyed is not None:
        im = keyed
    mode = im.mode
    if (mode in ("P", "L", "RGB", "1") and "transparency" in im.info) or (
            mode == "P" and im.palette is not None and im.palette.mode == "RGBA"):
        # A tRNS palette entry or colour key is alpha too, and so is an RGBA
        # palette (Pillow's quantize of an RGBA image makes one).
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        try:
            # Pillow converts "La" (premultiplied grey) to RGBA only through LA.
            rgba = im if mode == "RGBA" else (im.convert("LA") if mode == "La" else im).convert("RGBA")
        except ValueError as exc:
            raise InputError(f"cannot convert image mode {mode!r} to RGBA: {exc}") from None
        return flatten(np.asarray(rgba))
    if mode in _SIXTEEN_BIT:
        grey = np.asarray(im).astype(np.int64)
        # Round to the nearest of 256 levels: v * 255 / 65535 = v / 257.
        grey8 = np.clip((grey + 128) // 257, 0, 255).astype(np.uint8)
        rgb = np.repeat(grey8[:, :, None], 3, axis=2)
        key = im.info.get("transparency")
        if isinstance(key, int):
            # A tRNS grey key: that exact 16-bit value is fully transparent.
            alpha = np.where(grey == key, 0, 255).astype(np.uint8)[:, :, None]
            return flatten(np.concatenate([rgb, alpha], axis=2))
        return np.ascontiguousarray(rgb)
    if mode == "F":
        raise InputError(
            "image mode is 'F' (32-bit float), which has no fixed range; "
            "convert it to 8 or 16 bits first"
        )
    try:
        converted = im if mode == "RGB" else im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot convert image mode {mode!r} to RGB: {exc}") from None
    # One copy out of Pillow, not two: the array is read-only, and nothing
    # downstream writes to it.
    return np.asarray(converted)


def _keep(rgba: np.ndarray) -> np.ndarray:
    if not (rgba[:, :, 3] < 255).any():  # an alpha channel that changes nothing
        return np.ascontiguousarray(rgba[:, :, :3])
    return np.ascontiguousarray(rgba)


def _composite(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """The pixels put onto ``background`` (:func:`kmcodec.alpha.composite`): (H, W, 3)."""
    if not (rgba[:, :, 3] < 255).any():
        return np.ascontiguousarray(rgba[:, :, :3])
    from .alpha import composite

    return composite(rgba, background)


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """For callers that take RGB only (``to_rgb_array``): onto white, saying so."""
    translucent = int(np.count_nonzero(rgba[:, :, 3] < 255))
    if translucent:
        warnings.warn(
            f"input has an alpha channel; {translucent:,} of {rgba[:, :, 3].size:,} pixels"
            f" {'is' if translucent == 1 else 'are'} not fully opaque and"
            f" {'was' if translucent == 1 else 'were'} composited onto white",
            KmcWarning,
            stacklevel=5,
        )
    return _composite(rgba, _WHITE)
