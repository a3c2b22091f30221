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

import os
from typing import TYPE_CHECKING, Any, BinaryIO, Union

import numpy as np

from . import container
from .atomicfile import atomic_output
from .clustering import quantize as _quantize_rgb
from .errors import ParameterError
from .images import to_pixels
from .options import MAX_COLORS, NAMES, EncodeOptions, check_int
from .quantized import Quantized, expand

if TYPE_CHECKING:
    from PIL import Image

#: What the encoding functions take as an image: a PIL image, a file's path,
#: a binary file object holding an image file (read whole), or an
#: (H, W, 3) uint8 array ((H, W, 4) with alpha).
ImageLike = Union["Image.Image", str, os.PathLike, BinaryIO, np.ndarray]
#: What the decoding functions take: a whole .kmc file's bytes.
Buffer = bytes | bytearray | memoryview

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
    "options_from",
    "k_for_bytes",
    "quantize_for_psnr",
    "quantize_for_bytes",
    "quantize_auto",
]


def _quantize(pixels: np.ndarray, opts: EncodeOptions) -> Quantized:
    """The engine for RGB pixels, or the alpha palette for RGBA (spec
    section 12); then dithering, if asked for."""
    if pixels.shape[2] == 4:
        from .alpha_palette import quantize_rgba

        q = quantize_rgba(pixels, opts)
    else:
        q = _quantize_rgb(pixels, opts)
    from .dither import dithered  # returns q itself without dithering

    height, width = pixels.shape[:2]
    return dithered(pixels, q, opts.dither, opts.dither_level, opts.space, opts.dither_rate,
                    opts.chroma(height, width), opts.mapped(height, width))


def options_from(options: EncodeOptions | None = None, **settings) -> EncodeOptions:
    """``options`` (default :class:`EncodeOptions`) with ``settings`` applied.

    ``settings`` given as None are left out, so that callers can pass their
    optional arguments straight through.  An unknown name is a
    ParameterError.
    """
    given = {name: value for name, value in settings.items() if value is not None}
    known = set(NAMES)
    unknown = sorted(set(given) - known)
    if unknown:
        raise ParameterError(
            f"option {unknown[0]!r} is not an encoder option; the options are {', '.join(sorted(known))}"
        )
    base = options if options is not None else EncodeOptions()
    if not isinstance(base, EncodeOptions):
        raise ParameterError(f"options is a {type(base).__name__}; expected kmcodec.EncodeOptions")
    return base.replace(**given) if given else base


def quantize(image: ImageLike, k: int | None = None, seed: int | None = None, *,
             options: EncodeOptions | None = None, **settings) -> Quantized:
    """Reduce an image to at most ``k`` colours by k-means.

    Parameters
    ----------
    image : PIL.Image.Image, str, os.PathLike or ndarray of shape (H, W, 3), uint8
        Or (H, W, 4) RGBA.  An image with transparency (any pixel not fully
        opaque) gives a (K, 4) palette, unless ``background`` is set.
    k, seed : int, optional
        Largest palette size and random seed (defaults 16 and 0, from
        :class:`EncodeOptions`).
    options : EncodeOptions, optional
        All the settings at once; ``k``, ``seed`` and ``settings`` given
        here override its fields.
    **settings
        Any other field of :class:`EncodeOptions` (``n_init``, ``engine``,
        ``init``, ``refine``, ``max_iter``, ``tol``, ``background``, ``space``, ``dither``,
        ``dither_level``, ``dither_rate``, ``dither_map``, ``smooth_weight``, ``chroma_weight``,
        ``perceptual``).

    Returns
    -------
    Quantized
        With K exactly ``k`` (or the number of distinct colours, if fewer);
        ``target_psnr`` and ``max_bytes`` are for :func:`quantize_auto`.
    """
    opts = options_from(options, k=k, seed=seed, **settings)
    return _quantize(to_pixels(image, opts.background), opts)


def encode(image: ImageLike, k: int | None = None, seed: int | None = None, *,
           options: EncodeOptions | None = None, **settings) -> bytes:
    """Encode an image as a .kmc file.

    Parameters
    ----------
    image : PIL.Image.Image, str, os.PathLike or ndarray of shape (H, W, 3), uint8
    k, seed, options, **settings
        As for :func:`quantize`; ``coder`` (default "packed": bit-packed at
        ceil(log2 K) bits; "entropy": context-modelled arithmetic coding,
        usually several times smaller; "mix": smaller again, slower to
        decode), ``raw_palette`` (default False: "entropy" and "mix" code the
        palette, format version 3, where that is smaller), and
        ``target_psnr`` or ``max_bytes`` to choose K (:func:`quantize_auto`).

    Returns
    -------
    bytes
        With the packed coder, exactly ``32 + 3*K + ceil(H*W*ceil(log2 K)/8)``
        bytes, where K is the number of palette entries used (at most ``k``);
        ``32 + 4*K + ...`` for an image with transparency (format version 2).
    """
    opts = options_from(options, k=k, seed=seed, **settings)
    return quantize_auto(image, options=opts).to_bytes(opts.coder, opts.raw_palette)


