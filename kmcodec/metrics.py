"""Image quality measures on 8-bit RGB: MSE, PSNR, SSIM and SSIMULACRA2.

MSE is the mean of squared differences over all pixels and all three
channels, on the 0-255 scale; PSNR is ``10 log10(255**2 / MSE)`` (infinite
for identical images).  SSIM is scikit-image's ``structural_similarity``
with its defaults (7x7 window, per channel, averaged).  SSIMULACRA2 is the
perceptual metric of JPEG XL's authors, computed by the ``ssimulacra2``
package: 100 for identical images, about 90 for "visually lossless", 70
for high, 50 for medium quality, lower (even negative) for worse.  Both
are optional dependencies: ``pip install "kmcodec[compare]"``.

Images with alpha, (H, W, 4) RGBA: MSE (so PSNR) is over the four
premultiplied values (R*A/255, G*A/255, B*A/255, A), where a difference
under low alpha counts as little as it shows and every fully transparent
pixel is the same; SSIM and SSIMULACRA2, defined on RGB, are taken on the
images composited onto black and onto white, and the worse of the two is
kept (as libjxl's ssimulacra2 tool does for images with alpha).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mse", "psnr", "ssim", "ssimulacra2", "psnr_from_mse", "METRICS", "METRIC_NAMES"]

#: The metrics ``kmc compare --metric`` can match on; all grow with quality.
METRICS = ("psnr", "ssim", "ssimulacra2")
#: How reports name them.
METRIC_NAMES = {"psnr": "PSNR", "ssim": "SSIM", "ssimulacra2": "SSIMULACRA2"}

_CHUNK = 1 << 20  # pixels per chunk, so that no full int32 copy is made


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two (H, W, 3) uint8 images; of the premultiplied
    values for two (H, W, 4) RGBA ones."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    if a.shape[-1] == 4:
        from .alpha import premultiplied

        fa, fb = a.reshape(-1, 4), b.reshape(-1, 4)
        sq = 0.0
        for start in range(0, len(fa), _CHUNK):
            d = premultiplied(fa[start : start + _CHUNK]) - premultiplied(fb[start : start + _CHUNK])
            sq += float(np.einsum("ij,ij->", d, d))
        return sq / fa.size
    a2, b2 = a.reshape(-1, 3), b.reshape(-1, 3)
    total = 0
    for start in range(0, len(a2), _CHUNK):
        d = a2[start : start + _CHUNK].astype(np.int32) - b2[start : start + _CHUNK]
        total += int(np.einsum("ij,ij->", d, d, dtype=np.int64))
    return total / a2.size


def psnr_from_mse(m: float) -> float:
    return math.inf if m == 0 else 10 * math.log10(255.0**2 / m)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` when the images are equal)."""
    return psnr_from_mse(mse(a, b))


def _on_backgrounds(metric):
    """``metric`` for RGBA images: the worse of its values on black and on white."""

    def measure(a: np.ndarray, b: np.ndarray) -> float:
        if a.shape[-1] != 4:
            return metric(a, b)
        from .alpha import composite

        scores = []
        for bg in ((0, 0, 0), (255, 255, 255)):
            flat = [composite(x, bg) for x in (a, b)]
            scores.append(metric(*flat))
        return float("nan") if any(math.isnan(v) for v in scores) else min(scores)

    measure.__doc__ = metric.__doc__
    measure.__name__ = metric.__name__
    return measure


@_on_backgrounds
def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two (H, W, 3) uint8 images (needs scikit-image)."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        raise ImportError(
            'SSIM needs scikit-image: pip install "kmcodec[compare]"'
        ) from None
    if min(a.shape[:2]) < 7:
        # The default 7x7 window does not fit; use the largest odd one that does.
        side = min(a.shape[:2])
        win = side if side % 2 else side - 1
        if win < 3:
            return 1.0 if np.array_equal(a, b) else float("nan")
        return float(structural_similarity(a, b, channel_axis=2, data_range=255, win_size=win))
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


@_on_backgrounds
def ssimulacra2(a: np.ndarray, b: np.ndarray) -> float:
    """SSIMULACRA2 score of ``b`` against the reference ``a``, two (H, W, 3) uint8 images.

    100 when they are equal; NaN when they differ but are smaller than the
    metric's smallest scale (8x8 pixels), where it says nothing.  Needs the
    ``ssimulacra2`` package.
    """
    try:
        from ssimulacra2 import compute_ssimulacra2
    except ImportError:
        raise ImportError('SSIMULACRA2 needs the ssimulacra2 package: pip install "kmcodec[compare]"') from None
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    if np.array_equal(a, b):
        return 100.0
    if min(a.shape[:2]) < 8:
        return float("nan")
    # The package reads images through Pillow; PPM is the cheapest lossless
    # way to hand it an array.
    return float(compute_ssimulacra2(_ppm(a), _ppm(b)))


def _ppm(rgb: np.ndarray):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PPM")
    buf.seek(0)
    return buf
