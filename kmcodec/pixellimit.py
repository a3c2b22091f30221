"""The pixel limit in force: the caller's, for this thread or task only.

kmcodec refuses images above a pixel limit before allocating their pixels.
By default that is Pillow's ``PIL.Image.MAX_IMAGE_PIXELS``; a batch's
``max_pixels`` applies to its own tasks through a context variable, so that
tasks on a thread pool (or Dask's threaded workers) never change the limit
of the rest of the process.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from collections.abc import Iterator

__all__ = ["current", "pixel_limit"]

_UNSET = -1
_limit: ContextVar[int | None] = ContextVar("kmcodec_pixel_limit", default=_UNSET)


def current() -> int | None:
    """The limit now: this context's, else Pillow's (None: no limit)."""
    value = _limit.get()
    if value == _UNSET:
        from PIL import Image

        return Image.MAX_IMAGE_PIXELS
    return value


@contextlib.contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Use ``max_pixels`` (0: no limit; None: leave as it is) within the block."""
    if max_pixels is None:
        yield
        return
    token = _limit.set(max_pixels or None)
    try:
        yield
    finally:
        _limit.reset(token)
