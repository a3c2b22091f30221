"""The codec API: images in, .kmc bytes out, and back.

Arguments are validated here, once; the modules below trust them.

>>> import numpy as np, kmcodec
>>> rng = np.random.default_rng(0)
>>> image = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
>>> data = kmcodec.encode(image, k=4, seed=0)
>>> len(data) == 32 + 3 * 4 + (4 * 6 * 2 + 7) // 8
True
>>> kmcodec.decode(data).shape
(4, 6, 3)
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass

import numpy as np

from . import container
from .atomicfile import atomic_output
from .clustering import ENGINES, quantize as _quantize
from .coder import get_coder
from .errors import ParameterError
from .images import to_rgb_array

__all__ = [
    "Quantized",
    "quantize",
    "encode",
    "decode",
    "decode_palette",
    "read",
    "write",
    "info",
    "expand",
    "k_for_bytes",
    "quantize_for_psnr",
    "quantize_auto",
]


@dataclass(frozen=True)
class Quantized:
    """An image reduced to a palette, before it is written as bytes.

    Attributes
    ----------
    palette : ndarray of shape (K, 3), uint8
    indices : ndarray of shape (H, W), uint8 or uint16
    iterations : int
        Lloyd iterations the clustering took (0 when none was needed).
    error : int
        Sum of squared differences between input and decoded image over all
        pixels and channels.
    """

    palette: np.ndarray
    indices: np.ndarray
    iterations: int
    error: int

    @property
    def mse(self) -> float:
        """Mean squared error per channel sample, 0-255 scale."""
        return self.error / (3 * self.indices.size)

    @property
    def shape(self) -> tuple[int, int]:
        return self.indices.shape

    def to_bytes(self, coder: str | int = "packed") -> bytes:
        """The .kmc file for this palette and these indices.

        ``coder`` is a registered coder's name or id (:func:`kmcodec.coder.coders`):
        "packed" (the formula, default) or "entropy" (smaller; spec section 11).
        """
        height, width = self.indices.shape
        return container.build(width, height, self.palette, self.indices, get_coder(coder))

    def write_to(self, fh, coder: str | int = "packed") -> int:
        """Write the .kmc file to the binary file ``fh``; return its size in bytes."""
        height, width = self.indices.shape
        return container.write(fh, width, height, self.palette, self.indices, get_coder(coder))

    def to_rgb(self) -> np.ndarray:
        """The decoded image: (H, W, 3) uint8."""
        return expand(self.palette, self.indices)


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} is {value!r}; it must be an integer")
    value = int(value)
    if value < low or (high is not None and value > high):
        rule = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ParameterError(f"{name} is {value}; it must be {rule}")
    return value


def _check_options(k, seed, n_init, engine, max_iter, tol) -> None:
    _check_int("k", k, 1, container.MAX_COLORS)
    _check_int("seed", seed, 0, 2**63 - 1)
    if n_init != "auto":
        _check_int("n_init", n_init, 1)
    _check_int("max_iter", max_iter, 1)
    if engine not in ENGINES:
        raise ParameterError(f"engine is {engine!r}; it must be one of {ENGINES}")
    if not isinstance(tol, numbers.Real) or not float(tol) >= 0:
        raise ParameterError(f"tol is {tol!r}; it must be a number >= 0")


def quantize(
    image,
    k: int = 16,
    seed: int = 0,
    *,
    n_init: int | str = "auto",
    engine: str = "kmeans",
    max_iter: int = 300,
    tol: float = 1e-4,
) -> Quantized:
    """Reduce an image to at most ``k`` colours by k-means.

    Parameters
    ----------
    image : PIL.Image.Image, str, os.PathLike or ndarray of shape (H, W, 3), uint8
    k : int, default 16
        Largest palette size, 1 to 65536.  An image with ``k`` or fewer
        distinct colours is kept exactly.
    seed : int, default 0
        Seeds every random choice: same image and seed, same result.
    n_init : int or "auto", default "auto"
        Independent k-means seedings; the best (lowest squared error) is
        kept.  "auto" is 3 for k <= 32, 2 for k <= 128 and 1 above, where
        restarts are cheap and small palettes most prone to poor optima.
    engine : {"kmeans", "sklearn"}, default "kmeans"
        kmcodec's own engine, or scikit-learn's ``KMeans``.
    max_iter : int, default 300
        Cap on Lloyd iterations per run.
    tol : float, default 1e-4
        Convergence tolerance, relative to the image's colour variance.

    Returns
    -------
    Quantized
    """
    _check_options(k, seed, n_init, engine, max_iter, tol)
    rgb = to_rgb_array(image)
    height, width, _ = rgb.shape
    result = _quantize(
        rgb.reshape(-1, 3),
        k,
        seed=seed,
        n_init=n_init,
        engine=engine,
        max_iter=max_iter,
        tol=float(tol),
    )
    return Quantized(
        result.palette, result.indices.reshape(height, width), result.iterations, result.error
    )


def encode(image, k: int = 16, seed: int = 0, *, coder: str = "packed", **options) -> bytes:
    """Encode an image as a .kmc file.

    Parameters
    ----------
    image : PIL.Image.Image, str, os.PathLike or ndarray of shape (H, W, 3), uint8
    k, seed, **options
        As for :func:`quantize`.
    coder : {"packed", "entropy"}, default "packed"
        How the indices are stored: bit-packed at ceil(log2 K) bits, or
        context-modelled arithmetic coding (usually several times smaller).

    Returns
    -------
    bytes
        With the packed coder, exactly ``32 + 3*K + ceil(H*W*ceil(log2 K)/8)``
        bytes, where K is the number of palette entries used (at most ``k``).
    """
    chosen = get_coder(coder)  # checked before the work
    return quantize(image, k, seed, **options).to_bytes(chosen.id)


def _as_buffer(data) -> memoryview:
    if isinstance(data, (str, os.PathLike)):
        raise ParameterError(
            f"data is a path ({os.fspath(data)!r}); decode takes the file's "
            "bytes: use kmcodec.read(path) for files"
        )
    try:
        view = memoryview(data)
    except TypeError:
        raise ParameterError(
            f"data is a {type(data).__name__}; expected bytes, bytearray or memoryview"
        ) from None
    if not view.c_contiguous:
        # A strided view or array: its bytes in order, copied once.
        view = memoryview(view.tobytes())
    return view.cast("B")


def decode_palette(data) -> tuple[np.ndarray, np.ndarray]:
    """Decode a .kmc file to its palette and index image.

    Returns
    -------
    palette : ndarray of shape (K, 3), uint8
    indices : ndarray of shape (H, W), uint8 or uint16
    """
    header, palette, indices = container.parse(_as_buffer(data))
    return palette, indices.reshape(header.height, header.width)


def decode(data) -> np.ndarray:
    """Decode a .kmc file to RGB pixels.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The whole file.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        See :func:`expand` for its memory layout.

    Raises
    ------
    FormatError
        If the bytes are not a valid .kmc file (the message names the field).
    PixelLimitError
        If width * height exceeds ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    palette, indices = decode_palette(data)
    return expand(palette, indices)


