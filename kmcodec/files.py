"""One file in, one file out: the work of ``kmc encode`` and ``kmc decode``.

Shared by the command line and by :mod:`kmcodec.batch`'s tasks, so that a
file gets the same checks, names and messages alone or in a folder.  A
source or destination is a path, or an open binary file (standard input and
output).  Files are written atomically (:func:`~kmcodec.atomicfile.atomic_output`)
and streams only once the output is complete
(:func:`~kmcodec.atomicfile.spooled_output`): a failure leaves nothing.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .atomicfile import atomic_output, spooled_output
from .errors import KmcWarning, ParameterError
from .options import EncodeOptions

__all__ = ["Report", "encoded_name", "decoded_name", "check_paths", "encode_file", "decode_file"]

#: A file to read or write: its path, or an open binary file.
Place = str | os.PathLike | BinaryIO


@dataclass(frozen=True)
class Report:
    """What one encode or decode did.

    ``bytes_out`` is the output's size (for a skipped encode, the size it
    would have had); ``colors``, ``mse`` and ``alpha`` (a palette with
    alpha; ``mse`` is then over premultiplied RGBA) are set by encodes only.
    """

    input: str
    output: str
    bytes_in: int
    bytes_out: int
    seconds: float
    width: int
    height: int
    description: str
    colors: int = 0
    mse: float | None = None
    skipped: bool = False
    alpha: bool = False


def encoded_name(path: str | os.PathLike) -> str:
    """The default .kmc name for an image: its suffix replaced (``a.png`` -> ``a.kmc``)."""
    return os.path.splitext(os.fspath(path))[0] + ".kmc"


def decoded_name(path: str | os.PathLike, fmt: str = "png") -> str:
    """The default image name for a .kmc file: the format's suffix appended.

    ``photo.kmc`` decodes to ``photo.kmc.png``, never ``photo.png``, which
    is likely the original the .kmc file was made from.
    """
    from .outputs import suffix_for

    return os.fspath(path) + suffix_for(fmt)


def _name(place: Place) -> str:
    if isinstance(place, (str, os.PathLike)):
        return os.fspath(place)
    from .images import stream_name

    return stream_name(place)


def _is_path(place: Place) -> bool:
    return isinstance(place, (str, os.PathLike))


def check_paths(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Check that ``src`` is a file that ``dst`` is not; return its size.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        For a missing input or a folder.
    ParameterError
        If ``dst`` is ``src`` (by any name or link).
    """
    if os.path.isdir(src):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", os.fspath(src))
    size = os.path.getsize(src)
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise ParameterError(f"{os.fspath(dst)}: the output would replace the input; choose another name")
    return size


@contextlib.contextmanager
def _output(dst: Place, overwrite: bool) -> Iterator[BinaryIO]:
    if _is_path(dst):
        with atomic_output(dst, overwrite) as fh:  # type: ignore[arg-type]
            yield fh
    else:
        with spooled_output(dst) as fh:  # type: ignore[arg-type]
            yield fh


def _input(src: Place) -> tuple[Place, int]:
    """The source to read, and its size; a stream is read whole first."""
    if _is_path(src):
        return src, os.path.getsize(src)  # type: ignore[arg-type]
    from .images import read_stream

    data = io.BytesIO(read_stream(src, _name(src)))  # type: ignore[arg-type]
    data.name = _name(src)  # messages name the stream
    return data, len(data.getbuffer())


class _Skip(Exception):
    """Raised inside the output block to drop a finished output."""


def encode_file(src: Place, dst: Place, options: EncodeOptions | None = None, *,
                overwrite: bool = False, skip_if_larger: bool = False) -> Report:
    """Encode the image ``src`` into the .kmc file ``dst``.

    Parameters
    ----------
    src : path or binary file
        An image in one of :data:`kmcodec.images.INPUT_FORMATS`.
    dst : path or binary file
        The .kmc file; an existing file is replaced only with ``overwrite``.
    options : EncodeOptions, optional
    skip_if_larger : bool, default False
        Write nothing when the .kmc file would be larger than ``src``; the
        report says ``skipped``.  Without it such a file is written, with a
        :class:`~kmcodec.errors.KmcWarning` saying so.

    Returns
    -------
    Report
    """
    from .codec import quantize_auto

    opts = options if options is not None else EncodeOptions()
    if _is_path(src) and _is_path(dst):
        check_paths(src, dst)  # type: ignore[arg-type]
    start = time.perf_counter()
    source, size_in = _input(src)
    name_in, name_out = _name(src), _name(dst)
    size = 0
    skipped = False
    try:
        with _output(dst, overwrite) as fh:
            q = quantize_auto(source, options=opts)
            size = q.write_to(fh, opts.coder, opts.raw_palette)
            if size > size_in and skip_if_larger:
                raise _Skip
    except _Skip:
        skipped = True
    if size > size_in and not skipped:
        warnings.warn(f"{name_out}: the .kmc file is larger than the input {name_in}"
                      f" ({size:,} bytes against {size_in:,})", KmcWarning, stacklevel=2)
    height, width = q.shape
    return Report(name_in, name_out, size_in, size, time.perf_counter() - start, width, height,
                  f"{opts.coder} coder", len(q.palette), q.mse, skipped, q.alpha)


def decode_file(src: Place, dst: Place, fmt: str | None = None, *, overwrite: bool = False,
                quality: int | None = None, background=None) -> Report:
    """Decode the .kmc file ``src`` into the image ``dst``.

    Parameters
    ----------
    src : path or binary file
    dst : path or binary file
    fmt : str, optional
        Output format by suffix or name (``"png"``, ``".webp"``); default:
        the suffix of ``dst``, which must then be a path with one.
    quality : int, optional
        For lossy outputs (:func:`kmcodec.outputs.save_options`).
    background : str or (R, G, B), optional
        For a file with alpha: composite it onto this colour (``"#rrggbb"``,
        a CSS colour name, or integers; :func:`kmcodec.alpha.parse_background`).
        Without it alpha is kept, and formats without alpha are refused.

    Raises
    ------
    ParameterError
        For a format kmcodec does not write, a quality it does not take or
        a colour that is none; before any work.
    NoAlphaError
        (a ParameterError) For a file with alpha, a format without it and
        no background.
    """
    from .outputs import output_format, save_options, write_image

    if fmt is None:
        suffix = os.path.splitext(_name(dst))[1] if _is_path(dst) else ""
        if not suffix:
            raise ParameterError(f"{_name(dst)}: no suffix names the output format; give the format")
        fmt = suffix
    out_format = output_format(fmt)
    save_options(out_format, quality)  # a bad quality is found before the work
    if background is not None:
        from .alpha import parse_background

        background = parse_background(background)
    if _is_path(src) and _is_path(dst):
        check_paths(src, dst)  # type: ignore[arg-type]
    start = time.perf_counter()
    if _is_path(src):
        source: Place = src
        size_in = os.path.getsize(src)  # type: ignore[arg-type]
    else:
        from .container import read_file

        data = read_file(src)  # no more than the header declares
        source, size_in = io.BytesIO(data), len(data)
    with _output(dst, overwrite) as fh:
        width, height, how = write_image(source, fh, out_format, quality, background)
        size = fh.tell()
    return Report(_name(src), _name(dst), size_in, size, time.perf_counter() - start, width, height, how)