def _as_buffer(data: Any) -> memoryview:
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


def decode_palette(data: Buffer) -> tuple[np.ndarray, np.ndarray]:
    """Decode a .kmc file to its palette and index image.

    Returns
    -------
    palette : ndarray of shape (K, 3), uint8
        (K, 4), R, G, B, A, for a file with alpha (``kmcodec.info(data).alpha``).
    indices : ndarray of shape (H, W), uint8 or uint16
    """
    header, palette, indices = container.parse(_as_buffer(data))
    return palette, indices.reshape(header.height, header.width)


def decode(data: Buffer) -> np.ndarray:
    """Decode a .kmc file to RGB pixels, or RGBA for a file with alpha.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The whole file.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        Or (H, W, 4), R, G, B, A (straight, not premultiplied), for a file
        with alpha (``kmcodec.info(data).alpha``, format version 2).  See
        :func:`expand` for its memory layout.

    Raises
    ------
    FormatError
        If the bytes are not a valid .kmc file (the message names the field).
    PixelLimitError
        If width * height exceeds ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    palette, indices = decode_palette(data)
    return expand(palette, indices)


def _path(name: str, value) -> str | os.PathLike:
    """``value`` if it is a file path, else a ParameterError (bytes paths
    and file descriptors are not taken: one kind of name, one behaviour)."""
    if isinstance(value, (str, os.PathLike)) and not isinstance(os.fspath(value), bytes):
        if "\0" in os.fspath(value):
            raise ParameterError(f"{name} is {os.fspath(value)!r}; a path cannot hold a NUL character")
        return value
    raise ParameterError(f"{name} is a {type(value).__name__}; expected a path (str or os.PathLike)")


def info(data: Buffer | str | os.PathLike | BinaryIO) -> container.KmcInfo:
    """Check a .kmc file's structure and checksum and describe it.

    Parameters
    ----------
    data : bytes-like, str, os.PathLike or binary file
        The file's bytes, its path, or an open file (read no further than
        its header declares).
    """
    if isinstance(data, (str, os.PathLike)):
        data = container.read_file(_path("data", data))
    elif callable(getattr(data, "read", None)):
        data = container.read_file(data)  # type: ignore[arg-type]
    return container.info(_as_buffer(data))


def read(path: str | os.PathLike) -> np.ndarray:
    """Decode the .kmc file at ``path`` to an (H, W, 3) uint8 array ((H, W, 4) with alpha)."""
    return decode(container.read_file(_path("path", path)))


def write(path: str | os.PathLike, image: ImageLike, k: int | None = None, seed: int | None = None, *,
          overwrite: bool = False, options: EncodeOptions | None = None,
          **settings) -> container.KmcInfo:
    """Encode ``image`` into the file ``path``, atomically.

    Nothing is written unless encoding succeeds; an existing file is kept
    unless ``overwrite`` is true (:class:`~kmcodec.errors.OutputExistsError`
    otherwise).  Other arguments as for :func:`encode`.

    Returns
    -------
    KmcInfo
        The description of the written file.
    """
    opts = options_from(options, k=k, seed=seed, **settings)
    with atomic_output(_path("path", path), overwrite) as fh:
        data = encode(image, options=opts)
        fh.write(data)
    return container.info(data)


def k_for_bytes(width: int, height: int, max_bytes: int, alpha: bool = False) -> int:
    """Largest K whose .kmc file (packed coder) fits in ``max_bytes``.

    The size depends only on width, height and K (``32 + 3K +
    ceil(N*ceil(log2 K)/8)``, ``32 + 4K + ...`` with ``alpha``), so no
    encoding is needed: a binary search on that formula, which never
    decreases as K grows.

    Raises
    ------
    ParameterError
        If even K = 1 does not fit.
    """
    check_int("width", width, 1, 2**32 - 1)
    check_int("height", height, 1, 2**32 - 1)
    check_int("max_bytes", max_bytes, 1)
    smallest = container.file_size(width, height, 1, alpha)
    if smallest > max_bytes:
        raise ParameterError(
            f"max_bytes is {max_bytes}; the smallest {width}x{height} file "
            f"(one colour) is {smallest} bytes"
        )
    lo, hi = 1, container.MAX_COLORS
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if container.file_size(width, height, mid, alpha) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


def quantize_for_psnr(image: ImageLike, target_psnr: float, seed: int | None = None, *,
                      options: EncodeOptions | None = None, **settings) -> Quantized:
    """The smallest K whose decoded image reaches ``target_psnr`` dB.

    Searches, never sweeps: K doubles from 1 until the target is met (an
    image with no more than K colours is lossless, PSNR infinite), then a
    bisection between the last two K values finds the smallest that meets
    it, taking PSNR as growing with K.  About 2*log2(K) encodes.  Other
    arguments as for :func:`quantize`.

    Raises
    ------
    ParameterError
        For a target that is not a positive number, or one that even
        K = 65536 does not reach.
    """
    from .metrics import psnr_from_mse

    opts = options_from(options, seed=seed, target_psnr=target_psnr, **settings)
    rgb = to_pixels(image, opts.background)
    psnr: dict[int, float] = {}
    best: Quantized | None = None  # the smallest K that reaches the target so far

    def reaches(k: int) -> bool:
        nonlocal best
        if k not in psnr:
            q = _quantize(rgb, opts.replace(k=k, target_psnr=None))
            psnr[k] = psnr_from_mse(q.mse)
            if psnr[k] >= target_psnr and (best is None or len(q.palette) <= len(best.palette)):
                best = q
        return psnr[k] >= target_psnr

    k = 1
    while not reaches(k):
        if k == MAX_COLORS:
            raise ParameterError(
                f"target_psnr is {target_psnr} dB; even K = {k} gives only {psnr[k]:.2f} dB"
            )
        k = min(2 * k, MAX_COLORS)
    lo, hi = k // 2 + 1, k
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid + 1
    assert best is not None
    return best


#: How far above the bisection's answer :func:`quantize_for_bytes` looks
#: again, since file sizes are not monotone in K.
NEIGHBOURS = 2


def quantize_for_bytes(image: ImageLike, max_bytes: int, seed: int | None = None, *,
                       options: EncodeOptions | None = None, **settings) -> Quantized:
    """The largest K whose file, with the options' coder, fits in ``max_bytes``.

    With the packed coder the size is a formula in K (:func:`k_for_bytes`),
    so K is computed, and one encode is done.  Other coders' sizes are
    known only by coding, and they are not monotone in K (a larger palette
    can make more regular indices), so K is searched:

    1. K doubles from 1 while the file fits (stopping early when the image
       has fewer distinct colours than K: larger K change nothing);
    2. a bisection between the last K that fits and the first that does not;
    3. the :data:`NEIGHBOURS` K values above the answer are tried too, and
       the search goes on upward from any that fits.

    The answer is the largest K found to fit: about 2*log2(K) + 2 encodes.

    Raises
    ------
    ParameterError
        If even K = 1 does not fit.
    """
    opts = options_from(options, seed=seed, max_bytes=max_bytes, **settings)
    rgb = to_pixels(image, opts.background)
    height, width = rgb.shape[:2]
    if opts.coder == "packed":
        k = k_for_bytes(width, height, max_bytes, alpha=rgb.shape[2] == 4)
        return _quantize(rgb, opts.replace(k=k, max_bytes=None))
    sizes: dict[int, int] = {}
    best: tuple[int, Quantized] | None = None
    saturated = MAX_COLORS + 1  # the smallest K known to give every distinct colour

    def fits(k: int) -> bool:
        nonlocal best, saturated
        if k not in sizes:
            q = _quantize(rgb, opts.replace(k=k, max_bytes=None))
            if q.error == 0:  # every distinct colour kept (dithering may leave fewer entries than k)
                saturated = min(saturated, k)
            sizes[k] = len(q.to_bytes(opts.coder, opts.raw_palette))  # the very file encode writes
            if sizes[k] <= max_bytes and (best is None or k > best[0]):
                best = (k, q)
        return sizes[k] <= max_bytes

    if not fits(1):
        raise ParameterError(
            f"max_bytes is {max_bytes}; the smallest {width}x{height} file with coder"
            f" {opts.coder!r} (one colour) is {sizes[1]} bytes"
        )
    def limit() -> int:
        return min(MAX_COLORS, saturated)

    lo, hi = 1, 0  # lo fits; hi, once found, does not
    while lo < limit():
        k = min(2 * lo, limit())
        if not fits(k):
            hi = k
            break
        lo = k
    if hi:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
        k, misses = lo, 0
        while misses <= NEIGHBOURS and k < limit():
            k += 1
            misses = 0 if fits(k) else misses + 1
    assert best is not None
    return best[1]


def quantize_auto(image: ImageLike, k: int | None = None, seed: int | None = None, *,
                  options: EncodeOptions | None = None, **settings) -> Quantized:
    """:func:`quantize` with K given, or chosen by ``target_psnr`` or ``max_bytes``.

    With ``target_psnr`` (see :func:`quantize_for_psnr`) or ``max_bytes``
    (see :func:`quantize_for_bytes`) among the options, K is chosen;
    otherwise it is ``k``.
    """
    opts = options_from(options, k=k, seed=seed, **settings)
    rgb = to_pixels(image, opts.background)
    if opts.target_psnr is not None:
        return quantize_for_psnr(rgb, opts.target_psnr, options=opts)
    if opts.max_bytes is not None:
        return quantize_for_bytes(rgb, opts.max_bytes, options=opts)
    return _quantize(rgb, opts)