_EXPAND_CHUNK = 1 << 16  # pixels per np.take call: its index temporaries stay in cache


def expand(palette: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``palette[indices]``, fast: 4-byte table lookups in cache-sized chunks.

    Parameters
    ----------
    palette : ndarray of shape (K, 3), uint8
    indices : ndarray of shape (H, W), unsigned, every value < K

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        A view of an (H, W, 4) buffer (strides ``(4*W, 4, 1)``), since
        copying 4-byte pixels is twice as fast as copying 3-byte ones; use
        ``np.ascontiguousarray`` where packed rows are needed.
    """
    height, width = indices.shape
    rgbx = np.zeros((len(palette), 4), dtype=np.uint8)
    rgbx[:, :3] = palette
    table = rgbx.view(np.uint32).reshape(-1)
    out = np.empty((height, width, 4), dtype=np.uint8)
    flat_out = out.view(np.uint32).reshape(-1)
    flat_idx = indices.reshape(-1)
    for start in range(0, flat_idx.size, _EXPAND_CHUNK):
        stop = start + _EXPAND_CHUNK
        np.take(table, flat_idx[start:stop], out=flat_out[start:stop])
    return out[:, :, :3]


def info(data) -> container.KmcInfo:
    """Check a .kmc file's structure and checksum and describe it.

    Parameters
    ----------
    data : bytes-like, str or os.PathLike
        The file's bytes or its path.
    """
    if isinstance(data, (str, os.PathLike)):
        data = container.read_file(data)
    return container.info(_as_buffer(data))


def read(path: str | os.PathLike) -> np.ndarray:
    """Decode the .kmc file at ``path`` to an (H, W, 3) uint8 array."""
    return decode(container.read_file(path))


def write(
    path: str | os.PathLike,
    image,
    k: int = 16,
    seed: int = 0,
    *,
    overwrite: bool = False,
    coder: str = "packed",
    **options,
) -> container.KmcInfo:
    """Encode ``image`` into the file ``path``, atomically.

    Nothing is written unless encoding succeeds; an existing file is kept
    unless ``overwrite`` is true (``FileExistsError`` otherwise).

    Returns
    -------
    KmcInfo
        The description of the written file.
    """
    with atomic_output(path, overwrite) as fh:
        data = encode(image, k, seed, coder=coder, **options)
        fh.write(data)
    return container.info(data)


def k_for_bytes(width: int, height: int, max_bytes: int) -> int:
    """Largest K whose .kmc file (packed coder) fits in ``max_bytes``.

    The size depends only on width, height and K (``32 + 3K +
    ceil(N*ceil(log2 K)/8)``), so no encoding is needed: a binary search on
    that formula, which never decreases as K grows.

    Raises
    ------
    ParameterError
        If even K = 1 does not fit.
    """
    _check_int("width", width, 1, 2**32 - 1)
    _check_int("height", height, 1, 2**32 - 1)
    _check_int("max_bytes", max_bytes, 1)
    smallest = container.file_size(width, height, 1)
    if smallest > max_bytes:
        raise ParameterError(
            f"max_bytes is {max_bytes}; the smallest {width}x{height} file "
            f"(one colour) is {smallest} bytes"
        )
    lo, hi = 1, container.MAX_COLORS
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if container.file_size(width, height, mid) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


def quantize_for_psnr(image, target_psnr: float, seed: int = 0, **options) -> Quantized:
    """The smallest K whose decoded image reaches ``target_psnr`` dB.

    Searches, never sweeps: K doubles from 1 until the target is met (an
    image with no more than K colours is lossless, PSNR infinite), then a
    bisection between the last two K values finds the smallest that meets
    it, taking PSNR as growing with K.  About 2*log2(K) encodes.

    Raises
    ------
    ParameterError
        For a target that is not a positive number, or one that even
        K = 65536 does not reach.
    """
    from .metrics import psnr_from_mse

    if not isinstance(target_psnr, numbers.Real) or not 0 < target_psnr < float("inf"):
        raise ParameterError(f"target_psnr is {target_psnr!r}; it must be a positive number of dB")
    rgb = to_rgb_array(image)
    cache: dict[int, Quantized] = {}

    def reaches(k: int) -> bool:
        if k not in cache:
            cache[k] = quantize(rgb, k, seed, **options)
        return psnr_from_mse(cache[k].mse) >= target_psnr

    k = 1
    while not reaches(k):
        if k == container.MAX_COLORS:
            best = psnr_from_mse(cache[k].mse)
            raise ParameterError(
                f"target_psnr is {target_psnr} dB; even K = {k} gives only {best:.2f} dB"
            )
        k = min(2 * k, container.MAX_COLORS)
    lo, hi = k // 2 + 1, k
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid + 1
    return cache[hi]


def _check_coder(coder, max_bytes=None) -> None:
    name = get_coder(coder).name
    if max_bytes is not None and name != "packed":
        raise ParameterError(
            f"max_bytes is {max_bytes} with coder {name!r}: choosing K by size works"
            " with the packed coder only, whose size the formula gives exactly"
        )


def quantize_auto(image, k: int | None = None, seed: int = 0, *, target_psnr=None,
                  max_bytes=None, **options) -> Quantized:
    """:func:`quantize` with K given, or chosen by ``target_psnr`` or ``max_bytes``.

    At most one of ``target_psnr`` (see :func:`quantize_for_psnr`) and
    ``max_bytes`` (see :func:`k_for_bytes`) may be given; without either, K
    is ``k`` (default 16).
    """
    if target_psnr is not None and max_bytes is not None:
        raise ParameterError("give target_psnr or max_bytes, not both")
    rgb = to_rgb_array(image)
    if target_psnr is not None:
        return quantize_for_psnr(rgb, target_psnr, seed, **options)
    if max_bytes is not None:
        k = k_for_bytes(rgb.shape[1], rgb.shape[0], max_bytes)
    return quantize(rgb, 16 if k is None else k, seed, **options)
