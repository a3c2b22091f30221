"""Coders: how a .kmc file stores its index image, behind one interface.

A coder turns the (H, W) index image into the file's payload and back.
Each is one module (:mod:`kmcodec.packed` is coder 0, :mod:`kmcodec.entropy`
coder 1) with one :class:`Coder` subclass, registered here by its header
id and name, the way numcodecs registers codecs.  The container, the API,
the command line (``--coder``, ``kmc info``), ``kmc compare`` and the
Pillow plugin find coders only through :func:`get_coder` and
:func:`coders`, so a new coder is one new module plus one line in
:func:`_load_builtin`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .errors import ParameterError, PixelLimitError

if TYPE_CHECKING:
    from .container import Header, KmcInfo

__all__ = ["Coder", "register", "get_coder", "coders", "fits_in_memory", "allocate_indices"]


class Coder(ABC):
    """One way of storing the indices; subclasses are registered singletons.

    Attributes
    ----------
    id : int
        The header's ``coder`` byte.
    name : str
        The name users give (``--coder NAME``, ``coder="NAME"``).
    compare_row : str
        The method name of this coder's row in ``kmc compare``.
    summary : str
        One line for ``--help``.
    """

    id: ClassVar[int]
    name: ClassVar[str]
    compare_row: ClassVar[str]
    summary: ClassVar[str]

    def check_header(self, header: Header) -> None:  # noqa: B027 (most coders have none)
        """Coder-specific header checks (after the common ones); FormatError."""

    @abstractmethod
    def encode(self, indices: np.ndarray, palette: np.ndarray) -> bytes | memoryview:
        """The payload for ``indices``, (H, W) uint8/uint16 below K, trusted."""

    @abstractmethod
    def decode(self, payload: memoryview, header: Header, palette: np.ndarray) -> np.ndarray:
        """The (H * W,) indices of a payload whose header passed every check.

        Raises FormatError for a malformed payload; an index that is not
        below K is a FormatError too.  Time and memory are bounded by the
        pixel count and the payload's size.
        """

    def layout(self, payload: memoryview, header: Header) -> dict[str, int]:
        """Cheap checks of the payload's structure, without decoding, and
        the numbers ``kmc info`` shows for it (``KmcInfo.details``)."""
        return {}

    def describe(self, meta: KmcInfo) -> list[tuple[str, str]]:
        """``kmc info``'s lines for the payload: (label, text) pairs."""
        n = meta.width * meta.height
        packed = -(-n * meta.bits_per_index // 8)
        share = f"{100 * meta.index_bytes / packed:.1f}% of packed" if packed else "packed is 0 bytes"
        return [("indices", (f"{meta.index_bytes:>12,} bytes  = "
                            f"{meta.index_bytes * 8 / n:.4f} bits/index ({share})"))]


_REGISTRY: dict[int, Coder] = {}


def register(coder: Coder) -> Coder:
    """Add a coder to the registry; its id and name must be new."""
    for other in _REGISTRY.values():
        if coder.id == other.id or coder.name == other.name:
            raise ValueError(f"coder {coder.name!r} (id {coder.id}) clashes with {other.name!r}")
    _REGISTRY[coder.id] = coder
    return coder


def _load_builtin() -> None:
    # Imported on first use, not at import: ``kmc info`` of a packed file
    # then loads only what it needs.  Either module may already have been
    # imported (and registered) by its user.
    from . import entropy, mix, packed  # noqa: F401  (each registers its coder on import)


def coders() -> list[Coder]:
    """Every registered coder, by id."""
    _load_builtin()
    return [_REGISTRY[i] for i in sorted(_REGISTRY)]


def get_coder(coder: str | int | Coder) -> Coder:
    """The coder given by name (``"entropy"``), id (``1`` or ``"1"``) or itself.

    Raises
    ------
    ParameterError
        For anything else, naming the coders there are.
    """
    if isinstance(coder, Coder):
        return coder
    _load_builtin()
    for known in _REGISTRY.values():
        if coder == known.name or (
            not isinstance(coder, bool) and coder in (known.id, str(known.id))
        ):
            return known
    names = ", ".join(f"{c.name!r} ({c.id})" for c in coders())
    raise ParameterError(f"coder is {coder!r}; it must be one of {names}")


def find_coder(coder_id: int) -> Coder | None:
    """The coder with header id ``coder_id``, or None if none is registered."""
    _load_builtin()
    return _REGISTRY.get(coder_id)


def fits_in_memory(nbytes: int) -> bool:
    """False when ``nbytes`` is more than this machine's physical memory.

    Virtual memory may be overcommitted, so ``np.empty`` of a forged size
    can succeed and decoding then runs for hours: such sizes are refused.
    """
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return True
    return nbytes <= ram


def too_big(header: Header) -> PixelLimitError:
    """The error for an image more than memory can hold."""
    return PixelLimitError(
        f"width x height is {header.width} x {header.height} = {header.pixels} pixels,"
        " more than this machine's memory can hold"
    )


def allocate_indices(header: Header) -> np.ndarray:
    """An empty (H, W) index array (uint8 for K <= 256, else uint16).

    Reached only within the pixel limit, or with the limit removed by the
    caller; then a forged size may still be more than memory: a
    PixelLimitError, never a MemoryError.
    """
    dtype = np.dtype(np.uint8 if header.colors <= 256 else np.uint16)
    if not fits_in_memory(header.pixels * dtype.itemsize):
        raise too_big(header)
    try:
        return np.empty((header.height, header.width), dtype)
    except (MemoryError, ValueError):  # ValueError: more than the address space
        raise too_big(header) from None
