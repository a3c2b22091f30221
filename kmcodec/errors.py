"""Exceptions and warnings raised by kmcodec.

Every error is a :class:`KmcError`, itself a :class:`ValueError`, so callers
can catch one class.  As in pypng, a bad *file* (:class:`FormatError`) is
kept apart from a caller's mistake (:class:`ParameterError`) and from an
input image that cannot be used (:class:`InputError`).  Messages name the
field, the value found and the rule it breaks.
"""

from __future__ import annotations

import errno

__all__ = [
    "KmcError",
    "FormatError",
    "UnsupportedFormatError",
    "PixelLimitError",
    "ParameterError",
    "InputError",
    "MissingDependencyError",
    "OutputExistsError",
    "KmcWarning",
]


class KmcError(ValueError):
    """Base class of every error kmcodec raises on purpose."""


class FormatError(KmcError):
    """The bytes are not a valid .kmc file (corrupt, truncated, forged)."""


class UnsupportedFormatError(FormatError):
    """A well-formed .kmc file uses a version or coder this reader lacks."""


class PixelLimitError(KmcError):
    """width * height exceeds ``PIL.Image.MAX_IMAGE_PIXELS``.

    Raised before any pixel memory is allocated.  Raise the limit (or set it
    to ``None``) only for files you trust.
    """


class ParameterError(KmcError):
    """An argument passed by the caller is invalid (e.g. ``k=0``)."""


class MissingDependencyError(ParameterError):
    """A setting needs an optional extra that is not installed.

    The message names the setting and the ``pip install`` that provides it.
    """


class InputError(KmcError):
    """An input image cannot be read or converted to RGB."""


class OutputExistsError(KmcError, FileExistsError):
    """The output file exists and overwriting was not allowed.

    Also a :class:`FileExistsError`, so ``except FileExistsError`` works.
    ``filename`` is the output's path.
    """

    def __init__(self, path: str) -> None:
        FileExistsError.__init__(self, errno.EEXIST, "file exists", path)

    def __str__(self) -> str:
        return f"{self.filename}: file exists"


class KmcWarning(UserWarning):
    """Something was changed silently, e.g. alpha composited onto white."""
